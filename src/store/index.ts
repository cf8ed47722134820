import type { Sql } from './db.js';
import { createRunsRepo } from './runs-repo.js';
import { createStateRepo } from './state-repo.js';
import { createSnapshotsRepo } from './snapshots-repo.js';
import { createSchedulesRepo } from './schedules-repo.js';
import { createDeliveriesRepo } from './deliveries-repo.js';
import { createOutboxRepo } from './outbox-repo.js';
import { createPeopleRepo } from './people-repo.js';
import { createEventsRepo } from './events-repo.js';

/**
 * Every repository over one `sql` instance. Built once by the composition root
 * (src/runtime.ts) and passed down to the engine, the service, the jobs and the
 * surfaces, so a test that replaces one repository function sees it everywhere.
 */
export function createStore(sql: Sql) {
  return {
    runs: createRunsRepo(sql),
    state: createStateRepo(sql),
    snapshots: createSnapshotsRepo(sql),
    schedules: createSchedulesRepo(sql),
    deliveries: createDeliveriesRepo(sql),
    outbox: createOutboxRepo(sql),
    people: createPeopleRepo(sql),
    events: createEventsRepo(sql),
  };
}

export type Store = ReturnType<typeof createStore>;
