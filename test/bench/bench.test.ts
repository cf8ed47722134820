import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { chunksOf, churn, everyNth, everything, generate, materialize, ndjsonLines, prng, prngAt, recentDelta, rowsOf, toNdjson, writeNdjson, type DataSet } from '../../bench/data.js';
import { COPY_TABLES, copyLines, writeCopyFiles } from '../../bench/floors.js';
import { scaleTabulate, tabulate, toText, type ScenarioRow, type SizeResult } from '../../bench/report.js';
import { parseArgs, SCALE_SCENARIOS, type Args } from '../../bench/args.js';
import { describeWaits, sampleWaits, type WaitReport } from '../../bench/many.js';
import { connect } from '../../src/store/db.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const ids = (d: DataSet) => new Map(d.employees.map((e) => [e.external_id, JSON.stringify(e)]));
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * sha256 of each data set's NDJSON as the bench made it when it built every record in memory and
 * joined them into one string (bench/data.ts before it streamed): streaming must not change a byte,
 * or numbers measured before and after would not be of the same data.
 */
const BEFORE_STREAMING: Record<number, Record<'base' | 'churn' | 'all' | 'recent' | 'b1', string>> = {
  100: {
    base: '052751964cdf2175072801557f34133a00f29b905c20fc8ca578ecb6c5edea5d',
    churn: '9db2717b2ddf8461641c27b6d6ae8323592d877e975061a52501023bdebf8146',
    all: '56f2e4a4b869ee5a63d6a4bf36ad90af39bd79244732e566d6f0207d5f2d1826',
    recent: '423c173172460d0ef6fbc800343f96c12519d5d8cf66f077a67b0adead534bfa',
    b1: '847de64ed473d04189b811b589bfbdde40bb9a5128297848b4b848beb574b0f9',
  },
  2500: {
    base: '8deddb73e49258281db51d9f34c4e31c53557f3777993c4975d956293fad105f',
    churn: '4cc981298238b20936924fd9224d0545c9b7e6e3c92c89f3db58e5c693eced26',
    all: '39b7145d3492463848789c8976a8374f2629d034bbc0d3e2f5d5ab48800fd3d9',
    recent: 'd4e2774e71b508bd6557db31ab28f13278a4569b0d68c901b3a07d3d0ed80aaa',
    b1: '5c9ad08aab8413fab2520254949d90de50699fb21966271af130863918b08452',
  },
};
/** The same for the floors' COPY text of 1,000 employees (floors.ts `copyText`, joined per table). */
const COPY_BEFORE_STREAMING: Record<string, string> = {
  org_units: '97ec30513616d7804e2c916094c82deaa2c772d2f70f2880c419ab654e4c06d5',
  employees: 'e91ed551ef3dd80abf3a344f1d8cea183cbf39696ae982f6a31369960f17f9a6',
  employments: '535e7f59fef7b6458d05f2e10cc8f2cb52c699a9b8b81cb3d119f06ff1849f73',
  record_links: '046fed851c734a97f9be56548051d21efaad831785fa32c5af94f27ead2416b6',
  run_records: 'cd547b323d67dd3938a42b9dac4ea52b9df3d6b8a92cf3ef486a8f1eab3e2dbd',
};

function runNode(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-8000)));
    child.on('error', fail);
    child.on('exit', (code) => done({ code, out, err }));
  });
}

