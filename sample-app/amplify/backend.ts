import { defineBackend } from '@aws-amplify/backend';

/**
 * A backend with no resources: enough for `ampx pipeline-deploy` to synthesize the branch stack
 * (with its branch-linker custom resource) and reach the CDK bootstrap check.
 *
 * There is deliberately no amplify/tsconfig.json: without one ampx skips its type check, which
 * takes about a minute on a 2-core machine and proves nothing about the provider.
 */
defineBackend({});
