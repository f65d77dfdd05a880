import { defineBackend } from '@aws-amplify/backend';

/**
 * A backend with no resources: enough for `ampx pipeline-deploy` to synthesize the branch stack
 * (with its branch-linker custom resource) and reach the CDK bootstrap check.
 */
defineBackend({});
