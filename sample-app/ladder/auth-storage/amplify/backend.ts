import { defineBackend } from '@aws-amplify/backend';
import { auth } from './auth/resource.js';
import { storage } from './storage/resource.js';

/** Rung 3 of the ladder: auth and an S3 bucket with per-path access for guests and users. */
defineBackend({ auth, storage });
