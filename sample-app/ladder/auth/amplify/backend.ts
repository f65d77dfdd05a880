import { defineBackend } from '@aws-amplify/backend';
import { auth } from './auth/resource.js';

/** Rung 2 of the ladder: a Cognito user pool, its web client, an identity pool and its roles. */
defineBackend({ auth });
