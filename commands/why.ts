import { z } from 'zod';
import { ErrorCode, PeopleSyncError } from '../src/errors.js';
import type { FieldProvenance, PersonExplained, PersonResult, PersonSummary } from '../src/store/people-repo.js';
import type { IntegrationConfig } from '../src/config.js';
import type { CommandDefinition, CommandDeps } from './types.js';

/**
 * `why <email | external id | employee number>`: a person as stored, who set each field, and what the
 * last runs did with them, in words. The same answer backs `GET /api/people/:id`'s `explanation`.
 */

const WhyArgs = z.object({
  positional: z.array(z.string()).min(1, 'needs the person: an email, an external id or an employee number, e.g. why ana@example.com').max(1, 'takes one person'),
  flags: z.object({}).strict(),
});

const LABEL: Record<FieldProvenance['field'], string> = {
  email: 'Email',
  first_name: 'First name',
  last_name: 'Last name',
  display_name: 'Display name',
  job_title: 'Job title',
  department: 'Department',
  location: 'Location',
  employee_number: 'Employee number',
  start_date: 'Start date',
  end_date: 'End date',
  attributes: 'Attributes',
  org_unit_id: 'Org unit',
  manager_id: 'Manager',
  status: 'Status',
};

/** How many of the last results the answer tells. */
const RESULTS_TOLD = 5;

const day = (iso: string | null) =>
  iso ? new Date(iso).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }) : null;

function valueWords(p: FieldProvenance): string {
  if (p.field === 'attributes') {
    const keys = Object.keys((p.value as Record<string, unknown>) ?? {});
    return keys.length ? keys.slice(0, 8).join(', ') + (keys.length > 8 ? `, … (${keys.length})` : '') : 'none';
  }
  if (p.names !== undefined) return p.names ?? `#${String(p.value)}`;
  return String(p.value);
}

function setBy(p: FieldProvenance, names: ReadonlyMap<string, string>): string {
  if (p.run_id === null) return 'set before people-sync kept provenance';
  const who = p.integration_id ? (names.get(p.integration_id) ?? p.integration_id) : 'a run';
  const when = day(p.at);
  return `set by ${who} in run #${p.run_id}${when ? ` on ${when}` : ''}${p.how === 'created' ? ' (when it created the person)' : ''}`;
}

const VERB: Record<PersonResult['status'], string> = {
  created: 'created',
  updated: 'updated',
  unchanged: 'left unchanged',
  skipped: 'skipped',
  failed: 'failed',
  terminated: 'terminated',
  restored: 'restored',
};

function resultLine(r: PersonResult, who: string, names: ReadonlyMap<string, string>): string {
  const source = r.integration_id ? (names.get(r.integration_id) ?? r.integration_id) : 'all';
  const head = `${r.dry_run ? 'Dry run' : 'Run'} #${r.run_id} (${source}, ${r.mode}${day(r.finished_at) ? `, ${day(r.finished_at)}` : ''}) ${r.dry_run ? 'would have ' : ''}${VERB[r.status]} ${who}`;
  const fields = r.changes ? Object.keys(r.changes).map((f) => LABEL[f as FieldProvenance['field']]?.toLowerCase() ?? f) : [];
  const why = [
    r.status === 'updated' && fields.length ? fields.join(', ') : null,
    r.reason,
    r.errors?.length ? r.errors.map((e) => `${e.field}: ${e.message}`).join('; ') : null,
  ].filter(Boolean);
  return `${head}${why.length ? `: ${why.join('; ')}` : ''}.`;
}

/** The explanation in words, a line each. */
export function whyLines(x: PersonExplained, integrations: readonly IntegrationConfig[]): string[] {
  const names = new Map(integrations.map((i) => [i.id, i.name]));
  const owner = new Map<string, string>();
  for (const i of integrations) for (const f of i.owns) owner.set(f, i.name);
  const p = x.person;
  const short = p.first_name ?? p.name;
  const lines = [
    `${p.name} <${p.email}> is ${p.status}${p.job_title ? `, ${p.job_title}` : ''}${p.department ? ` in ${p.department}` : ''} (person #${p.id}).`,
    x.links.length
      ? `Linked to ${x.links.map((l) => `${names.get(l.integration_id) ?? l.integration_id} as ${l.external_id}`).join(', ')}.`
      : 'No integration links this person any more.',
  ];
  const missing: string[] = [];
  for (const f of x.provenance) {
    const empty = f.value === null || (f.field === 'attributes' && !Object.keys((f.value as object) ?? {}).length);
    const owned = owner.get(f.field) ? ` (owned by ${owner.get(f.field)})` : '';
    if (empty && (f.how !== 'changed' || f.run_id === null)) {
      missing.push(`${LABEL[f.field].toLowerCase()}${owned}`);
      continue;
    }
    if (empty) lines.push(`${LABEL[f.field]} is empty: cleared ${setBy(f, names).replace(/^set /, '')}${owned}.`);
    else lines.push(`${LABEL[f.field]} is ${valueWords(f)}, ${setBy(f, names)}${owned}.`);
  }
  if (missing.length) lines.push(`No source supplies ${short}'s ${missing.join(', ')}.`);
  if (x.manager_chain.length > 1) lines.push(`Reporting line: ${x.manager_chain.map((m) => m.name).join(' → ')}.`);
  for (const e of x.pending) lines.push(e.change === 'starts' ? `${short} starts on ${e.date}: the record becomes active that day.` : `${short} leaves on ${e.date}: active until the end of that day.`);
  const told = x.history.filter((h) => !h.dry_run).slice(0, RESULTS_TOLD);
  for (const r of told) lines.push(resultLine(r, short, names));
  if (!told.length) lines.push(`No run has changed, skipped or failed ${short} since they were stored (unchanged results are not kept per person).`);
  return lines;
}

/** A person the key names exactly, or an error that says what was found instead. */
export async function findPerson(deps: Pick<CommandDeps, 'store'>, key: string): Promise<PersonSummary> {
  const found = await deps.store.people.find(key);
  if (found.length === 1) return found[0]!;
  if (found.length > 1) {
    throw new PeopleSyncError(
      ErrorCode.Invalid,
      `"${key}" names ${found.length} people: ${found.slice(0, 5).map((f) => `#${f.id} ${f.name} <${f.email}>`).join(', ')}. Ask for one by email or person number.`,
    );
  }
  const near = await deps.store.people.search(key, 5, null);
  throw new PeopleSyncError(
    ErrorCode.NotFound,
    `Nobody is stored as "${key}" (email, external id or employee number).${near.items.length ? ` Similar: ${near.items.map((f) => `${f.name} <${f.email}>`).join(', ')}.` : ''}`,
  );
}

export const whyCommand = (): CommandDefinition<z.output<typeof WhyArgs>> => ({
  name: 'why',
  usage: 'why <email|external id|employee number>',
  summary: 'Explain a person: who set each field, and what the last runs did with them',
  admin: true,
  startsRun: false,
  parse: (args) => WhyArgs.safeParse(args),
  async run(input, _actor, deps) {
    const person = await findPerson(deps, input.positional[0]!);
    const x = await deps.store.people.explain(person.id);
    if (!x) throw new PeopleSyncError(ErrorCode.NotFound, `Person #${person.id} is no longer stored.`);
    return { kind: 'why', person: x.person.id, name: x.person.name, lines: whyLines(x, deps.integrations()) };
  },
});
