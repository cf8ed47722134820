import nock from 'nock';
import { relative } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { watchForFreeze } from './helpers/freeze-watch.js';

// The outside world is held still: only loopback may be reached from tests.
nock.disableNetConnect();
nock.enableNetConnect(/^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/);

// A file whose thread blocks for good is reported and ended, not left to hold the run for ever.
const freeze = watchForFreeze(relative(process.cwd(), expect.getState().testPath ?? 'a test file'));

// After-hooks run in reverse order, so this one runs after the file's own: until it has, the test
// or one of those hooks is what runs.
beforeEach((ctx) => {
  freeze.at(`in the test "${ctx.task.name}" or its hooks`);
});

afterEach((ctx) => {
  nock.cleanAll();
  freeze.at(`in the hooks after the test "${ctx.task.name}"`);
});
