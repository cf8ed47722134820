import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { churn, everyNth, generate, rowsOf, toNdjson, type DataSet } from '../../bench/data.js';
import { copyText } from '../../bench/floors.js';
import { tabulate, type ScenarioRow } from '../../bench/report.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const ids = (d: DataSet) => new Map(d.employees.map((e) => [e.external_id, JSON.stringify(e)]));

describe('bench data', () => {
  it('is the same bytes every time, and churn changes 1 %, adds 0.5 % and drops 0.5 % of employees', () => {
    expect(toNdjson(generate(1000).base)).toBe(toNdjson(generate(1000).base));
    const g = generate(1000);
    const before = ids(g.base);
    const after = ids(churn(g));
    const added = [...after.keys()].filter((k) => !before.has(k));
    const gone = [...before.keys()].filter((k) => !after.has(k));
    const changed = [...after].filter(([k, v]) => before.has(k) && before.get(k) !== v);
    expect([changed.length, added.length, gone.length]).toEqual([10, 5, 5]);
  });

  it('samples every n-th record of each entity, the first included', () => {
    const g = generate(1000).base;
    const s = everyNth(g, 5);
    expect([s.employees.length, s.employments.length, s.org_units.length]).toEqual([200, 200, Math.ceil(g.org_units.length / 5)]);
    expect(s.employees[1]).toBe(g.employees[5]);
    expect(everyNth(g, 1)).toEqual(g);
  });

  it("F3's text holds a link and a result for every record", () => {
    const d = generate(200).base;
    const t = copyText(d);
    const lines = (chunks: string[]) => chunks.join('').split('\n').filter(Boolean);
    expect(lines(t.record_links)).toHaveLength(rowsOf(d));
    expect(lines(t.run_records)).toHaveLength(rowsOf(d));
    expect(lines(t.record_links)[0]!.split('\t')).toHaveLength(6);
  });
});

describe('bench report', () => {
  it('compares each scenario with the median of F1 and of the B1 row it names', () => {
    const rows: ScenarioRow[] = [
      { id: 'F1', name: 'F1', rows: 100, times: [2, 1, 3], written: null, vsF1: true },
      { id: 'B1-full', name: 'B1', rows: 100, times: [60], written: null, vsF1: true },
      { id: 'S-steady', name: 'steady', rows: 100, times: [3, 4, 2.5], written: { inserted: 0, updated: 0, hot: 0 }, vsF1: true, b1: 'B1-full', pairedF1: [2.5, 2.4, 2.6] },
    ];
    const t = tabulate(rows);
    const col = (name: string) => t.header.indexOf(name);
    const steady = t.lines[2]!;
    expect(steady[col('s (median)')]).toBe('3.00');
    expect(steady[col('× F1')]).toBe('1.50× (1.20× the F1 run beside it, 2.50 s)');
    expect(t.lines[1]![col('× F1')]).toBe('30.00×');
    expect(steady[col('B1 ÷ this')]).toBe('20.0×');
    expect(steady[col('rows written (ins / upd)')]).toBe('0 / 0');
  });
});

describe('npm run bench', () => {
  it('refuses --pair-f1 naming something that is not a sync scenario, before starting anything', async () => {
    const { code, err } = await new Promise<{ code: number | null; err: string }>((done, fail) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin/run-ts.js'), join(ROOT, 'bench/run.ts'), '--size', '100', '--pair-f1', 'S-steady,P-push'], {
        cwd: ROOT,
        env: { ...process.env, BENCH_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      child.on('error', fail);
      child.on('exit', (c) => done({ code: c, err }));
    });
    expect(code).toBe(1);
    expect(err).toContain('--pair-f1: P-push is not a sync scenario');
  });

  it('runs every kind of scenario end to end at a small size, and unchanged rows write nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-bench-test-'));
    const out = join(dir, 'out.json');
    try {
      const args = ['--size', '100', '--reps', '1', '--warmup', '0', '--only', 'F1,F3,B1-full,S-steady,S-churn,R-recent,P-push', '--json', out];
      const code = await new Promise<number | null>((done, fail) => {
        const child = spawn(process.execPath, [join(ROOT, 'bin/run-ts.js'), join(ROOT, 'bench/run.ts'), ...args], {
          cwd: ROOT,
          env: { ...process.env, BENCH_DATABASE_URL: inject('databaseUrl') },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-4000)));
        child.on('error', fail);
        child.on('exit', (c) => (c === 0 ? done(c) : fail(new Error(`bench exited ${c}: ${err}`))));
      });
      expect(code).toBe(0);
      const { rows } = JSON.parse(readFileSync(out, 'utf8')) as { rows: ScenarioRow[] };
      const byId = new Map(rows.map((r) => [r.id, r]));
      expect([...byId.keys()]).toEqual(['F1', 'F3', 'B1-full', 'S-steady', 'S-churn', 'R-recent', 'P-push']);
      for (const r of rows) expect(r.times.length === 1 && r.times[0]! > 0, r.id).toBe(true);
      expect(byId.get('F3')!.written).toMatchObject({ inserted: 203, updated: 0 });
      expect(byId.get('B1-full')!.note).toMatch(/every 5th record timed \(41\)/);
      expect(byId.get('S-steady')).toMatchObject({ written: { inserted: 0, updated: 0 }, counts: 'unchanged 203' });
      // F1 ran beside steady state, once per repetition; nowhere else by default.
      expect(byId.get('S-steady')!.pairedF1).toHaveLength(1);
      expect(rows.filter((r) => r.pairedF1).map((r) => r.id)).toEqual(['S-steady']);
      // 1 changed, 1 new with its employment, 1 leaver: 2 rows inserted, 2 updated and 2 terminated.
      const churned = { written: { inserted: 2, updated: 4 }, counts: 'created 2, updated 2, unchanged 199, terminated 2' };
      expect(byId.get('S-churn')).toMatchObject(churned);
      expect(byId.get('P-push')).toMatchObject(churned);
      expect(byId.get('P-push')!.peaksBytes![0]).toBeGreaterThan(0);
      expect(byId.get('R-recent')).toMatchObject({ rows: 10, written: { inserted: 2, updated: 8 } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
