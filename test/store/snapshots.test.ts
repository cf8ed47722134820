import { afterEach, describe, expect, it } from 'vitest';
import { createTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { createSnapshotsRepo } from '../../src/store/snapshots-repo.js';

const yaml = `
integrations:
  - id: hr
    name: HR
    kind: pull
    provider: file
    options: { path: export.json }
`;
const doc = (n: number) =>
  JSON.stringify({ employees: Array.from({ length: n }, (_, i) => ({ external_id: `E${i}`, email: `p${i}@example.com`, first_name: `P${i}` })) });

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('snapshot retention', () => {
  it('pruning a snapshot removes its rows with it; the run keeps its results and counts', async () => {
    t = await createTestRuntime({ integrations: yaml, files: { 'export.json': doc(3) } });
    const old = await t.sync({ integration: 'hr', mode: 'full' });
    const recent = await t.sync({ integration: 'hr', mode: 'full' });
    const rows = async (id: number | null) => (await t!.rt.sql`SELECT count(*)::int AS n FROM snapshot_rows WHERE snapshot_id = ${id}`)[0]!.n;
    expect(await rows(old.snapshot_id)).toBe(3);
    await t.rt.sql`UPDATE snapshots SET created_at = now() - interval '40 days' WHERE id = ${old.snapshot_id}`;

    expect(await createSnapshotsRepo(t.rt.sql).prune(30)).toBe(1);

    expect(await rows(old.snapshot_id)).toBe(0);
    expect(await rows(recent.snapshot_id)).toBe(3);
    const after = await t.rt.store.runs.get(old.id);
    expect(after).toMatchObject({ snapshot_id: null, counts: { employees: { created: 3 } } });
    const created = await t.rt.store.runs.records(after!, { status: 'created', limit: 10 });
    expect(created.items.map((r) => r.external_id).sort()).toEqual(['E0', 'E1', 'E2']);
  });

  it('deleting a run deletes its per-record results with it, and no other run\'s', async () => {
    t = await createTestRuntime({ integrations: yaml, files: { 'export.json': doc(3) } });
    const first = await t.sync({ integration: 'hr', mode: 'full' });
    t.write('export.json', doc(5));
    const second = await t.sync({ integration: 'hr', mode: 'full' });
    const results = async (id: number) => (await t!.rt.sql`SELECT count(*)::int AS n FROM run_records WHERE run_id = ${id}`)[0]!.n;
    expect([await results(first.id), await results(second.id)]).toEqual([3, 2]);

    await t.rt.sql`DELETE FROM sync_runs WHERE id = ${first.id}`;

    expect([await results(first.id), await results(second.id)]).toEqual([0, 2]);
  });
});
