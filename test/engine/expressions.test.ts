import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';
import { fileIntegration, runtimePerTest } from '../helpers/file-integration.js';
import { loadConfig } from '../../src/config.js';

/** Mapping values that start with "=" are JSONata expressions over the source record. */

const yaml = (mapping: string) => fileIntegration(`    mapping:\n${mapping}`);
const mapping = `      external_id: "{{id}}"
      email: "=$lowercase($trim(workEmail))"
      display_name: "=preferredName ? preferredName & ' ' & lastName : firstName & ' ' & lastName"
      location: "=$lookup({'AMS': 'Amsterdam', 'BER': 'Berlin'}, officeCode)"
      start_date: "=$fromMillis($toMillis(hireDate, '[D01]/[M01]/[Y0001]'), '[Y0001]-[M01]-[D01]')"
      employee_number: "=$string($number(badge))"`;

const source = [
  { id: 'W1', workEmail: '  Ana.Silva@Example.COM ', firstName: 'Ana', lastName: 'Silva', preferredName: 'Annie', officeCode: 'AMS', hireDate: '06/01/2020', badge: '0042', team: 'Core' },
  { id: 'W2', workEmail: 'bo@example.com', firstName: 'Bo', lastName: 'Li', officeCode: 'BER', hireDate: '31/12/2021', badge: 7 },
  { id: 'W3', workEmail: 'cy@example.com', firstName: 'Cy', lastName: 'Ng', officeCode: 'XXX', hireDate: 'not a date', badge: 'B-12' },
];

const rt = runtimePerTest();

describe('expression mappings', () => {
  it('shapes fields with JSONata; a failing expression fails its record alone, naming the field and the expression', async () => {
    const t = await rt.start({ integrations: yaml(mapping), files: { 'export.json': JSON.stringify({ employees: source }) } });
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.status).toBe('warning');
    const rows = await t.rt.sql`SELECT email, display_name, location, start_date::text AS start_date, employee_number, attributes FROM employees ORDER BY email`;
    expect(rows).toEqual([
      { email: 'ana.silva@example.com', display_name: 'Annie Silva', location: 'Amsterdam', start_date: '2020-01-06', employee_number: '42', attributes: { team: 'Core' } },
      { email: 'bo@example.com', display_name: 'Bo Li', location: 'Berlin', start_date: '2021-12-31', employee_number: '7', attributes: {} },
    ]);
    const [failed] = (await t.rt.store.runs.records(run, { status: 'failed', limit: 5 })).items;
    expect(failed!.external_id).toBe('W3');
    expect(failed!.errors).toEqual([
      { field: 'employee_number', message: 'expression =$string($number(badge)) failed: Unable to cast value to a number: "B-12"' },
    ]);
    // The same export again: nothing to do.
    const again = await t.sync({ integration: 'hr', mode: 'full' });
    expect(again.counts.employees).toMatchObject({ unchanged: 2, failed: 1 });
  });

  it('reads NDJSON lines through expressions too, in order, and knows an unchanged line the next time', async () => {
    const nd = (rows: typeof source) => rows.map((r) => JSON.stringify({ entity: 'employee', ...r })).join('\n') + '\n';
    const t = await rt.start({ integrations: yaml(mapping).replace('export.json', 'export.ndjson'), files: { 'export.ndjson': nd(source) } });
    const run = await t.sync({ integration: 'hr', mode: 'full' });
    expect(run.counts.employees).toMatchObject({ created: 2, failed: 1 });
    const seqs = await t.rt.sql`SELECT seq, external_id FROM snapshot_rows WHERE snapshot_id = ${run.snapshot_id} ORDER BY seq`;
    expect(seqs.map((r) => r.external_id)).toEqual(['W1', 'W2', 'W3']);
    t.write('export.ndjson', nd([source[0]!, { ...source[1]!, officeCode: 'AMS' }, source[2]!]));
    const again = await t.sync({ integration: 'hr', mode: 'full' });
    expect(again.counts.employees).toMatchObject({ unchanged: 1, updated: 1, failed: 1 });
    const [bo] = await t.rt.sql`SELECT location FROM employees WHERE email = 'bo@example.com'`;
    expect(bo!.location).toBe('Amsterdam');
  });

  it('an expression that never ends fails its record alone, and the worker goes on meanwhile', async () => {
    // JSONata evaluates asynchronously: without limits, either of these holds the event loop for ever.
    const endless = `      external_id: "{{id}}"
      email: "{{workEmail}}"
      display_name: "=($f := function($n) { $n + $f($n + 1) }; loop ? $f(0) : firstName)"
      job_title: "=spin ? $string($reduce([1..999999], function($a, $b) { $a + $b })) : 'Engineer'"`;
    const rows = [
      { id: 'L1', workEmail: 'ana@example.com', firstName: 'Ana' },
      { id: 'L2', workEmail: 'bo@example.com', firstName: 'Bo', loop: true },
      { id: 'L3', workEmail: 'cy@example.com', firstName: 'Cy', spin: true },
    ];
    const t = await rt.start({ integrations: yaml(endless), files: { 'export.json': JSON.stringify({ employees: rows }) } });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 50);
    const started = Date.now();
    const run = await t.sync({ integration: 'hr', mode: 'full' }).finally(() => clearInterval(timer));
    expect(Date.now() - started).toBeLessThan(15_000);
    // The spinning record's second passed with timers still firing around it.
    expect(ticks).toBeGreaterThan(0);
    expect(run.counts.employees).toMatchObject({ created: 1, failed: 2 });
    const failed = (await t.rt.store.runs.records(run, { status: 'failed', limit: 5 })).items;
    const byId = Object.fromEntries(failed.map((r) => [r.external_id, r.errors]));
    expect(byId.L2).toEqual([{ field: 'display_name', message: expect.stringMatching(/^expression =\(\$f := .* failed: Stack overflow\. Check for non-terminating recursive function/) }]);
    expect(byId.L3).toEqual([{ field: 'job_title', message: expect.stringMatching(/^expression =spin \? .* failed: Evaluation timeout after 1000 milliseconds\. Check for infinite loop$/) }]);
    const [ana] = await t.rt.sql`SELECT display_name, job_title FROM employees`;
    expect(ana).toEqual({ display_name: 'Ana', job_title: 'Engineer' });
  });

  it('a bad expression stops start-up naming the integration and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-expr-'));
    writeFileSync(join(dir, 'export.json'), '[]');
    writeFileSync(join(dir, 'integrations.yml'), yaml(`      email: "=$lowercase((workEmail)"`));
    expect(() => loadConfig({ INTEGRATIONS_FILE: join(dir, 'integrations.yml') })).toThrow(/hr.*mapping\.email: is not a valid JSONata expression: .*\(at character \d+\)/s);
  });
});
