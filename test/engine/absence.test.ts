import { describe, expect, it } from 'vitest';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';

/** Records a full data set no longer names are terminated, and their results come in a fixed order. */

const yaml = fileIntegration();
const rt = runtimePerTest();
const emp = (id: string) => ({ external_id: id, email: `${id.toLowerCase()}@example.com`, first_name: id });

describe('absent from a full data set', () => {
  it('the absent records’ results follow the data set’s rows by external id, not in the order they were stored', async () => {
    // Stored (and linked) in the reverse of their ids' order, so a scan of the links meets them E5 first.
    const stored = ['E5', 'E4', 'E3', 'E2', 'E1'].map(emp);
    const t = await rt.start({ integrations: yaml, files: { 'export.json': JSON.stringify({ employees: stored }) } });
    expect((await t.sync({ integration: 'hr', mode: 'full' })).status).toBe('completed');
    t.write('export.json', JSON.stringify({ employees: [emp('E1'), emp('E6')] }));
    const run = await t.sync({ integration: 'hr', mode: 'full', dryRun: true });
    const results = await t.rt.sql`SELECT external_id, status FROM run_records WHERE run_id = ${run.id} ORDER BY id`;
    expect(results.map((r) => `${r.external_id} ${r.status}`)).toEqual(['E6 created', 'E2 terminated', 'E3 terminated', 'E4 terminated', 'E5 terminated']);
  });
});
