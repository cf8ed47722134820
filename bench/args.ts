import { resolve } from 'node:path';

/** What `npm run bench -- …` was asked to do. */
export interface Args {
  size: number;
  /** `--scale`: the same scenarios at each of these sizes, one table; null: one size (`size`). */
  scale: number[] | null;
  /** Measured repetitions of the scenarios the targets are about (F0, F1, initial, steady, recent, push). */
  reps: number;
  /** … and of the others (F2, F3, churn, 100 % updated, dry runs): once by default, to keep the whole run to minutes. */
  repsOther: number;
  warmup: number;
  /** Warm-up runs of those others: none by default (each is one sample, marked n=1). */
  warmupOther: number;
  b1Reps: number;
  /** B1 over the whole data set is timed over every N-th record and scaled to all (1: the whole pass). */
  b1Sample: number;
  /** Scenarios with an F1 repetition run before each of theirs, for a ratio taken in the same minutes. */
  pairF1: Set<string>;
  only: Set<string> | null;
  json: string | null;
  /** Server log file: with it, every statement of the sync scenarios is logged with its duration. */
  profile: string | null;
  /** With `profile`: the plan (with timing and buffers) of every statement that took at least this many ms. */
  profilePlansMs: number;
  /** M-many: how many integrations, of how many employees each (default: `size`), and how many workers at once. */
  many: number;
  manySize: number | null;
  manyWorkers: number;
}

/** What `--scale` runs unless `--only` says otherwise: the scenarios the scale targets are about. */
export const SCALE_SCENARIOS = ['F1', 'F3', 'S-initial', 'S-steady', 'S-churn', 'R-recent'] as const;

export const USAGE =
  'npm run bench -- [--size N | --scale N,N,…] [--reps N] [--reps-other N] [--quick] [--warmup N] [--warmup-other N] [--b1-reps N] [--b1-sample N] [--pair-f1 ID,ID|none] [--only ID,ID] [--json FILE] [--profile SERVER_LOG_FILE [--profile-plans-ms MS]] [--many N] [--many-size N] [--many-workers N]\n' +
  '  --scale 10000,100000,1000000  the same scenarios at each size, one table (default --only ' +
  SCALE_SCENARIOS.join(',') +
  ', --reps 1, --warmup 0, --pair-f1 none unless given)\n' +
  '  --only M-many                 N integrations (--many, default 10) of --many-size employees (default --size) each, synced by one worker\n' +
  '                                one after the other and by --many-workers (default 2) at once, initial loads and steady states\n';

/** Parses the bench's arguments; throws on anything it does not know, with the flag's name. */
export function parseArgs(argv: string[]): Args | 'help' {
  const a: Args = {
    size: 100_000,
    scale: null,
    reps: 5,
    repsOther: 1,
    warmup: 1,
    warmupOther: 0,
    b1Reps: 1,
    b1Sample: 5,
    pairF1: new Set(['S-steady']),
    only: null,
    json: null,
    profile: null,
    profilePlansMs: 50,
    many: 10,
    manySize: null,
    manyWorkers: 2,
  };
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    const whole = (x: string, min: number) => {
      const n = Number(x.replace(/_/g, ''));
      if (!Number.isInteger(n) || n < min) throw new Error(`${k} must be a whole number ≥ ${min}${x === '' ? '' : ` (got ${x})`}`);
      return n;
    };
    const int = (min: number) => whole(v(), min);
    given.add(k);
    if (k === '--size') a.size = int(10);
    else if (k === '--scale') {
      const sizes = v().split(',').map((s) => s.trim()).filter(Boolean).map((s) => whole(s, 10));
      if (!sizes.length) throw new Error('--scale needs at least one size');
      if (new Set(sizes).size !== sizes.length) throw new Error('--scale: each size once');
      a.scale = sizes;
    } else if (k === '--reps') a.reps = a.repsOther = int(1);
    else if (k === '--reps-other') a.repsOther = int(1);
    else if (k === '--quick') Object.assign(a, { reps: 3, repsOther: 1, warmup: 0, warmupOther: 0 });
    else if (k === '--warmup') a.warmup = int(0);
    else if (k === '--warmup-other') a.warmupOther = int(0);
    else if (k === '--b1-reps') a.b1Reps = int(0);
    else if (k === '--b1-sample') a.b1Sample = int(1);
    else if (k === '--pair-f1') a.pairF1 = new Set(v().split(',').map((s) => s.trim()).filter((s) => s && s !== 'none'));
    else if (k === '--only') a.only = new Set(v().split(',').map((s) => s.trim()));
    else if (k === '--json') a.json = v();
    else if (k === '--profile') a.profile = resolve(v());
    else if (k === '--profile-plans-ms') a.profilePlansMs = int(0);
    else if (k === '--many') a.many = int(1);
    else if (k === '--many-size') a.manySize = int(10);
    else if (k === '--many-workers') a.manyWorkers = int(2);
    else if (k === '--help' || k === '-h') return 'help';
    else throw new Error(`unknown argument ${k} (try --help)`);
  }
  if (given.has('--profile-plans-ms') && !a.profile) throw new Error('--profile-plans-ms needs --profile (the server log the plans go to)');
  if (a.scale) {
    if (given.has('--size')) throw new Error('--scale and --size: give one (--scale lists the sizes)');
    if (!given.has('--only')) a.only = new Set(SCALE_SCENARIOS);
    const repsGiven = ['--reps', '--reps-other', '--quick'].some((f) => given.has(f));
    if (!repsGiven) a.reps = a.repsOther = 1;
    if (!given.has('--warmup') && !given.has('--quick')) a.warmup = 0;
    if (!given.has('--pair-f1')) a.pairF1 = new Set();
  }
  return a;
}
