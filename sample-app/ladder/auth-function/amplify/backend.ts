import { defineBackend } from '@aws-amplify/backend';
import { auth } from './auth/resource.js';
import { sayHello } from './functions/say-hello/resource.js';

/** Rung 5 of the ladder: auth and a Lambda function bundled from TypeScript. */
defineBackend({ auth, sayHello });