describe('bench data', () => {
  it('is the same bytes every time, and churn changes 1 %, adds 0.5 % and drops 0.5 % of employees', () => {
    expect(toNdjson(generate(1000).base)).toBe(toNdjson(generate(1000).base));
    const g = generate(1000);
    const before = ids(materialize(g.base));
    const after = ids(materialize(churn(g)));
    const added = [...after.keys()].filter((k) => !before.has(k));
    const gone = [...before.keys()].filter((k) => !after.has(k));
    const changed = [...after].filter(([k, v]) => before.has(k) && before.get(k) !== v);
    expect([changed.length, added.length, gone.length]).toEqual([10, 5, 5]);
    expect(churn(g).counts).toEqual({ org_units: 25, employees: 1000, employments: 1000 });
  });

  it('streams the same bytes the in-memory generator wrote, for every variant', () => {
    for (const [n, want] of Object.entries(BEFORE_STREAMING)) {
      const g = generate(Number(n));
      const got = {
        base: sha(toNdjson(g.base)),
        churn: sha(toNdjson(churn(g))),
        all: sha(toNdjson(everything(g))),
        recent: sha(toNdjson(recentDelta(g, Math.min(1000, Math.max(10, Math.round(Number(n) / 100)))))),
        b1: sha(toNdjson(everyNth(g.base, 5))),
      };
      expect(got, `${n} employees`).toEqual(want);
    }
  });

  it("writes the floors' COPY text as it was, and references resolve to positions without a map", () => {
    const g = generate(1000);
    for (const t of COPY_TABLES) expect(sha([...chunksOf(copyLines(g, t))].join('')), t).toBe(COPY_BEFORE_STREAMING[t]);
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-bench-copy-'));
    try {
      const files = writeCopyFiles(generate(200), dir);
      const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean);
      expect(lines(files.record_links)).toHaveLength(rowsOf(generate(200).base));
      expect(lines(files.run_records)).toHaveLength(rowsOf(generate(200).base));
      expect(lines(files.record_links)[0]!.split('\t')).toHaveLength(6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('positions the generator at any draw without drawing the ones before', () => {
    const r = prng(42);
    const seq = Array.from({ length: 1000 }, () => r());
    for (const k of [0, 1, 7, 999]) expect(prngAt(42, k)(), `draw ${k}`).toBe(seq[k]);
    // Far positions too: the state arithmetic is modulo 2^32, not in floating point.
    const far = prng(7);
    for (let i = 0; i < 3_000_000; i++) far();
    expect(prngAt(7, 3_000_000)()).toBe(far());
  });

  it('yields each record when asked, and every call starts over', () => {
    const g = generate(100_000);
    const first = g.base.employees()[Symbol.iterator]().next().value;
    expect(first).toEqual(g.employee(0));
    const lines = ndjsonLines(g.base);
    expect(JSON.parse(lines.next().value as string)).toMatchObject({ entity: 'org_unit', external_id: 'OU00000' });
    expect(materialize(everyNth(generate(50).base, 1))).toEqual(materialize(generate(50).base));
  });

  it('samples every n-th record of each entity, the first included', () => {
    const g = generate(1000).base;
    const s = materialize(everyNth(g, 5));
    const all = materialize(g);
    expect([s.employees.length, s.employments.length, s.org_units.length]).toEqual([200, 200, Math.ceil(all.org_units.length / 5)]);
    expect(s.employees[1]).toEqual(all.employees[5]);
    expect(everyNth(g, 5).counts).toEqual({ employees: 200, employments: 200, org_units: Math.ceil(all.org_units.length / 5) });
  });

  it("gives another company's people their own emails and employee numbers, and leaves the first company's as they were", () => {
    const a = materialize(generate(100).base);
    const b = materialize(generate(100, 20240612, 2).base);
    expect(toNdjson(generate(100, 20240611, 0).base)).toBe(toNdjson(a));
    expect(b.employees[0]!.email).toMatch(/@acme-corp-2\.example$/);
    const numbers = new Set(a.employees.map((e) => e.employee_number));
    expect(b.employees.some((e) => numbers.has(e.employee_number))).toBe(false);
  });

  it('writes 100,000 employees within a 32 MB heap (building them in memory needed several times that)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-bench-heap-'));
    try {
      const { code, out, err } = await runNode(['--max-old-space-size=32', join(ROOT, 'bin/run-ts.js'), join(ROOT, 'bench/write-data.ts'), '--size', '100000', '--out', dir, '--sets', 'base']);
      expect(code, err).toBe(0);
      const r = JSON.parse(out) as { files: { set: string; records: number; bytes: number }[] };
      expect(r.files.map((f) => [f.set, f.records])).toEqual([['base', 202_500]]);
      // The file is over twice the heap the process was allowed.
      for (const f of r.files) expect(f.bytes).toBeGreaterThan(64 * 1048576);
      expect(readFileSync(join(dir, 'base.ndjson')).subarray(0, 30).toString()).toBe(toNdjson(generate(100_000).base).slice(0, 30));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('writes a file whose bytes are the string toNdjson gives', () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-bench-nd-'));
    try {
      const g = generate(300);
      const bytes = writeNdjson(churn(g), join(dir, 'c.ndjson'));
      const text = readFileSync(join(dir, 'c.ndjson'), 'utf8');
      expect(text).toBe(toNdjson(churn(g)));
      expect(bytes).toBe(Buffer.byteLength(text));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bench arguments', () => {
  const parsed = (argv: string[]) => parseArgs(argv) as Args;

  it('keeps every option it had, with the same defaults', () => {
    const a = parsed([]);
    expect(a).toMatchObject({ size: 100_000, scale: null, reps: 5, repsOther: 1, warmup: 1, b1Sample: 5, only: null, many: 10, manySize: null, manyWorkers: 2 });
    expect([...a.pairF1]).toEqual(['S-steady']);
    expect(parsed(['--size', '20000', '--quick', '--only', 'F1,S-steady', '--pair-f1', 'none'])).toMatchObject({ size: 20_000, reps: 3, warmup: 0 });
    expect(parseArgs(['--help'])).toBe('help');
  });

  it('--profile-plans-ms sets how slow a statement is before its plan is logged, and only with --profile', () => {
    expect(parsed(['--profile', '/tmp/pg.log'])).toMatchObject({ profile: '/tmp/pg.log', profilePlansMs: 50 });
    expect(parsed(['--profile', '/tmp/pg.log', '--profile-plans-ms', '5'])).toMatchObject({ profilePlansMs: 5 });
    expect(parsed(['--profile-plans-ms', '0', '--profile', '/tmp/pg.log'])).toMatchObject({ profilePlansMs: 0 });
    expect(() => parseArgs(['--profile-plans-ms', '5'])).toThrow('--profile-plans-ms needs --profile');
    expect(() => parseArgs(['--profile', '/tmp/pg.log', '--profile-plans-ms', '-1'])).toThrow('--profile-plans-ms must be a whole number ≥ 0');
  });

  it('--scale lists sizes and by default runs the scale scenarios once each, without warm-up or F1 beside', () => {
    const a = parsed(['--scale', '10000,100000,1000000']);
    expect(a.scale).toEqual([10_000, 100_000, 1_000_000]);
    expect([...a.only!]).toEqual([...SCALE_SCENARIOS]);
    expect([a.reps, a.repsOther, a.warmup, a.pairF1.size]).toEqual([1, 1, 0, 0]);
    const b = parsed(['--scale', '10_000, 20000', '--reps', '3', '--warmup', '1', '--only', 'F1,R-recent', '--pair-f1', 'S-steady']);
    expect(b).toMatchObject({ scale: [10_000, 20_000], reps: 3, warmup: 1 });
    expect([...b.only!]).toEqual(['F1', 'R-recent']);
    expect([...b.pairF1]).toEqual(['S-steady']);
  });

  it('refuses sizes that are not whole numbers, repeated sizes, --scale with --size, and one worker for M-many', () => {
    expect(() => parseArgs(['--scale', '10000,1e3x'])).toThrow('--scale must be a whole number ≥ 10 (got 1e3x)');
    expect(() => parseArgs(['--scale', '10000,10000'])).toThrow('each size once');
    expect(() => parseArgs(['--scale', ''])).toThrow('--scale needs at least one size');
    expect(() => parseArgs(['--scale', '10000', '--size', '10000'])).toThrow('give one');
    expect(() => parseArgs(['--many-workers', '1'])).toThrow('--many-workers must be a whole number ≥ 2');
    expect(() => parseArgs(['--scale'])).toThrow('--scale needs a value');
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

describe('bench --scale table', () => {
  const size = (n: number, f1: number, steady: number, recent: number): SizeResult => ({
    size: n,
    records: n * 2,
    fileMb: 1,
    info: [],
    embedded: true,
    seconds: 1,
    laps: [],
    load: [
      [1, 1, 1],
      [2, 2, 2],
    ],
    rows: [
      { id: 'F1', name: 'F1', rows: n * 2, times: [f1], written: null, vsF1: true },
      { id: 'S-steady', name: 'steady', rows: n * 2, times: [steady], nodeCpu: [1], pgCpu: [2], written: null, vsF1: true, peaksBytes: [300 * 1048576], idlesBytes: [200 * 1048576] },
      { id: 'R-recent', name: `recent into ${n}`, rows: 1000, times: [recent], written: null },
    ],
  });

  it("puts a scenario's sizes side by side, with × F1 of the same size and rows/s against the first size", () => {
    const t = scaleTabulate([size(10_000, 0.2, 0.3, 0.25), size(100_000, 2, 3.5, 0.4)]);
    const col = (name: string) => t.header.indexOf(name);
    expect(t.header).toEqual(['employees', 'scenario', 'rows', 's (median)', '× F1', 'rows/s', 'rows/s vs 10,000', 'CPU s node / db', 'peak RSS', 'result']);
    expect(t.lines.map((l) => [l[0], l[1]])).toEqual([
      ['10,000', 'F1'],
      ['100,000', 'F1'],
      ['10,000', 'steady'],
      ['100,000', 'steady'],
      ['10,000', 'recent into 10000'],
      ['100,000', 'recent into 100000'],
    ]);
    const steady100k = t.lines[3]!;
    expect(steady100k[col('× F1')]).toBe('1.75×');
    expect(steady100k[col('rows/s')]).toBe('57,143');
    // 10,000: 66,667 rows/s; 100,000: 57,143 — cost per record up by a sixth.
    expect(steady100k[col('rows/s vs 10,000')]).toBe('0.86×');
    expect(steady100k[col('CPU s node / db')]).toBe('1.0 / 2.0');
    expect(steady100k[col('peak RSS')]).toBe('+100 MB (peak 300 MB, idle 200 MB)');
    expect(t.lines[5]![col('rows/s vs 10,000')]).toBe('0.63×');
    expect(t.lines[5]![col('× F1')]).toBe('');
    expect(toText(t, ['employees', 'scenario', 'result']).split('\n')[2]).toMatch(/^10,000 +F1 +20,000 /);
  });
});

describe('many integrations: lock waits', () => {
  it('says when nothing waited, and names the lock and both statements when one worker waited on the other', () => {
    const none: WaitReport = { samples: 40, intervalMs: 50, byEvent: { 'CPU (no wait)': 30, 'IO:WalSync': 4 }, lockWaits: [], deadlocks: 0 };
    expect(describeWaits(none)).toBe("no wait on another worker's locks in 40 samples every 50 ms; deadlocks 0; top waits IO:WalSync 4");
    const w = (k: number) => `people-sync-bench-worker-${k}`;
    const some: WaitReport = {
      ...none,
      lockWaits: [
        { worker: w(1), event: 'relation', query: 'LOCK TABLE x', blockedBy: [w(2)], blockerQuery: 'INSERT INTO x', samples: 3 },
        { worker: w(2), event: 'relation', query: 'ANALYZE y', blockedBy: ['autovacuum worker'], blockerQuery: 'autovacuum: VACUUM y', samples: 2 },
      ],
      deadlocks: 1,
    };
    expect(describeWaits(some)).toBe(
      'waited on another worker\'s locks in 3 of 40 samples (relation ×3: "LOCK TABLE x" behind "INSERT INTO x"); ' +
        'waited on autovacuum worker in 2 samples (relation ×2: "ANALYZE y" behind "autovacuum: VACUUM y"); deadlocks 1; top waits IO:WalSync 4',
    );
    // Behind the server's own processes only: not counted as waiting on another worker.
    expect(describeWaits({ ...some, lockWaits: [some.lockWaits[1]!] })).toMatch(/^no wait on another worker's locks in 40 samples every 50 ms; waited on autovacuum worker in 2 samples/);
  });

  it("sees a worker's backend waiting on a lock another worker's holds", async () => {
    const url = new URL(inject('databaseUrl'));
    url.pathname = '/postgres';
    const app = (w: number) => {
      const u = new URL(url);
      u.searchParams.set('application_name', `people-sync-bench-worker-${w}`);
      return u.toString();
    };
    const setup = connect(url.toString(), { max: 1 });
    const one = connect(app(1), { max: 1 });
    const two = connect(app(2), { max: 1 });
    const mon = connect(url.toString(), { max: 1 });
    await setup`CREATE TABLE IF NOT EXISTS bench_lock_probe (id int)`;
    try {
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      let locked: () => void = () => undefined;
      const isLocked = new Promise<void>((r) => (locked = r));
      const holder = one.begin(async (tx) => {
        await tx`LOCK TABLE bench_lock_probe IN ACCESS EXCLUSIVE MODE`;
        locked();
        await held;
      });
      await isLocked;
      const sampling = sampleWaits(mon, 20);
      // A postgres.js query is sent when it is awaited or executed, not when it is written.
      const waiter = two`SELECT count(*) FROM bench_lock_probe`.execute();
      // Until the sampler has seen the wait (a loaded machine may take a while to run either).
      for (let i = 0; i < 200 && !sampling.peek().lockWaits.some((l) => l.samples >= 2); i++) await new Promise((r) => setTimeout(r, 50));
      release();
      await holder;
      await waiter;
      const report = await sampling.stop();
      const wait = report.lockWaits.find((w) => w.worker === 'people-sync-bench-worker-2');
      expect(wait, JSON.stringify(report)).toMatchObject({ event: 'relation', blockedBy: ['people-sync-bench-worker-1'] });
      // The holder sits idle in its transaction: its last statement is the one that took the lock.
      expect(wait!.blockerQuery).toContain('LOCK TABLE bench_lock_probe');
      expect(describeWaits(report)).toMatch(/^waited on another worker's locks in \d+ of \d+ samples \(relation/);
    } finally {
      await setup`DROP TABLE IF EXISTS bench_lock_probe`;
      await Promise.all([setup.end(), one.end(), two.end(), mon.end()]);
    }
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

  it('syncs several integrations by one worker and by two at once, and says whether one waited on the other', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-bench-many-'));
    const out = join(dir, 'out.json');
    try {
      const args = [join(ROOT, 'bin/run-ts.js'), join(ROOT, 'bench/run.ts'), '--size', '100', '--only', 'M-many', '--many', '3', '--json', out];
      const { code, err } = await runNode(args, { BENCH_DATABASE_URL: inject('databaseUrl') });
      expect(code, err).toBe(0);
      const { rows } = JSON.parse(readFileSync(out, 'utf8')) as { rows: ScenarioRow[] };
      expect(rows.map((r) => r.id)).toEqual(['M-initial-serial', 'M-initial-parallel', 'M-steady-serial', 'M-steady-parallel']);
      for (const r of rows) {
        expect(r.rows, r.id).toBe(3 * 203);
        expect(r.times[0], r.id).toBeGreaterThan(0);
        expect(r.counts, r.id).toMatch(/^3 runs completed/);
        expect(r.note, r.id).toMatch(/deadlocks 0/);
      }
      // Three companies' people, each loaded once, and nothing written again by the steady states.
      expect(rows[0]!.written).toMatchObject({ inserted: 3 * 203, updated: 0 });
      expect(rows[1]!.written).toMatchObject({ inserted: 3 * 203, updated: 0 });
      expect(rows[2]!.written).toMatchObject({ inserted: 0, updated: 0 });
      expect(rows[3]!.written).toMatchObject({ inserted: 0, updated: 0 });
      expect(rows[1]!.note).toMatch(/^\d+\.\d\d× the same one after the other; /);
      expect(rows[1]!.pgCpu![0]).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
