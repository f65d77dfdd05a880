import { defineBackend } from '@aws-amplify/backend';
import { auth } from './auth/resource.js';
import { data } from './data/resource.js';

/** Rung 4 of the ladder: auth and an AppSync API over one DynamoDB-backed model. */
defineBackend({ auth, data });
