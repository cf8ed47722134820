#!/usr/bin/env node
// Runs a TypeScript entry point of this repository: `node bin/run-ts.js bench/run.ts --size 10000`.
import { register } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

register();
const [entry, ...rest] = process.argv.slice(2);
process.argv = [process.argv[0], entry, ...rest];
await import(pathToFileURL(resolve(entry)).href);
