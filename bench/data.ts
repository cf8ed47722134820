/**
 * Deterministic synthetic HR data: employees in a realistic reporting tree,
 * one primary employment each, and an org-unit tree. Same seed, same bytes.
 *
 * Records are never held all at once: a data set is a `RecordSource` whose
 * records are generated as they are read (the reporting tree is a few typed
 * arrays, 20 bytes per employee; every person is derived from the seed and its
 * index in O(1)), and NDJSON or COPY text is written from it as a stream. So a
 * million employees cost the bench ~20 MB, not gigabytes, and the bytes are the
 * same as when the whole data set was built in memory and joined into a string.
 * Variants (changes, new people, leavers) are derived from the base by their
 * own seeded generators, so every scenario is reproducible on its own; the few
 * records a variant changes are kept, the rest are the base's, streamed.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface EmployeeRec {
  external_id: string;
  email: string;
  first_name: string;
  last_name: string;
  display_name: string;
  job_title: string;
  department: string;
  org_unit_id: string;
  manager_id: string | null;
  location: string;
  employee_number: string;
  status: 'active';
  start_date: string;
  attributes: Record<string, string | number | boolean>;
}

export interface EmploymentRec {
  external_id: string;
  employee_id: string;
  title: string;
  org_unit_id: string;
  start_date: string;
  fte: number;
  primary: boolean;
  status: 'active';
}

export interface OrgUnitRec {
  external_id: string;
  name: string;
  parent_id: string | null;
  manager_id: string | null;
  status: 'active';
}

export interface DataSet {
  employees: EmployeeRec[];
  employments: EmploymentRec[];
  org_units: OrgUnitRec[];
}

export const ENTITIES = ['org_units', 'employees', 'employments'] as const;
export type Entity = (typeof ENTITIES)[number];

/**
 * A data set read as a stream: each entity's records in data-set order, generated as they are
 * read (every call starts over and yields the same records). `counts` are known up front.
 */
export interface RecordSource {
  readonly counts: Readonly<Record<Entity, number>>;
  org_units(): Iterable<OrgUnitRec>;
  employees(): Iterable<EmployeeRec>;
  employments(): Iterable<EmploymentRec>;
}

export const rowsOf = (d: RecordSource | DataSet) =>
  'counts' in d ? d.counts.employees + d.counts.employments + d.counts.org_units : d.employees.length + d.employments.length + d.org_units.length;

/** A data set held in memory (small ones: a delta, a test's), read as a source. */
export function fromDataSet(d: DataSet): RecordSource {
  return {
    counts: { org_units: d.org_units.length, employees: d.employees.length, employments: d.employments.length },
    org_units: () => d.org_units,
    employees: () => d.employees,
    employments: () => d.employments,
  };
}

/** Every record of a source, in memory: for small sources only. */
export function materialize(s: RecordSource): DataSet {
  return { org_units: [...s.org_units()], employees: [...s.employees()], employments: [...s.employments()] };
}

const sourceOf = (d: RecordSource | DataSet): RecordSource => ('counts' in d ? d : fromDataSet(d));

function* everyKth<T>(xs: Iterable<T>, k: number): Generator<T> {
  let i = 0;
  for (const x of xs) if (i++ % k === 0) yield x;
}

/** Every `k`-th record of each entity (the first, the k+1-th, …): the same kinds of records, spread over the data set. */
export function everyNth(d: RecordSource | DataSet, k: number): RecordSource {
  const s = sourceOf(d);
  if (k === 1) return s;
  const of = (c: number) => Math.ceil(c / k);
  return {
    counts: { org_units: of(s.counts.org_units), employees: of(s.counts.employees), employments: of(s.counts.employments) },
    org_units: () => everyKth(s.org_units(), k),
    employees: () => everyKth(s.employees(), k),
    employments: () => everyKth(s.employments(), k),
  };
}

const GOLDEN = 0x6d2b79f5;

/** mulberry32: tiny, fast, good enough for test data. */
export function prng(seed: number): () => number {
  return prngAt(seed, 0);
}

/**
 * The generator `prng(seed)` after `calls` draws, without drawing them: its state only adds a
 * constant per draw, so any position is one multiplication away. This is what lets person `i`
 * be generated without the `i - 1` before it.
 */
