/**
 * Differential test of the engine for performance work:
 *
 *   node bin/run-ts.js bench/equivalence.ts [--against HEAD] [--seeds 6] [--steps 40]
 *
 * Runs this tree's engine and the engine of a git revision (src/engine/*.ts
 * as committed, the rest shared) side by side: seeded random sequences of
 * syncs over a small population full of the awkward cases (validation errors,
 * duplicate ids and emails, conflicting employee numbers, references to new,
 * missing and rejected records, removals, absences, restores, write modes,
 * match keys, mappings, user and recent runs, dry runs applied, held runs
 * confirmed or discarded). Before every step the database is copied; each
 * engine runs the step on its own copy, and what a person could see is
 * compared: the runs, their per-record results, the people tables and the
 * links. Stored ids are replaced by the external ids that name them, so a
 * different id assignment order is not a difference. This tree's engine reads
 * most steps as unparsed NDJSON lines, the reference engine as records.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connect, migrate, type Sql } from '../src/store/db.js';
import { silentLogger } from '../src/log.js';
import type { IntegrationConfig } from '../src/config.js';
import { createEngine, type SourceResolver } from '../src/engine/execute.js';
import { createSyncService } from '../src/engine/service.js';
import { createStore } from '../src/store/index.js';
import type { ProviderPage } from '../providers/types.js';
import type { Run } from '../src/domain/run.js';
import { prng } from './data.js';
import { dropDatabase, recreateDatabase, startServer } from './db.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

type Rec = Record<string, unknown>;

function integration(id: string, extra: Partial<IntegrationConfig> = {}): IntegrationConfig {
  return {
    id,
    name: id,
    kind: 'pull',
    provider: 'file',
    options: {},
    enabled: true,
    match_key: 'external_id',
    match_keys: [extra.match_key ?? 'external_id'],
    write: 'create_update',
    max_terminations: { kind: 'percent', value: 50 },
    // The revisions compared may predate the guards beyond terminations: those are off here.
    quarantine: { after_failures: 3 },
    guards: { max_terminations: { kind: 'percent', value: 50 }, max_creates: null, max_updates: null, max_failed: null, drift: null },
    mapping: {},
    fields: {},
    owns: [],
    scope: null,
    timezone: 'UTC',
    prehire_days: 30,
    schedules: [],
    webhook: { secrets: [], tokens: [] },
    ...extra,
  };
}

const INTEGRATIONS: IntegrationConfig[] = [
  integration('hr', { max_terminations: { kind: 'count', value: 3 } }),
  integration('hr_email', { match_key: 'email' }),
  integration('hr_num', { match_key: 'employee_number' }),
  integration('hr_co', { write: 'create_only' }),
  integration('hr_uo', { write: 'update_only', match_key: 'email' }),
  integration('hr_map', {
    mapping: { employees: { display_name: '{{first_name}} {{last_name}}', 'attributes.team': '{{team}}', job_title: '{{role.title}}' } },
  }),
];

const TITLES = ['Engineer', 'Senior Engineer', 'Manager', 'Designer', 'Analyst', 'Recruiter'];
const DEPTS = ['R&D', 'Sales', 'People', 'Finance'];
const LOCS = ['Amsterdam', 'Berlin', 'Remote\tEU', 'New\nYork', 'Back\\slash'];

/** The source's evolving population, and one step's pages derived from it. */
class Population {
  employees = new Map<string, Rec>();
  employments = new Map<string, Rec>();
  units = new Map<string, Rec>();
  private next = 0;
  constructor(private r: () => number) {
    for (let u = 0; u < 5; u++) this.addUnit();
    for (let i = 0; i < 24; i++) this.addPerson();
  }
  pick<T>(xs: T[]): T | undefined {
    return xs.length ? xs[Math.floor(this.r() * xs.length)] : undefined;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  addUnit(): string {
    const id = `OU${this.units.size + this.next++}`;
    this.units.set(id, { external_id: id, name: `Unit ${id}`, parent_id: this.pick([...this.units.keys(), null]) ?? null, manager_id: this.pick([...this.employees.keys()]) ?? null });
    return id;
  }
  addPerson(): string {
    const n = this.next++;
    const id = `E${n}`;
    this.employees.set(id, {
      external_id: id,
      email: `p${n}@example.com`,
      first_name: `First${n}`,
      last_name: `Last${n}`,
      job_title: this.pick(TITLES),
      department: this.pick(DEPTS),
      location: this.pick(LOCS),
      manager_id: this.chance(0.9) ? (this.pick([...this.employees.keys()]) ?? null) : null,
      org_unit_id: this.pick([...this.units.keys()]) ?? null,
      employee_number: this.chance(0.8) ? `N${n}` : null,
      status: 'active',
      start_date: `20${10 + (n % 15)}-0${1 + (n % 9)}-1${n % 10}`,
      attributes: { grade: `L${n % 7}`, remote: n % 2 === 0 },
      team: `T${n % 4}`,
      role: { title: this.pick(TITLES) },
    });
    if (this.chance(0.9)) {
      this.employments.set(`EM${n}`, {
        external_id: `EM${n}`,
        employee_id: id,
        title: this.pick(TITLES),
        org_unit_id: this.pick([...this.units.keys()]) ?? null,
        start_date: '2020-01-01',
        fte: this.pick([1, 0.8, '0.5', null]),
        primary: this.pick([true, 'yes', false, undefined]),
      });
    }
    return id;
  }
  evolve(): void {
    const ids = [...this.employees.keys()];
    for (const id of ids) {
      const e = this.employees.get(id)!;
      if (this.chance(0.12)) e.job_title = this.pick(TITLES);
      if (this.chance(0.05)) e.location = this.pick(LOCS);
      if (this.chance(0.05)) e.manager_id = this.pick([...ids, 'E_MISSING', null]) ?? null;
      if (this.chance(0.04)) e.org_unit_id = this.pick([...this.units.keys(), 'OU_MISSING']) ?? null;
      if (this.chance(0.04)) e.attributes = { ...(e.attributes as Rec), grade: `L${Math.floor(this.r() * 9)}` };
      if (this.chance(0.03)) e.email = `p${this.next++}@example.com`;
      const other = this.employees.get(this.pick([...this.employees.keys()])!)!;
      if (this.chance(0.02)) e.email = String(other.email).toUpperCase();
      if (this.chance(0.02)) e.employee_number = other.employee_number;
      if (this.chance(0.05)) e.status = e.status === 'active' ? 'terminated' : 'active';
      if (this.chance(0.03)) e.team = `T${Math.floor(this.r() * 5)}`;
      if (this.chance(0.02)) e.end_date = '2030-02-30';
      else if (this.chance(0.05)) delete e.end_date;
      if (this.chance(0.03)) this.employees.delete(id);
    }
    for (const [id, m] of this.employments) {
      if (this.chance(0.08)) m.title = this.pick(TITLES);
      if (this.chance(0.05)) m.fte = this.pick([1, 0.6, 2, 'x', null]);
      if (this.chance(0.03)) m.employee_id = this.pick([...ids, 'E_GONE']);
      if (this.chance(0.03)) m.status = m.status === 'terminated' ? 'active' : 'terminated';
      if (this.chance(0.03)) this.employments.delete(id);
    }
    for (const [id, u] of this.units) {
      if (this.chance(0.08)) u.name = `Unit ${id} ${Math.floor(this.r() * 9)}`;
      if (this.chance(0.05)) u.parent_id = this.pick([...this.units.keys(), 'OU_NEW_PARENT', null]) ?? null;
      if (this.chance(0.05)) u.manager_id = this.pick([...ids, 'E_MISSING']) ?? null;
      if (this.chance(0.02)) this.units.delete(id);
    }
    const joiners = Math.floor(this.r() * 4);
    for (let k = 0; k < joiners; k++) this.addPerson();
    if (this.chance(0.2)) this.addUnit();
  }
  /** One delivery: the population plus this step's broken rows, duplicates and removals. */
  pages(kind: 'full' | 'recent'): ProviderPage[] {
    const take = <T>(xs: T[]) => (kind === 'full' ? xs : xs.filter(() => this.chance(0.3)));
    const employees: unknown[] = take([...this.employees.values()]).map((e) => structuredClone(e));
    const employments: unknown[] = take([...this.employments.values()]).map((e) => structuredClone(e));
    const org_units: unknown[] = take([...this.units.values()]).map((e) => structuredClone(e));
    if (this.chance(0.3)) employees.push({ external_id: `BAD${this.next++}`, email: 'not-an-email', start_date: '2020-13-01' });
    if (this.chance(0.2)) employees.push(structuredClone(this.pick([...this.employees.values()])));
    if (this.chance(0.15)) employees.push({ email: `noid${this.next++}@example.com` });
    if (this.chance(0.2)) employments.push({ external_id: `EMX${this.next++}`, employee_id: this.pick(['E_NOPE', `BAD${this.next - 2}`]) });
    if (this.chance(0.15)) org_units.push({ external_id: 'OU_NEW_PARENT', name: 'Late parent' });
    if (this.chance(0.1)) org_units.push({ external_id: `OUBAD${this.next++}` });
    const removed: ProviderPage['removed'] = [];
    if (this.chance(0.2)) removed.push({ entity: 'employees', external_id: this.pick([...this.employees.keys(), 'E_UNKNOWN'])! });
    if (this.chance(0.1)) removed.push({ entity: 'employments', external_id: this.pick([...this.employments.keys(), 'EM_UNKNOWN'])! });
    if (this.chance(0.1)) removed.push({ entity: 'org_units', external_id: this.pick([...this.units.keys()]) ?? 'OU_UNKNOWN' });
    const unreadable: ProviderPage['unreadable'] = this.chance(0.1) ? [{ entity: 'employees', line: 7, error: 'line 7 is not valid JSON', text: '{oops' }] : [];
    const cut = (xs: unknown[]) => Math.floor(xs.length / 2);
    return [
      { employees: employees.slice(0, cut(employees)), employments: employments.slice(0, cut(employments)), org_units: org_units.slice(0, cut(org_units)) },
      { employees: employees.slice(cut(employees)), employments: employments.slice(cut(employments)), org_units: org_units.slice(cut(org_units)), removed, unreadable },
    ];
  }
}

async function dump(sql: Sql, runIds: number[]): Promise<unknown> {
  const keys = new Map<string, string>();
  for (const l of await sql<{ entity: string; record_id: number; k: string }[]>`
    SELECT entity, record_id, string_agg(integration_id || '/' || external_id, ',' ORDER BY integration_id, external_id) AS k
    FROM record_links GROUP BY entity, record_id`) {
    keys.set(`${l.entity}:${l.record_id}`, l.k);
  }
  const key = (entity: string, id: unknown) => (id === null || id === undefined ? null : (keys.get(`${entity}:${id}`) ?? `unlinked ${entity}`));
  const text = (s: unknown) => (typeof s === 'string' ? s.replace(/#(\d+)/g, (_m, id: string) => `#[${key('employees', Number(id))}]`) : s);
  const sorted = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
  const runs = await sql<Rec[]>`
    SELECT id, integration_id, mode, dry_run, status, reason, error, counts, guard, notes FROM sync_runs WHERE id = ANY(${runIds}::bigint[]) ORDER BY id`;
  const records = await sql<Rec[]>`
    SELECT run_id, entity, external_id, seq, record_id, status, reason, errors, changes FROM run_records WHERE run_id = ANY(${runIds}::bigint[])`;
  const employees = await sql<Rec[]>`
    SELECT id, email, first_name, last_name, display_name, job_title, department, org_unit_id, manager_id, location, employee_number, status,
           start_date::text, end_date::text, attributes, terminated_at IS NOT NULL AS terminated FROM employees`;
  const employments = await sql<Rec[]>`
    SELECT id, employee_id, title, org_unit_id, start_date::text, end_date::text, fte::text, is_primary, status, terminated_at IS NOT NULL AS terminated FROM employments`;
  const units = await sql<Rec[]>`SELECT id, name, parent_id, manager_id, status, terminated_at IS NOT NULL AS terminated FROM org_units`;
  const links = await sql<Rec[]>`SELECT integration_id, entity, external_id, record_id FROM record_links`;
  const runOrder = new Map(runIds.map((id, i) => [id, i]));
  return {
    // Since 5f6f48c a run that terminates no one stores no guard (its active count is not taken).
    runs: runs.map((r) => ({ ...r, id: runOrder.get(r.id as number), reason: text(r.reason), error: text(r.error), guard: noGuardIfNoTerminations(r.guard) })),
    records: sorted(
      records.map((r) => ({
        ...r,
        run_id: runOrder.get(r.run_id as number),
        record_id: key(r.entity as string, r.record_id),
        reason: text(r.reason),
        errors: JSON.parse(String(text(JSON.stringify(r.errors)))),
      })),
    ),
    employees: sorted(employees.map((e) => ({ ...e, id: key('employees', e.id), manager_id: key('employees', e.manager_id), org_unit_id: key('org_units', e.org_unit_id) }))),
    employments: sorted(employments.map((e) => ({ ...e, id: key('employments', e.id), employee_id: key('employees', e.employee_id), org_unit_id: key('org_units', e.org_unit_id) }))),
    org_units: sorted(units.map((u) => ({ ...u, id: key('org_units', u.id), parent_id: key('org_units', u.parent_id), manager_id: key('employees', u.manager_id) }))),
    links: sorted(links.map((l) => ({ ...l, record_id: key(l.entity as string, l.record_id) }))),
  };
}

type EngineFactory = typeof createEngine;

/**
 * The engine of git revision `rev` (its src/engine/{execute,plan,stage}.ts),
 * copied to a temporary folder with its other imports pointed back at this
 * tree, so both engines run side by side in this process.
 */
/** A guard that had nothing to guard is compared as none. */
function noGuardIfNoTerminations(guard: unknown): unknown {
  return guard && typeof guard === 'object' && (guard as { terminations?: number }).terminations === 0 ? null : guard;
}

/**
 * Both engines run on this tree's schema. Where a migration changed a column an
 * older engine reads, its SQL is adapted here (text only, no logic):
 * 004_fingerprints.sql made `snapshot_rows.attributes` text.
 */
const SCHEMA_SHIMS: [string, string][] = [["coalesce(r.attributes, '{}'::jsonb)", "coalesce(r.attributes::jsonb, '{}'::jsonb)"]];

async function referenceEngine(rev: string): Promise<{ createEngine: EngineFactory; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-reference-'));
  const engineDir = join(ROOT, 'src/engine');
  for (const f of ['execute', 'plan', 'stage']) {
    const text = execFileSync('git', ['show', `${rev}:src/engine/${f}.ts`], { cwd: ROOT, encoding: 'utf8' }).replace(
      /from '(\.{1,2}\/[^']+)\.js'/g,
      (_m, spec: string) => (/^\.\/(execute|plan|stage)$/.test(spec) ? `from '${spec}.mts'` : `from '${pathToFileURL(resolve(engineDir, spec)).href}.ts'`),
    );
    writeFileSync(join(dir, `${f}.mts`), SCHEMA_SHIMS.reduce((t, [from, to]) => t.replaceAll(from, to), text));
  }
  const mod = (await import(pathToFileURL(join(dir, 'execute.mts')).href)) as { createEngine: EngineFactory };
  return { createEngine: mod.createEngine, dir };
}

interface StepPlan {
  integration: IntegrationConfig;
  mode: 'full' | 'recent' | 'user';
  dryRun: boolean;
  user: string | null;
  pages: ProviderPage[];
  confirm: boolean;
  apply: boolean;
}

/**
 * The page as the NDJSON readers hand it over: its records as unparsed lines (each
 * with its entity), in the order staging takes records. The engine then recognises
 * the lines it applied before, so steps in this form test that path.
 */
function toLines(p: ProviderPage): ProviderPage {
  const texts: string[] = [];
  for (const [entity, key] of [['employee', 'employees'], ['employment', 'employments'], ['org_unit', 'org_units']] as const) {
    for (const rec of p[key] ?? []) texts.push(JSON.stringify({ entity, ...(rec as Rec) }));
  }
  return { removed: p.removed, unreadable: p.unreadable, lines: { defaultEntity: null, texts, numbers: texts.map((_, i) => i + 1) } };
}

/** Rows this tree's engine staged from lines it recognised, and that stayed unparsed (the path the lines test). */
let recognised = 0;

/** One step on the database at `url` with `factory`'s engine; returns what it shows. */
async function runStep(url: string, factory: EngineFactory, step: StepPlan, asLines = false): Promise<unknown> {
  const sql = connect(url, { max: 4 });
  const source: SourceResolver = () =>
    (async function* () {
      for (const p of structuredClone(step.pages)) yield asLines ? toLines(p) : p;
    })();
  const integrations = () => INTEGRATIONS;
  // Older engines build their own repositories from `sql` and ignore `store`.
  const store = createStore(sql);
  const engine = factory({ sql, store, log: silentLogger, integrations, source, heartbeatSeconds: 60 });
  const service = createSyncService({ store, log: silentLogger, integrations, enqueue: async () => undefined });
  const execute = async (run: Run) => (await engine.execute(run.id, 'equivalence'))!;
  try {
    const { run } = await service.requestSync({ integration: step.integration.id, mode: step.mode, dryRun: step.dryRun, user: step.user, trigger: 'cli', requestedBy: 'equivalence' });
    const runIds = [run.id];
    let done = await execute(run);
    if (done.status === 'held') {
      if (step.confirm) {
        await service.confirm(done.id, 'tester');
        done = await execute(done);
      } else {
        await service.discard(done.id, 'tester');
      }
    } else if (done.dry_run && (done.status === 'completed' || done.status === 'warning') && step.apply) {
      const { run: applied } = await service.applyDryRun(done.id, 'cli', 'tester');
      runIds.push(applied.id);
      done = await execute(applied);
      if (done.status === 'held') {
        await service.confirm(done.id, 'tester');
        done = await execute(done);
      }
    }
    if (asLines) {
      const [{ n }] = (await sql`SELECT count(*)::int AS n FROM snapshot_rows r JOIN sync_runs s ON s.snapshot_id = r.snapshot_id
                                 WHERE s.id = ANY(${runIds}::bigint[]) AND r.unparsed`) as unknown as [{ n: number }];
      recognised += n;
    }
    return await dump(sql, runIds);
  } finally {
    await sql.end();
  }
}

/**
 * Records that more than one row of this run updates: which row's values win
 * was never defined (an UPDATE … FROM with several matches), so they are
 * compared only for existing.
 */
function ambiguous(state: { records: string[] }): Set<string> {
  const seen = new Map<string, number>();
  for (const r of state.records.map((x) => JSON.parse(x) as Rec)) {
    if (r.seq === null || !['updated', 'restored', 'terminated'].includes(String(r.status))) continue;
    const k = `${r.entity}:${r.record_id}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return new Set([...seen].filter(([, n]) => n > 1).map(([k]) => k));
}

function withoutAmbiguous(state: Rec, keys: Set<string>): Rec {
  const out = { ...state };
  for (const entity of ['employees', 'employments', 'org_units']) {
    out[entity] = (state[entity] as string[]).map((x) => {
      const rec = JSON.parse(x) as Rec;
      return keys.has(`${entity}:${rec.id}`) ? JSON.stringify({ id: rec.id, ambiguous: true }) : x;
    });
  }
  return out;
}

async function scenario(adminUrl: string, reference: EngineFactory, seed: number, steps: number, log: (s: string) => void): Promise<{ steps: number; ambiguous: number; differences: number }> {
  const baseUrl = await recreateDatabase(adminUrl, 'eq_base');
  {
    const sql = connect(baseUrl, { max: 1 });
    await migrate(sql, silentLogger);
    await sql.end();
  }
  const r = prng(seed);
  const pop = new Population(r);
  let ambiguousSteps = 0;
  let differences = 0;
  for (let step = 0; step < steps; step++) {
    if (step > 0) pop.evolve();
    const integration = INTEGRATIONS[Math.floor(r() * INTEGRATIONS.length)]!;
    const roll = r();
    const mode = roll < 0.65 ? 'full' : roll < 0.85 ? 'recent' : 'user';
    const dryRun = r() < 0.2;
    const pages = pop.pages(mode === 'recent' ? 'recent' : 'full');
    const user =
      mode === 'user' ? (pop.pick([...pop.employees.values()].flatMap((e) => [String(e.email), String(e.external_id)]).concat(['nobody@example.com'])) ?? 'x') : null;
    const plan: StepPlan = { integration, mode, dryRun, user, pages, confirm: r() < 0.6, apply: r() < 0.5 };
    // This tree's engine reads most steps as NDJSON lines (the reference, records): the same data either way.
    const asLines = r() < 0.7;
    const refUrl = await recreateDatabase(adminUrl, 'eq_ref', 'eq_base');
    const expected = (await runStep(refUrl, reference, plan)) as Rec;
    const curUrl = await recreateDatabase(adminUrl, 'eq_cur', 'eq_base');
    const actual = (await runStep(curUrl, createEngine, plan, asLines)) as Rec;
    const keys = ambiguous(actual as { records: string[] });
    if (keys.size) ambiguousSteps++;
    const d = firstDifference(withoutAmbiguous(expected, keys), withoutAmbiguous(actual, keys));
    if (d) {
      differences++;
      log(`DIFFERENT at seed ${seed} step ${step} (${integration.id} ${mode}${dryRun ? ' dry' : ''}) ${d}`);
    }
    // Both go on from the current engine's state, so one difference does not cascade.
    await dropDatabase(adminUrl, 'eq_ref');
    await dropDatabase(adminUrl, 'eq_base');
    const admin = connect(adminUrl, { max: 1 });
    await admin.unsafe('ALTER DATABASE eq_cur RENAME TO eq_base');
    await admin.end();
  }
  await dropDatabase(adminUrl, 'eq_base');
  return { steps, ambiguous: ambiguousSteps, differences };
}

function firstDifference(a: unknown, b: unknown, path = ''): string | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a as object), ...Object.keys(b as object)])) {
      const d = firstDifference((a as Rec)[k], (b as Rec)[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  return `${path}:\n  expected ${JSON.stringify(a)}\n  actual   ${JSON.stringify(b)}`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (k: string, d: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1]! : d);
  const rev = opt('--against', 'HEAD');
  const seeds = Number(opt('--seeds', '6'));
  const steps = Number(opt('--steps', '40'));
  const log = (line: string) => process.stderr.write(line + '\n');
  const ref = await referenceEngine(rev);
  const server = await startServer();
  let total = { steps: 0, ambiguous: 0, differences: 0 };
  try {
    for (let s = 1; s <= seeds; s++) {
      const r = await scenario(server.adminUrl, ref.createEngine, s * 7919, steps, log);
      total = { steps: total.steps + r.steps, ambiguous: total.ambiguous + r.ambiguous, differences: total.differences + r.differences };
    }
  } finally {
    await server.stop();
    rmSync(ref.dir, { recursive: true, force: true });
  }
  log(`${total.steps} steps against ${rev}: ${total.differences} different, ${total.ambiguous} with a record updated by several rows (compared for existence only); ${recognised} rows recognised from their lines and never parsed`);
  if (total.differences) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
