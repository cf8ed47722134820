import type {
  AllMiddlewareArgs,
  App,
  BlockAction,
  ButtonAction,
  PlainTextInputAction,
  SlackActionMiddlewareArgs,
  SlackViewMiddlewareArgs,
  StaticSelectAction,
  ViewSubmitAction,
} from '@slack/bolt';
import { z } from 'zod';
import { RECORD_STATUSES, totalsByStatus, type RecordStatus, type RunRecord } from '../../domain/run.js';
import { decodeCursor } from '../../store/runs-repo.js';
import { describeError } from '../../errors.js';
import {
  actions,
  button,
  clip,
  code,
  codeBlock,
  context,
  esc,
  header,
  input,
  joinWithin,
  LIMITS,
  metadata,
  modal,
  oneLine,
  option,
  section,
  slackLink,
  staticSelect,
  textInput,
  type ModalView,
} from '../blocks.js';
import { isPreview, noticeMessage, outcome, STATUS_EMOJI } from '../render.js';
import { noticeModal, openModal, tell, type SlackDeps } from '../deps.js';
import { platformError } from '../../slack-api/client.js';
import { refusal } from '../answers.js';
import { nameLookup, personName } from '../present.js';
import type { StoredPerson } from '../../store/runs-repo.js';
import type { Run } from '../../domain/run.js';
import { recordsPageUrl } from '../../links.js';

/**
 * The records browser: a modal of a run's per-record results, filtered by
 * status, searched by person, paged with the repository's cursors; a record
 * opens (pushed on top) with its errors, its changes as a diff, and the
 * payload the source sent. People the source no longer sends (terminations)
 * are shown as the store holds them: name, email, title, manager.
 *
 * Records are people's HR data: only admins and viewers may open them;
 * everyone else is told who can, on every button.
 */

export const PAGE_SIZE = 10;
const MAX_BACK = 100;
export const CALLBACK_ID = 'records';

export const RecordsState = z.object({
  run: z.number().int().positive(),
  status: z.enum(RECORD_STATUSES).nullable(),
  q: z.string().max(100).nullable(),
  cursor: z.string().max(64).nullable(),
  back: z.array(z.string().max(64).nullable()).max(MAX_BACK),
});
export type RecordsState = z.infer<typeof RecordsState>;

const RunId = z.string().regex(/^\d{1,15}$/).transform(Number);
const RecordRef = z.object({ r: z.number().int().positive(), i: z.number().int().nonnegative(), s: z.enum(RECORD_STATUSES) });

const RECORD_EMOJI: Record<RecordStatus, string> = {
  created: ':new:',
  updated: ':pencil2:',
  unchanged: ':white_small_square:',
  skipped: ':fast_forward:',
  terminated: ':wave:',
  restored: ':leftwards_arrow_with_hook:',
  failed: ':x:',
};

function str(payload: unknown, keys: string[]): string | null {
  if (!payload || typeof payload !== 'object') return null;
  for (const k of keys) {
    const v = (payload as Record<string, unknown>)[k];
    if (typeof v === 'string' && v.trim()) return v.trim();
  }
  return null;
}

/** What a record's status says: done, or (a dry run, a held run) what would happen — nothing says "terminated" before it happened. */
const PREVIEW_STATUS: Record<RecordStatus, string> = {
  created: 'would be created',
  updated: 'would be updated',
  unchanged: 'unchanged',
  skipped: 'would be skipped',
  terminated: 'would be terminated',
  restored: 'would be restored',
  failed: 'failed',
};

function statusWords(run: Pick<Run, 'dry_run' | 'status'>, s: RecordStatus): string {
  return isPreview(run) ? PREVIEW_STATUS[s] : s;
}

/** Who a record is about: from what the source sent, else from the store (people absent from the source sent nothing). */
export function recordName(r: Pick<RunRecord, 'external_id' | 'payload'>, stored?: StoredPerson): string {
  const p = r.payload;
  const full = [str(p, ['first_name', 'firstName', 'givenName']), str(p, ['last_name', 'lastName', 'surname'])].filter(Boolean).join(' ');
  return str(p, ['display_name', 'displayName', 'name']) ?? (full || null) ?? (stored ? personName(stored) : null) ?? str(p, ['email', 'mail']) ?? r.external_id;
}

