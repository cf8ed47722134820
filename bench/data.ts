/**
 * Deterministic synthetic HR data: employees in a realistic reporting tree,
 * one primary employment each, and an org-unit tree. Same seed, same bytes.
 *
 * The data set is held as plain records (source shape, as an HR export sends
 * them); variants (changes, new people, leavers) are derived from the base by
 * their own seeded generators, so every scenario is reproducible on its own.
 */

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

export const rowsOf = (d: DataSet) => d.employees.length + d.employments.length + d.org_units.length;

/** Every `k`-th record of each entity (the first, the k+1-th, …): the same kinds of records, spread over the data set. */
export function everyNth(d: DataSet, k: number): DataSet {
  const pick = <T>(xs: T[]) => (k === 1 ? xs : xs.filter((_, i) => i % k === 0));
  return { employees: pick(d.employees), employments: pick(d.employments), org_units: pick(d.org_units) };
}

/** mulberry32: tiny, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
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

function person(r: () => number, i: number, unit: number, manager: string | null, units: number): EmployeeRec {
  const first = pick(r, FIRST);
  const last = pick(r, LAST);
  const title = pick(r, TITLES);
  const start = date(r, 2008, 2025);
  return {
    external_id: empId(i),
    email: `${first}.${last}.${i}@acme-corp.example`.toLowerCase(),
    first_name: first,
    last_name: last,
    display_name: `${first} ${last}`,
    job_title: title,
    department: DEPARTMENTS[unit % DEPARTMENTS.length]!,
    org_unit_id: orgId(unit % units),
    manager_id: manager,
    location: pick(r, LOCATIONS),
    employee_number: String(100000 + i),
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

export interface Generated {
  base: DataSet;
  /** Employee index → indexes of direct reports (used to pick leavers and managers). */
  reports: number[][];
  /** Employee index → position in the reporting tree (0 = CEO); managers sit above their reports. */
  rank: number[];
}

/** The base data set: `n` employees, `n` employments, `ceil(n / 40)` org units. */
export function generate(n: number, seed = 20240611): Generated {
  const r = prng(seed);
  const units = Math.max(1, Math.ceil(n / 40));
  // A random order of people is the tree's breadth-first order, so external ids say nothing about rank.
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const rank = new Array<number>(n);
  order.forEach((person, pos) => (rank[person] = pos));
  const managerOf = new Array<number>(n).fill(-1);
  const unitOf = new Array<number>(n).fill(0);
  for (let pos = 1; pos < n; pos++) {
    // About seven reports per manager, a little uneven; always someone higher up.
    const mpos = Math.max(0, Math.floor((pos - 1) / 7) - Math.floor(r() * 3));
    const p = order[pos]!;
    const m = order[mpos]!;
    managerOf[p] = m;
    // Teams sit in their manager's unit; managers' teams spread over the units.
    unitOf[p] = pos < units ? pos : mpos % units;
  }
  const reports: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) if (managerOf[i]! >= 0) reports[managerOf[i]!]!.push(i);

  const employees = new Array<EmployeeRec>(n);
  for (let i = 0; i < n; i++) {
    employees[i] = person(r, i, unitOf[i]!, managerOf[i]! >= 0 ? empId(managerOf[i]!) : null, units);
  }
  const employments = employees.map((e, i) => employmentOf(e, i));
  const org_units: OrgUnitRec[] = [];
  for (let u = 0; u < units; u++) {
    const head = order[Math.min(n - 1, u)]!;
    org_units.push({
      external_id: orgId(u),
      name: `${DEPARTMENTS[u % DEPARTMENTS.length]} ${u < DEPARTMENTS.length ? 'HQ' : `Team ${u}`}`,
      parent_id: u === 0 ? null : orgId(Math.floor((u - 1) / 5)),
      manager_id: empId(head),
      status: 'active',
    });
  }
  return { base: { employees, employments, org_units }, reports, rank };
}

const clone = <T>(x: T): T => structuredClone(x);

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
          const c = Math.floor(r() * g.base.employees.length);
          if (byRank[c]! < rank && g.reports[c]!.length > 0 && empId(c) !== e.manager_id) m = c;
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
  const n = g.base.employees.length;
  const units = g.base.org_units.length;
  const employees: EmployeeRec[] = [];
  const employments: EmploymentRec[] = [];
  for (let k = 0; k < count; k++) {
    const i = firstIndex + k;
    // Joiners report to an existing manager (someone with reports), in that manager's unit.
    let m = Math.floor(r() * n);
    for (let tries = 0; tries < 50 && g.reports[m]!.length === 0; tries++) m = Math.floor(r() * n);
    const unit = Number(g.base.employees[m]!.org_unit_id.slice(2)) % units;
    const e = person(r, i, unit, empId(m), units);
    employees.push(e);
    employments.push(employmentOf(e, i));
  }
  return { employees, employments };
}

/** 1 % of employees changed, 0.5 % new (with employments), 0.5 % gone (leavers, with their employments). */
export function churn(g: Generated, seed = 7): DataSet {
  const r = prng(seed);
  const n = g.base.employees.length;
  const d = clone(g.base);
  const taken = new Set<number>();
  const leavers = new Set(sample(r, n, Math.round(n * 0.005), (i) => g.reports[i]!.length === 0, taken));
  const changed = sample(r, n, Math.round(n * 0.01), () => true, taken);
  changed.forEach((i, k) => changePerson(r, d.employees[i]!, d.employments[i], g, i, k));
  const joiners = newPeople(r, g, Math.round(n * 0.005), n);
  d.employees = d.employees.filter((_, i) => !leavers.has(i)).concat(joiners.employees);
  d.employments = d.employments.filter((_, i) => !leavers.has(i)).concat(joiners.employments);
  return d;
}

/** Every record changed: a review cycle on every employee, a title on every employment, a renamed unit tree. */
export function everything(g: Generated): DataSet {
  const d = clone(g.base);
  for (const e of d.employees) e.attributes = { ...e.attributes, review_cycle: '2025-H2' };
  for (const e of d.employments) e.fte = e.fte === 1 ? 0.9 : 1;
  for (const o of d.org_units) o.name = `${o.name} (2025)`;
  return d;
}

/** A delta of `count` records: 90 % changed employees, the rest new employees with their employments. */
export function recentDelta(g: Generated, count = 1000, seed = 11): DataSet {
  const r = prng(seed);
  const n = g.base.employees.length;
  const joinersCount = Math.max(1, Math.round(count * 0.05));
  const changed = sample(r, n, Math.min(n, count - 2 * joinersCount), () => true, new Set());
  const employees = changed.map((i, k) => {
    const e = clone(g.base.employees[i]!);
    changePerson(r, e, undefined, g, i, k);
    return e;
  });
  const joiners = newPeople(r, g, joinersCount, n + 1_000_000);
  return { employees: employees.concat(joiners.employees), employments: joiners.employments, org_units: [] };
}

/** The data set as the NDJSON an HR export would write: one record per line, `entity` on each. */
export function toNdjson(d: DataSet): string {
  const parts: string[] = [];
  for (const o of d.org_units) parts.push(JSON.stringify({ entity: 'org_unit', ...o }));
  for (const e of d.employees) parts.push(JSON.stringify({ entity: 'employee', ...e }));
  for (const e of d.employments) parts.push(JSON.stringify({ entity: 'employment', ...e }));
  return parts.join('\n') + '\n';
}