export function prngAt(seed: number, calls: number): () => number {
  let a = ((seed >>> 0) + Math.imul(calls, GOLDEN)) >>> 0;
  return () => {
    a = (a + GOLDEN) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = `Anna Bram Chloe Daan Emma Finn Grace Hugo Iris Jonas Kira Liam Maya Noah Olivia Pieter Quinn Rosa Sam Tess Umar Vera Wout Xena Yara Zeno
Ahmed Beatriz Carlos Dmitri Elif Fatima Giulia Hiroshi Ingrid Javier Katarzyna Lars Mei Nikolai Oluwaseun Priya Rafael Sofia Tomasz Ulrike Valentina
Wei Yusuf Zofia Aisha Bjorn Camille Diego Esther Felix Hannah Isabel Jamal Klaus Lucia Mateo Nadia Oscar Paula Ruben Sara Theo Ursula Victor Willem
Alejandro Bianca Cedric Dorothea Emil Freya Gabriel Helena Ivan Julia Kai Leonie Marco Nina Otto Petra Rik Selma Timo Ute Vincent Wilma Yannick Zara`.split(/\s+/);
const LAST = `Jansen deVries Bakker Visser Smit Meijer deBoer Mulder deGroot Bos Vos Peters Hendriks vanLeeuwen Dekker Brouwer deWit Dijkstra Smits deGraaf
Schmidt Muller Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Garcia Fernandez Lopez Martinez Gonzalez Rodriguez Sanchez Perez Gomez Martin
Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Nowak Kowalski Wisniewski Wojcik Kowalczyk Kaminski Lewandowski Zielinski
Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Jackson White Harris Clark Lewis Robinson Walker Young Allen King
Nguyen Tran Le Pham Kim Lee Park Choi Wang Li Zhang Liu Chen Yang Huang Zhao Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi`.split(/\s+/);
const TITLES = [
  'Software Engineer', 'Senior Software Engineer', 'Staff Software Engineer', 'Engineering Manager', 'Product Manager', 'Senior Product Manager',
  'Product Designer', 'UX Researcher', 'Data Analyst', 'Data Scientist', 'Machine Learning Engineer', 'Site Reliability Engineer',
  'Security Engineer', 'QA Engineer', 'Technical Writer', 'Account Executive', 'Senior Account Executive', 'Sales Development Representative',
  'Customer Success Manager', 'Support Specialist', 'Support Team Lead', 'Marketing Manager', 'Content Strategist', 'Growth Marketer',
  'Financial Analyst', 'Accountant', 'Payroll Specialist', 'HR Business Partner', 'Recruiter', 'Talent Acquisition Lead', 'Office Manager',
  'Legal Counsel', 'Procurement Specialist', 'Operations Manager', 'Warehouse Associate', 'Logistics Coordinator', 'Facilities Technician',
  'Director of Engineering', 'VP Sales', 'Chief of Staff',
];
const DEPARTMENTS = [
  'Engineering', 'Product', 'Design', 'Data', 'Infrastructure', 'Security', 'Sales', 'Customer Success', 'Support', 'Marketing', 'Finance',
  'People', 'Legal', 'Operations', 'Logistics', 'Facilities', 'Procurement', 'Executive Office',
];
const LOCATIONS = [
  'Amsterdam, Netherlands', 'Rotterdam, Netherlands', 'Berlin, Germany', 'Munich, Germany', 'Paris, France', 'Lyon, France', 'Madrid, Spain',
  'Barcelona, Spain', 'Milan, Italy', 'Warsaw, Poland', 'Krakow, Poland', 'London, United Kingdom', 'Dublin, Ireland', 'Lisbon, Portugal',
  'New York, United States', 'Austin, United States', 'San Francisco, United States', 'Toronto, Canada', 'Singapore', 'Tokyo, Japan',
  'Remote - EMEA', 'Remote - Americas',
];
const TYPES = ['full_time', 'full_time', 'full_time', 'full_time', 'part_time', 'contractor'];

const pad = (n: number, w: number) => String(n).padStart(w, '0');
export const empId = (i: number) => `E${pad(i, 7)}`;
export const emtId = (i: number) => `EM${pad(i, 7)}`;
export const orgId = (u: number) => `OU${pad(u, 5)}`;

function date(r: () => number, fromYear: number, toYear: number): string {
  const y = fromYear + Math.floor(r() * (toYear - fromYear + 1));
  const m = 1 + Math.floor(r() * 12);
  const d = 1 + Math.floor(r() * 28);
  return `${y}-${pad(m, 2)}-${pad(d, 2)}`;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** `tenant` > 0: another company's people (own email domain and employee numbers), for many integrations in one store. */
function person(r: () => number, i: number, unit: number, manager: string | null, units: number, tenant = 0): EmployeeRec {
  const first = pick(r, FIRST);
  const last = pick(r, LAST);
  const title = pick(r, TITLES);
  const start = date(r, 2008, 2025);
  return {
    external_id: empId(i),
    email: `${first}.${last}.${i}@acme-corp${tenant ? `-${tenant}` : ''}.example`.toLowerCase(),
    first_name: first,
    last_name: last,
    display_name: `${first} ${last}`,
    job_title: title,
    department: DEPARTMENTS[unit % DEPARTMENTS.length]!,
    org_unit_id: orgId(unit % units),
    manager_id: manager,
    location: pick(r, LOCATIONS),
    employee_number: String(tenant * 10_000_000 + 100000 + i),
    status: 'active',
    start_date: start,
    attributes: {
      cost_center: `CC-${pad(1000 + ((unit * 37) % 9000), 4)}`,
      employment_type: pick(r, TYPES),
      grade: `L${1 + Math.floor(r() * 8)}`,
      review_cycle: '2025-H1',
      work_phone: `+31 20 ${pad(Math.floor(r() * 10_000_000), 7)}`,
    },
  };
}

function employmentOf(e: EmployeeRec, i: number): EmploymentRec {
  return {
    external_id: emtId(i),
    employee_id: e.external_id,
    title: e.job_title,
    org_unit_id: e.org_unit_id,
    start_date: e.start_date,
    fte: e.attributes.employment_type === 'part_time' ? 0.8 : 1,
    primary: true,
    status: 'active',
  };
}

/** Draws `person` takes from the generator, always: what lets person `i` start at a known position. */
const DRAWS_PER_PERSON = 10;

export interface Generated {
  /** 0, or the company whose people these are when several integrations share a store. */
  tenant: number;
  /** Employees (and employments) of the base data set. */
  n: number;
  /** Org units of the base data set. */
  units: number;
  /** The base data set, generated as it is read. */
  base: RecordSource;
  /** Employee `i` as the base data set holds it (a fresh object each call). */
  employee(i: number): EmployeeRec;
  /** Employee index → number of direct reports (used to pick leavers and managers). */
  reportCount: Int32Array;
  /** Employee index → position in the reporting tree (0 = CEO); managers sit above their reports. */
  rank: Int32Array;
  /** Employee index → its unit's index. */
  unitOf: Int32Array;
}

/**
 * The base data set: `n` employees, `n` employments, `ceil(n / 40)` org units. `tenant` > 0 gives
 * another company's people (emails and employee numbers of their own) so that several
 * integrations can load into one store without matching each other's people.
 */
export function generate(n: number, seed = 20240611, tenant = 0): Generated {
  const r = prng(seed);
  const units = Math.max(1, Math.ceil(n / 40));
  // A random order of people is the tree's breadth-first order, so external ids say nothing about rank.
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const rank = new Int32Array(n);
  order.forEach((person, pos) => (rank[person] = pos));
  const managerOf = new Int32Array(n).fill(-1);
  const unitOf = new Int32Array(n);
  for (let pos = 1; pos < n; pos++) {
    // About seven reports per manager, a little uneven; always someone higher up.
    const mpos = Math.max(0, Math.floor((pos - 1) / 7) - Math.floor(r() * 3));
    const p = order[pos]!;
    const m = order[mpos]!;
    managerOf[p] = m;
    // Teams sit in their manager's unit; managers' teams spread over the units.
    unitOf[p] = pos < units ? pos : mpos % units;
  }
  const reportCount = new Int32Array(n);
  for (let i = 0; i < n; i++) if (managerOf[i]! >= 0) reportCount[managerOf[i]!]!++;

  // The draws the shuffle and the tree took; person i starts DRAWS_PER_PERSON × i after them.
  const first = 2 * Math.max(0, n - 1);
  const employee = (i: number) =>
    person(prngAt(seed, first + DRAWS_PER_PERSON * i), i, unitOf[i]!, managerOf[i]! >= 0 ? empId(managerOf[i]!) : null, units, tenant);
  const orgUnit = (u: number): OrgUnitRec => ({
    external_id: orgId(u),
    name: `${DEPARTMENTS[u % DEPARTMENTS.length]} ${u < DEPARTMENTS.length ? 'HQ' : `Team ${u}`}`,
    parent_id: u === 0 ? null : orgId(Math.floor((u - 1) / 5)),
    manager_id: empId(order[Math.min(n - 1, u)]!),
    status: 'active',
  });
  const base: RecordSource = {
    counts: { org_units: units, employees: n, employments: n },
    *org_units() {
      for (let u = 0; u < units; u++) yield orgUnit(u);
    },
    *employees() {
      for (let i = 0; i < n; i++) yield employee(i);
    },
    *employments() {
      for (let i = 0; i < n; i++) yield employmentOf(employee(i), i);
    },
  };
  return { tenant, n, units, base, employee, reportCount, rank, unitOf };
}

/** `k` distinct indexes in [0, n) that pass `ok`, in a seeded order. */
function sample(r: () => number, n: number, k: number, ok: (i: number) => boolean, taken: Set<number>): number[] {
  const out: number[] = [];
  let guard = 0;
  while (out.length < k && guard++ < n * 20) {
    const i = Math.floor(r() * n);
    if (taken.has(i) || !ok(i)) continue;
    taken.add(i);
    out.push(i);
  }
  return out;
}

/** One field-level change of the kind HR exports carry day to day. */
function changePerson(r: () => number, e: EmployeeRec, emt: EmploymentRec | undefined, g: Generated, i: number, kind: number): void {
  switch (kind % 5) {
    case 0: {
      // Promotion: the title moves on the employee and on the employment.
      e.job_title = TITLES[(TITLES.indexOf(e.job_title) + 1) % TITLES.length]!;
      if (emt) emt.title = e.job_title;
      break;
    }
    case 1: {
      e.location = LOCATIONS[(LOCATIONS.indexOf(e.location) + 1) % LOCATIONS.length]!;
      break;
    }
    case 2: {
      // New manager: someone ranked above, so the tree stays a tree.
      const rank = g.rank[i]!;
      if (rank > 1) {
        const byRank = g.rank;
        let m = -1;
        for (let tries = 0; tries < 50 && m < 0; tries++) {
          const c = Math.floor(r() * g.n);
          if (byRank[c]! < rank && g.reportCount[c]! > 0 && empId(c) !== e.manager_id) m = c;
        }
        if (m >= 0) {
          e.manager_id = empId(m);
          break;
        }
      }
      e.attributes = { ...e.attributes, grade: `L${1 + ((Number(String(e.attributes.grade).slice(1)) + 1) % 8)}` };
      break;
    }
    case 3: {
      e.attributes = { ...e.attributes, grade: `L${1 + ((Number(String(e.attributes.grade).slice(1)) + 1) % 8)}` };
      break;
    }
    default: {
      e.last_name = `${e.last_name}-${pick(r, LAST)}`;
      e.display_name = `${e.first_name} ${e.last_name}`;
    }
  }
}

function newPeople(r: () => number, g: Generated, count: number, firstIndex: number): { employees: EmployeeRec[]; employments: EmploymentRec[] } {
  const n = g.n;
  const units = g.units;
  const employees: EmployeeRec[] = [];
  const employments: EmploymentRec[] = [];
  for (let k = 0; k < count; k++) {
    const i = firstIndex + k;
    // Joiners report to an existing manager (someone with reports), in that manager's unit.
    let m = Math.floor(r() * n);
    for (let tries = 0; tries < 50 && g.reportCount[m] === 0; tries++) m = Math.floor(r() * n);
    const unit = (g.unitOf[m]! % units) % units;
    const e = person(r, i, unit, empId(m), units, g.tenant);
    employees.push(e);
    employments.push(employmentOf(e, i));
  }
  return { employees, employments };
}

/**
 * The base with some employees (and their employments) replaced, some left out and some
 * appended: only those are held, everything else is streamed from the base.
 */
function variant(
  g: Generated,
  changed: Map<number, { e: EmployeeRec; emt: EmploymentRec }>,
  gone: Set<number>,
  joiners: { employees: EmployeeRec[]; employments: EmploymentRec[] },
): RecordSource {
  const kept = g.n - gone.size;
  return {
    counts: { org_units: g.units, employees: kept + joiners.employees.length, employments: kept + joiners.employments.length },
    org_units: () => g.base.org_units(),
    *employees() {
      for (let i = 0; i < g.n; i++) if (!gone.has(i)) yield changed.get(i)?.e ?? g.employee(i);
      yield* joiners.employees;
    },
    *employments() {
      for (let i = 0; i < g.n; i++) if (!gone.has(i)) yield changed.get(i)?.emt ?? employmentOf(g.employee(i), i);
      yield* joiners.employments;
    },
  };
}

/** 1 % of employees changed, 0.5 % new (with employments), 0.5 % gone (leavers, with their employments). */
export function churn(g: Generated, seed = 7): RecordSource {
  const r = prng(seed);
  const n = g.n;
  const taken = new Set<number>();
  const leavers = new Set(sample(r, n, Math.round(n * 0.005), (i) => g.reportCount[i] === 0, taken));
  const changed = new Map<number, { e: EmployeeRec; emt: EmploymentRec }>();
  sample(r, n, Math.round(n * 0.01), () => true, taken).forEach((i, k) => {
    const e = g.employee(i);
    const emt = employmentOf(e, i);
    changePerson(r, e, emt, g, i, k);
    changed.set(i, { e, emt });
  });
  return variant(g, changed, leavers, newPeople(r, g, Math.round(n * 0.005), n));
}

/** Every record changed: a review cycle on every employee, a title on every employment, a renamed unit tree. */
export function everything(g: Generated): RecordSource {
  return {
    counts: g.base.counts,
    *org_units() {
      for (const o of g.base.org_units()) yield { ...o, name: `${o.name} (2025)` };
    },
    *employees() {
      for (const e of g.base.employees()) yield { ...e, attributes: { ...e.attributes, review_cycle: '2025-H2' } };
    },
    *employments() {
      for (const e of g.base.employments()) yield { ...e, fte: e.fte === 1 ? 0.9 : 1 };
    },
  };
}

/** A delta of `count` records: 90 % changed employees, the rest new employees with their employments. Small: held in memory. */
export function recentDelta(g: Generated, count = 1000, seed = 11): DataSet {
  const r = prng(seed);
  const n = g.n;
  const joinersCount = Math.max(1, Math.round(count * 0.05));
  const changed = sample(r, n, Math.min(n, count - 2 * joinersCount), () => true, new Set());
  const employees = changed.map((i, k) => {
    const e = g.employee(i);
    changePerson(r, e, undefined, g, i, k);
    return e;
  });
  const joiners = newPeople(r, g, joinersCount, n + 1_000_000);
  return { employees: employees.concat(joiners.employees), employments: joiners.employments, org_units: [] };
}

/** Lines of a data set as the NDJSON an HR export would write: one record per line, `entity` on each. */
export function* ndjsonLines(src: RecordSource | DataSet): Generator<string> {
  const s = sourceOf(src);
  for (const o of s.org_units()) yield JSON.stringify({ entity: 'org_unit', ...o });
  for (const e of s.employees()) yield JSON.stringify({ entity: 'employee', ...e });
  for (const e of s.employments()) yield JSON.stringify({ entity: 'employment', ...e });
}

/** `lines` (each without its newline) in chunks of about `bytes` characters, each line ended by a newline. */
export function* chunksOf(lines: Iterable<string>, bytes = 1 << 20): Generator<string> {
  let parts: string[] = [];
  let size = 0;
  for (const l of lines) {
    parts.push(l, '\n');
    size += l.length + 1;
    if (size >= bytes) {
      yield parts.join('');
      parts = [];
      size = 0;
    }
  }
  if (parts.length) yield parts.join('');
}

/** The data set as one NDJSON string: for small data sets (tests); large ones go through `writeNdjson`. */
export function toNdjson(d: RecordSource | DataSet): string {
  return [...chunksOf(ndjsonLines(d))].join('');
}

/** Writes chunks to `file` as they are made, one at a time; returns the bytes written. */
export function writeChunks(file: string, chunks: Iterable<string>): number {
  const fd = openSync(file, 'w');
  let bytes = 0;
  try {
    for (const c of chunks) {
      const b = Buffer.from(c, 'utf8');
      for (let off = 0; off < b.length; ) off += writeSync(fd, b, off);
      bytes += b.length;
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/** Writes the data set's NDJSON to `file` as a stream (about 1 MB in hand at a time); returns its size in bytes. */
export function writeNdjson(d: RecordSource | DataSet, file: string): number {
  return writeChunks(file, chunksOf(ndjsonLines(d)));
}