function recordLine(run: Run, r: RunRecord, stored?: StoredPerson): string {
  const name = clip(recordName(r, stored), 80);
  const email = str(r.payload, ['email', 'mail']) ?? stored?.email ?? null;
  const first = r.errors?.[0] ? `${r.errors[0].field ? `${code(r.errors[0].field)}: ` : ''}${esc(r.errors[0].message)}${r.errors.length > 1 ? ` (+${r.errors.length - 1})` : ''}` : r.reason ? esc(r.reason) : null;
  const changed = r.changes ? Object.keys(r.changes).filter((k) => !(r.status === 'terminated' && k === 'status')).map((k) => code(k)).join(' ') : null;
  const role = stored ? [stored.job_title && esc(stored.job_title), stored.manager && `reports to ${esc(stored.manager)}`].filter(Boolean).join(' · ') : null;
  return [
    `${RECORD_EMOJI[r.status]} *${esc(name)}*${email && email !== name ? ` · ${esc(email)}` : ''} · ${code(r.external_id)}${r.entity !== 'employees' ? ` · ${esc(r.entity)}` : ''} — ${statusWords(run, r.status)}`,
    role ? clip(role, 400) : null,
    first ? clip(first, 400) : changed ? clip(`changed: ${changed}`, 400) : null,
  ]
    .filter(Boolean)
    .join('\n');
}

/** The stored people of a page of records, by result id (one query). */
async function storedOf(deps: SlackDeps, run: Run, items: RunRecord[]): Promise<Map<number, StoredPerson>> {
  // Unchanged rows have no result; the others carry their result's id.
  const ids = items.filter((r) => r.entity === 'employees' && r.status !== 'unchanged').map((r) => r.id);
  if (!ids.length) return new Map();
  const runIds = run.integration_id ? [run.id] : (await deps.commands.store.runs.children(run.id)).map((c) => c.id);
  const people = await deps.commands.store.runs.storedPeople({ runIds, ids, limit: ids.length });
  return new Map(people.map((p) => [p.result_id, p]));
}

/** The browser's modal for a state (one page of records). */
export async function recordsModal(deps: SlackDeps, state: RecordsState): Promise<ModalView> {
  const runs = deps.commands.store.runs;
  const run = await runs.get(state.run);
  if (!run) return noticeModal(noticeMessage(`There is no run #${state.run}.`, 'error'), 'Records');
  const view = await deps.commands.service.view(run);
  const totals = totalsByStatus(view.results);
  const after = state.cursor ? (decodeCursor(state.cursor) ?? undefined) : undefined;
  const page = await runs.records(run, { status: state.status ?? undefined, q: state.q ?? undefined, limit: PAGE_SIZE, after });
  const stored = await storedOf(deps, run, page.items);
  const all = RECORD_STATUSES.reduce((n, s) => n + totals[s], 0);
  const word = (s: RecordStatus) => statusWords(run, s);
  const filter = staticSelect({
    actionId: 'records_status',
    placeholder: 'Status',
    options: [
      option(`All records (${all})`, 'all'),
      ...RECORD_STATUSES.filter((s) => totals[s] > 0 || s === state.status).map((s) => option(`${word(s)[0]!.toUpperCase()}${word(s).slice(1)} (${totals[s]})`, s)),
    ],
    initial: state.status ?? 'all',
  });
  const pageNo = state.back.length + 1;
  const nav = actions(
    [
      !!state.cursor && !state.back.length && button('First page', 'records_first', 'first'),
      state.back.length > 0 && button('◀ Previous', 'records_prev', 'prev'),
      !!page.next_cursor && button('Next ▶', 'records_next', page.next_cursor),
    ],
    'records_nav',
  );
  const rows = page.items.map((r) =>
    section(recordLine(run, r, stored.get(r.id)), {
      accessory: button('Open', 'records_open', JSON.stringify({ r: run.id, i: r.id, s: r.status }), { label: clip(oneLine(`Open ${recordName(r, stored.get(r.id))}`), 75) }),
    }),
  );
  const what = [state.status ? word(state.status) : 'all records', state.q ? `matching “${esc(state.q)}”` : null].filter(Boolean).join(' ');
  return modal({
    callbackId: CALLBACK_ID,
    title: `Run #${run.id} records`,
    submit: 'Search',
    privateMetadata: metadata(state),
    blocks: [
      section(`${STATUS_EMOJI[view.status]} *${esc(outcome(view, { nameOf: nameLookup(deps.commands) }))}* · run #${view.id}`),
      actions([filter], 'records_filter'),
      input({
        blockId: 'records_search',
        label: 'Search by person',
        optional: true,
        dispatchAction: true,
        hint: 'Email, name or external id; press Enter or Search.',
        element: textInput({ actionId: 'records_search', placeholder: 'e.g. ana@example.com', initial: state.q, maxLength: 100, dispatchOnEnter: true }),
      }),
      ...(rows.length ? rows : [section(`No records (${what}).`)]),
      context([`Page ${pageNo} · ${what} · ${PAGE_SIZE} per page`]),
      deps.webUrl ? context([slackLink(recordsPageUrl(deps.webUrl, run.id, { status: state.status, q: state.q }), 'Open in browser')]) : null,
      nav,
    ],
  });
}

