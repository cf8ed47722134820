import nock from 'nock';
import { afterEach } from 'vitest';

// The outside world is held still: only loopback may be reached from tests.
nock.disableNetConnect();
nock.enableNetConnect(/^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/);

afterEach(() => {
  nock.cleanAll();
});
