export const handler = async (event: { name?: string }) => {
  return `Hello, ${event.name ?? 'world'}!`;
};