/** One record: its errors, the changes as a diff, and the payload the source sent. */
export async function recordModal(deps: SlackDeps, ref: z.infer<typeof RecordRef>): Promise<ModalView> {
  const runs = deps.commands.store.runs;
  const run = await runs.get(ref.r);
  if (!run) return noticeModal(noticeMessage(`There is no run #${ref.r}.`, 'error'), 'Record');
  // The record is the first one after its own id in its status (unchanged ones live in phase 1).
  const page = await runs.records(run, { status: ref.s, limit: 1, after: { phase: ref.s === 'unchanged' ? 1 : 0, id: ref.i - 1 } });
  const r = page.items.find((x) => x.id === ref.i);
  if (!r) return noticeModal(noticeMessage(`That record of run #${ref.r} is no longer stored.`, 'error'), 'Record');
  const [stored] = r.entity === 'employees' && r.status !== 'unchanged' ? await runs.storedPeople({ runIds: run.integration_id ? [run.id] : (await runs.children(run.id)).map((c) => c.id), ids: [r.id], limit: 1 }) : [];
  const payload = r.payload == null ? null : JSON.stringify(r.payload, null, 2);
  const errors = r.errors?.length
    ? joinWithin(r.errors.map((e) => `• ${e.field ? `${code(e.field)}: ` : ''}${esc(e.message)}`), LIMITS.sectionText - 20, (n) => `…and ${n} more`).text
    : null;
  const budget = LIMITS.sectionText - 20;
  const cut = (r.diff?.length ?? 0) > budget - 8 || (payload?.length ?? 0) > budget - 8;
  const person = stored
    ? [
        `*Email*\n${esc(stored.email)}`,
        `*Title*\n${esc(stored.job_title ?? '—')}`,
        `*Manager*\n${esc(stored.manager ?? '—')}`,
        ...(stored.department ? [`*Department*\n${esc(stored.department)}`] : []),
      ]
    : [];
  return modal({
    callbackId: 'record',
    title: 'Record',
    blocks: [
      header(`${recordName(r, stored)}`),
      section(null, {
        fields: [
          `*Status*\n${RECORD_EMOJI[r.status]} ${statusWords(run, r.status)}`,
          ...person,
          `*External id*\n${code(r.external_id)}`,
          ...(r.entity !== 'employees' ? [`*Entity*\n${esc(r.entity)}`] : []),
          `*Run*\n#${run.id}`,
        ],
      }),
      r.reason ? section(`*Why:* ${esc(r.reason)}`) : null,
      errors ? section(`*Errors*\n${errors}`) : null,
      r.diff && r.status !== 'terminated' ? section(`*Changes*\n${codeBlock(r.diff, budget)}`) : null,
      payload !== null
        ? section(`*What the source sent*\n${codeBlock(payload, budget)}`)
        : section(stored ? '_The source no longer sends this person; shown as people-sync holds them._' : '_The source sent nothing for this record._'),
      cut ? context(['Shortened to fit Slack; the whole record is in the runs API and the failures CSV.']) : null,
      deps.webUrl
        ? context([slackLink(recordsPageUrl(deps.webUrl, run.id, { status: r.status, entity: r.entity, q: r.external_id, open: r.external_id }), 'Open in browser')])
        : null,
    ],
  });
}

function stateOf(body: { view?: { private_metadata?: string } }): RecordsState {
  return RecordsState.parse(JSON.parse(body.view?.private_metadata || 'null'));
}

async function update(deps: SlackDeps, body: BlockAction, state: RecordsState): Promise<void> {
  if (await refused(deps, body, undefined)) return;
  const view = await recordsModal(deps, state);
  try {
    await deps.web.views.update({ view_id: body.view!.id, hash: body.view!.hash, view });
  } catch (err) {
    // Someone pressed twice: the later press already shows a newer page.
    if (platformError(err) === 'hash_conflict') return;
    throw err;
  }
}

type ActionArgs<A extends ButtonAction | StaticSelectAction | PlainTextInputAction> = SlackActionMiddlewareArgs<BlockAction<A>> & AllMiddlewareArgs;

