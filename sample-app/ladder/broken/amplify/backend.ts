import { defineBackend } from '@aws-amplify/backend';
import { CfnResource } from 'aws-cdk-lib';

/** Not a rung: a backend with a resource the world cannot create, to see how a failure reads. */
const backend = defineBackend({});
new CfnResource(backend.createStack('broken'), 'Broken', {
  type: 'Custom::AmplifyDynamoDBTable',
  properties: { ServiceToken: 'arn:aws:lambda:us-east-1:222222222222:function:none' },
});
