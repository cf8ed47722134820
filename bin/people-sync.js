#!/usr/bin/env node
// Runs the TypeScript sources directly (no build step): `people-sync serve`, `people-sync sync all --dry-run`, …
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
// Everything is closed by the time main returns (the service after its ordered shutdown);
// leftover timers must not keep the process alive.
process.exit(await main(process.argv.slice(2)));
