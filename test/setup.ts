import nock from 'nock';
import { relative } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { watchForFreeze } from './helpers/freeze-watch.js';

// The outside world is held still: only loopback may be reached from tests.
nock.disableNetConnect();
nock.enableNetConnect(/^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/);

// A file whose thread blocks for good is reported and ended, not left to hold the run for ever.
const freeze = watchForFreeze(relative(process.cwd(), expect.getState().testPath ?? 'a test file'));

beforeEach((ctx) => {
  freeze.at(`in the test "${ctx.task.name}"`);
});

afterEach((ctx) => {
  nock.cleanAll();
  freeze.at(`in the hooks after the test "${ctx.task.name}"`);
});
