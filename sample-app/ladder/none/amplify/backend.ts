import { defineBackend } from '@aws-amplify/backend';

/** Rung 1 of the ladder: no resources, only the branch stack and its branch-linker custom resource. */
defineBackend({});
