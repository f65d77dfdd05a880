import { defineStorage } from '@aws-amplify/backend';

export const storage = defineStorage({
  name: 'ladderFiles',
  access: (allow) => ({
    'public/*': [allow.guest.to(['read']), allow.authenticated.to(['read', 'write', 'delete'])],
  }),
});
