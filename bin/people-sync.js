#!/usr/bin/env node
// Runs the TypeScript sources directly (no build step): `people-sync serve`, `people-sync sync all --dry-run`, …
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