function handler<A extends ButtonAction | StaticSelectAction | PlainTextInputAction>(deps: SlackDeps, what: string, fn: (args: ActionArgs<A>) => Promise<void>) {
  return async (args: ActionArgs<A>) => {
    try {
      await args.ack();
      await fn(args);
    } catch (err) {
      deps.log.error(`records browser: ${what} failed`, { user: args.body.user.id, error: describeError(err) });
      await tell(deps, args.body, args.respond, noticeMessage('Something went wrong on our side, and it is logged. Try again.', 'error')).catch(() => undefined);
    }
  };
}

/** Admins and viewers only; anyone else is told who can (true: refused). */
async function refused(deps: SlackDeps, body: BlockAction, respond: ActionArgs<ButtonAction>['respond'] | undefined): Promise<boolean> {
  if (await deps.admins.canView(body.user.id)) return false;
  await tell(deps, body, respond, refusal(deps, "open records: they show people's HR data", { viewers: true }));
  return true;
}

export function register(app: App, deps: SlackDeps): void {
  const open = (status: RecordStatus | null) =>
    handler<ButtonAction>(deps, 'open', async ({ action, body, respond }) => {
      const run = RunId.parse(action.value);
      if (await refused(deps, body, respond)) return;
      await openModal(deps, body, await recordsModal(deps, { run, status, q: null, cursor: null, back: [] }));
    });
  app.action<BlockAction<ButtonAction>>('run_records', open(null));
  app.action<BlockAction<ButtonAction>>('run_errors', open('failed'));
  app.action<BlockAction<ButtonAction>>('run_terminations', open('terminated'));

  app.action<BlockAction<StaticSelectAction>>(
    'records_status',
    handler<StaticSelectAction>(deps, 'filter', async ({ action, body }) => {
      const value = z.union([z.literal('all'), z.enum(RECORD_STATUSES)]).parse(action.selected_option?.value ?? 'all');
      await update(deps, body, { ...stateOf(body), status: value === 'all' ? null : value, cursor: null, back: [] });
    }),
  );
  app.action<BlockAction<PlainTextInputAction>>(
    'records_search',
    handler<PlainTextInputAction>(deps, 'search', async ({ action, body }) => {
      const q = z.string().max(100).parse(action.value ?? '').trim();
      await update(deps, body, { ...stateOf(body), q: q || null, cursor: null, back: [] });
    }),
  );
  app.action<BlockAction<ButtonAction>>(
    'records_next',
    handler<ButtonAction>(deps, 'next', async ({ action, body }) => {
      const state = stateOf(body);
      const next = z.string().max(64).refine((c) => decodeCursor(c) !== null).parse(action.value);
      await update(deps, body, { ...state, cursor: next, back: [...state.back, state.cursor].slice(-MAX_BACK) });
    }),
  );
  app.action<BlockAction<ButtonAction>>(
    'records_prev',
    handler<ButtonAction>(deps, 'previous', async ({ body }) => {
      const state = stateOf(body);
      await update(deps, body, { ...state, cursor: state.back.at(-1) ?? null, back: state.back.slice(0, -1) });
    }),
  );
  app.action<BlockAction<ButtonAction>>(
    'records_first',
    handler<ButtonAction>(deps, 'first page', async ({ body }) => {
      await update(deps, body, { ...stateOf(body), cursor: null, back: [] });
    }),
  );
  app.action<BlockAction<ButtonAction>>(
    'records_open',
    handler<ButtonAction>(deps, 'open record', async ({ action, body }) => {
      const ref = RecordRef.parse(JSON.parse(action.value ?? 'null'));
      if (await refused(deps, body, undefined)) return;
      await deps.web.views.push({ trigger_id: body.trigger_id, view: await recordModal(deps, ref) });
    }),
  );
  // The Search button submits the modal: answer with the searched page, the modal stays open.
  app.view<ViewSubmitAction>(CALLBACK_ID, async ({ ack, body, view }: SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs) => {
    try {
      const state = stateOf(body);
      const raw = view.state.values.records_search?.records_search?.value ?? '';
      const q = z.string().max(100).parse(raw ?? '').trim();
      if (!(await deps.admins.canView(body.user.id))) {
        await ack({ response_action: 'update', view: noticeModal(refusal(deps, "open records: they show people's HR data", { viewers: true }), 'Records') });
        return;
      }
      await ack({ response_action: 'update', view: await recordsModal(deps, { ...state, q: q || null, cursor: null, back: [] }) });
    } catch (err) {
      deps.log.error('records browser: search failed', { user: body.user.id, error: describeError(err) });
      await ack({ response_action: 'errors', errors: { records_search: 'Something went wrong on our side (it is logged). Try again.' } }).catch(() => undefined);
    }
  });
}
