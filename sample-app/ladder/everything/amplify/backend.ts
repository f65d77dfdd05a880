import { defineBackend } from '@aws-amplify/backend';
import { auth } from './auth/resource.js';
import { data } from './data/resource.js';
import { sayHello } from './functions/say-hello/resource.js';
import { storage } from './storage/resource.js';

/** Rung 6 of the ladder: auth, data, storage and a function in one backend. */
defineBackend({ auth, data, storage, sayHello });
