"""The local AWS world: the server (moto plus the Amplify emulator), its control API and client, faults,
seeding, the CloudFormation overlay and what Gen 2 stacks need from it, and status events."""
