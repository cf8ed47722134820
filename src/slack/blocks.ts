import type { types } from '@slack/bolt';

/**
 * Block Kit builders that keep Slack's limits by construction: every text is
 * clipped to the limit of the place it goes, every list to its maximum count.
 * Build messages, modals and the Home tab only through these, and no run —
 * however large — can make Slack reject a payload.
 *
 * Texts given to `md()` are mrkdwn: escape data with `esc()` first.
 */

export type Block = types.KnownBlock;
export type View = types.View;
export type ModalView = types.ModalView;
export type HomeView = types.HomeView;
export type PlainText = types.PlainTextElement;
export type Mrkdwn = types.MrkdwnElement;
export type Button = types.Button;
export type Option = types.PlainTextOption;
export type Confirm = types.ConfirmationDialog;
export type ActionsElement = types.ActionsBlockElement;
export type InputElement = types.InputBlockElement;

/** https://docs.slack.dev/reference/block-kit — the limits this app relies on. */
export const LIMITS = {
  messageBlocks: 50,
  viewBlocks: 100,
  /** Our cap for every message's plain `text` fallback. */
  fallbackText: 4000,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  headerText: 150,
  contextElements: 10,
  contextText: 2000,
  actionsElements: 25,
  buttonText: 75,
  accessibilityLabel: 75,
  buttonValue: 2000,
  actionId: 255,
  blockId: 255,
  url: 3000,
  optionText: 75,
  optionValue: 150,
  options: 100,
  placeholder: 150,
  inputLabel: 2000,
  inputHint: 2000,
  initialValue: 3000,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  viewTitle: 24,
  viewButton: 24,
  callbackId: 255,
  privateMetadata: 3000,
} as const;

const ELLIPSIS = '…';

/**
 * Cuts `text` to at most `max` UTF-16 units, ending with "…" when cut. Never
 * splits a surrogate pair, an `&amp;`-style entity or a `<…>` link/mention,
 * and never returns an empty string (Slack rejects empty texts).
 */
export function clip(text: string | null | undefined, max: number, empty = '—'): string {
  const s = (text ?? '').replace(/\u0000/g, '');
  if (!s.trim()) return empty;
  if (s.length <= max) return s;
  let cut = s.slice(0, Math.max(0, max - ELLIPSIS.length));
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  cut = cut.replace(/&[a-z]{0,5}$/i, '').replace(/<[^<>]*$/, '');
  return cut + ELLIPSIS;
}

/** Escapes `&`, `<` and `>` only: for code, where mrkdwn formatting does not apply. */
export function escEntities(text: string | number | null | undefined): string {
  return String(text ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const ZWJ = '\u200d';
const WORD_CHAR = /[\p{L}\p{N}]/u;
const LINE_BREAK = /[\r\n\u2028\u2029\u0085\v\f]/;
const BREAK_RUN = /(?:\r\n|[\r\n\u2028\u2029\u0085\v\f])+/;
const isBlank = (c: number) => c === 32 || c === 9;

/**
 * Each run of line breaks, with the spaces and tabs around it, becomes one space. In time linear in the
 * text: a pattern such as `[ \t]*\n+[ \t]*` backtracks over every long run of spaces, and an HR system's
 * field of 100,000 spaces held the event loop for five seconds on each message that showed it.
 */
export function oneLine(text: string): string {
  if (!LINE_BREAK.test(text)) return text;
  const parts = text.split(BREAK_RUN);
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    let a = 0;
    let b = p.length;
    if (i > 0) while (a < b && isBlank(p.charCodeAt(a))) a++;
    if (i < parts.length - 1) while (b > a && isBlank(p.charCodeAt(b - 1))) b--;
    out += (i > 0 ? ' ' : '') + p.slice(a, b);
  }
  return out;
}
const EMOJI = /:([a-z0-9_+'-]+):/gi;
/** Anything escaping may change: most data has none of it and is returned as is. */
const SPECIAL = /[&<>`*_~:\r\n\u2028\u2029\u0085\v\f]/;

/**
 * Fences what mrkdwn would act on with zero-width joiners: a backtick
 * anywhere (code), `*` `_` `~` at a word's edge (bold, italics, strike —
 * inside a word, as in `max_terminations`, they do nothing).
 */
function fenceMarks(text: string): string {
  const s = text.replace(/`/g, `${ZWJ}\`${ZWJ}`);
  if (!/[*_~]/.test(s)) return s;
  return s.replace(/[*_~]/g, (m, i: number) => (WORD_CHAR.test(s[i - 1] ?? ' ') && WORD_CHAR.test(s[i + 1] ?? ' ') ? m : ZWJ + m + ZWJ));
}

/**
 * Like `esc`, but keeps line breaks and emoji: for text of our own that spans
 * lines and carries data (command answers, fallback texts).
 */
export function escLines(text: string | number | null | undefined): string {
  const s = String(text ?? '');
  if (!SPECIAL.test(s)) return s;
  return (
    fenceMarks(escEntities(s))
      // A line that starts with `>` would be a quote.
      .replace(/(^|\n)&gt;/g, `$1${ZWJ}&gt;`)
  );
}

/**
 * Escapes data (names, emails, messages from HR systems…) for mrkdwn, so it
 * shows exactly as written: `&`, `<` and `>` become entities (no pings, no
 * forged links), formatting marks are fenced with zero-width joiners (no
 * bold, italics, strike, code or emoji), and line breaks become spaces (no
 * lines of its own).
 */
export function esc(text: string | number | null | undefined): string {
  const s = String(text ?? '');
  if (!SPECIAL.test(s)) return s;
  const out = escLines(oneLine(s));
  return out.includes(':') ? out.replace(EMOJI, `:${ZWJ}$1${ZWJ}:`) : out;
}

/** Like `escLines`, but keeps user mentions `<@U123>` (our actor labels) clickable. */
export function escKeepMentions(text: string | null | undefined): string {
  return escLines(text).replace(/&lt;@([UW][A-Z0-9]{2,})&gt;/g, '<@$1>');
}

/** Inline code with backticks removed from the value. */
export function code(text: string | number | null | undefined): string {
  const v = oneLine(escEntities(text).replace(/`/g, "'"));
  return v ? '`' + v + '`' : '`—`';
}

/**
 * A fenced code block that fits `max` characters including the fences; inner
 * fences are broken so the block cannot end early.
 */
export function codeBlock(text: string, max: number = LIMITS.sectionText): string {
  const inner = escEntities(text).replace(/```/g, '`\u200b``');
  return '```\n' + clip(inner, max - 8, '(empty)') + '\n```';
}

/** A date Slack shows in each reader's own time zone. */
export function slackDate(iso: string | Date | null | undefined, format = '{date_short_pretty} {time}'): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const fallback = d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  return `<!date^${Math.floor(d.getTime() / 1000)}^${format}|${fallback}>`;
}

export function plain(text: string | null | undefined, max: number = LIMITS.headerText): PlainText {
  return { type: 'plain_text', text: clip(text, max), emoji: true };
}

export function md(text: string | null | undefined, max: number = LIMITS.sectionText): Mrkdwn {
  return { type: 'mrkdwn', text: clip(text, max) };
}

export function header(text: string): Block {
  return { type: 'header', text: plain(oneLine(text), LIMITS.headerText) };
}

export function divider(): Block {
  return { type: 'divider' };
}

export function section(
  text: string | null,
  options: { fields?: string[]; accessory?: Button | types.StaticSelect | types.Overflow; blockId?: string } = {},
): Block {
  const block: types.SectionBlock = { type: 'section' };
  if (text !== null || !options.fields?.length) block.text = md(text, LIMITS.sectionText);
  if (options.fields?.length) block.fields = options.fields.slice(0, LIMITS.sectionFields).map((f) => md(f, LIMITS.fieldText));
  if (options.accessory) block.accessory = options.accessory;
  if (options.blockId) block.block_id = clip(options.blockId, LIMITS.blockId);
  return block;
}

export function context(texts: string[]): Block {
  const elements = texts.filter((t) => t.trim()).slice(0, LIMITS.contextElements).map((t) => md(t, LIMITS.contextText));
  return { type: 'context', elements: elements.length ? elements : [md('—')] };
}

/** An actions block, or null when there is nothing to press. */
export function actions(elements: (ActionsElement | null | undefined | false)[], blockId?: string): Block | null {
  const list = elements.filter((e): e is ActionsElement => !!e).slice(0, LIMITS.actionsElements);
  if (!list.length) return null;
  const block: types.ActionsBlock = { type: 'actions', elements: list };
  if (blockId) block.block_id = clip(blockId, LIMITS.blockId);
  return block;
}

export function confirmDialog(o: { title: string; text: string; confirm: string; deny?: string; danger?: boolean }): Confirm {
  const dialog: Confirm = {
    title: plain(o.title, LIMITS.confirmTitle),
    text: md(o.text, LIMITS.confirmText),
    confirm: plain(o.confirm, LIMITS.confirmButton),
    deny: plain(o.deny ?? 'Cancel', LIMITS.confirmButton),
  };
  if (o.danger) dialog.style = 'danger';
  return dialog;
}

export function button(
  text: string,
  actionId: string,
  value?: string,
  options: { style?: 'primary' | 'danger'; confirm?: Confirm; url?: string; /** What a screen reader says when the visible text repeats (ten "Open" buttons). */ label?: string } = {},
): Button {
  if (value !== undefined && value.length > LIMITS.buttonValue) throw new RangeError(`button value for ${actionId} is over ${LIMITS.buttonValue} characters`);
  const b: Button = { type: 'button', text: plain(text, LIMITS.buttonText), action_id: clip(actionId, LIMITS.actionId) };
  if (value !== undefined) b.value = value;
  if (options.style) b.style = options.style;
  if (options.confirm) b.confirm = options.confirm;
  if (options.url) b.url = clip(options.url, LIMITS.url);
  if (options.label) b.accessibility_label = clip(options.label, LIMITS.accessibilityLabel);
  return b;
}

export function option(text: string, value: string): Option {
  if (value.length > LIMITS.optionValue) throw new RangeError(`option value is over ${LIMITS.optionValue} characters`);
  return { text: plain(clipWords(text, LIMITS.optionText), LIMITS.optionText), value };
}

/** Like `clip`, but cuts at a word boundary when there is one in the last third (labels read better whole-worded). */
export function clipWords(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - ELLIPSIS.length);
  const space = cut.lastIndexOf(' ');
  return clip(space > (max * 2) / 3 ? cut.slice(0, space).replace(/[\s,;:·(—-]+$/, '') + ELLIPSIS : text, max);
}

export function staticSelect(o: { actionId: string; placeholder: string; options: Option[]; initial?: string | null }): types.StaticSelect {
  const options = o.options.slice(0, LIMITS.options);
  const el: types.StaticSelect = {
    type: 'static_select',
    action_id: clip(o.actionId, LIMITS.actionId),
    placeholder: plain(o.placeholder, LIMITS.placeholder),
    options,
  };
  const initial = options.find((opt) => opt.value === o.initial);
  if (initial) el.initial_option = initial;
  return el;
}

export function textInput(o: {
  actionId: string;
  placeholder?: string;
  initial?: string | null;
  maxLength?: number;
  dispatchOnEnter?: boolean;
}): types.PlainTextInput {
  const el: types.PlainTextInput = { type: 'plain_text_input', action_id: clip(o.actionId, LIMITS.actionId) };
  if (o.placeholder) el.placeholder = plain(o.placeholder, LIMITS.placeholder);
  if (o.initial) el.initial_value = o.initial.slice(0, Math.min(o.maxLength ?? LIMITS.initialValue, LIMITS.initialValue));
  if (o.maxLength) el.max_length = Math.min(o.maxLength, LIMITS.initialValue);
  if (o.dispatchOnEnter) el.dispatch_action_config = { trigger_actions_on: ['on_enter_pressed'] };
  return el;
}

export function timePicker(o: { actionId: string; initial?: string | null }): types.Timepicker {
  const el: types.Timepicker = { type: 'timepicker', action_id: clip(o.actionId, LIMITS.actionId) };
  if (o.initial && /^([01]\d|2[0-3]):[0-5]\d$/.test(o.initial)) el.initial_time = o.initial;
  return el;
}

export function input(o: {
  blockId: string;
  label: string;
  element: InputElement;
  hint?: string;
  optional?: boolean;
  dispatchAction?: boolean;
}): Block {
  const block: types.InputBlock = {
    type: 'input',
    block_id: clip(o.blockId, LIMITS.blockId),
    label: plain(o.label, LIMITS.inputLabel),
    element: o.element,
  };
  if (o.hint) block.hint = plain(o.hint, LIMITS.inputHint);
  if (o.optional) block.optional = true;
  if (o.dispatchAction) block.dispatch_action = true;
  return block;
}

/**
 * At most `max` blocks: when there are more, the last kept one says how many
 * were left out (`note` words it).
 */
export function fitBlocks(blocks: (Block | null | undefined)[], max: number, note?: (hidden: number) => string): Block[] {
  const list = blocks.filter((b): b is Block => !!b);
  if (list.length <= max) return list;
  const keep = list.slice(0, max - 1);
  const hidden = list.length - keep.length;
  keep.push(context([note ? note(hidden) : `…${hidden} more not shown.`]));
  return keep;
}

/** A message payload: ≤ 50 blocks and a fallback `text` ≤ 4000 characters. */
export interface MessagePayload {
  text: string;
  blocks: Block[];
}

/**
 * A message from plain fallback text (as commands/render-text writes it) and
 * blocks. Slack reads `text` as mrkdwn and notifies from it, so it is escaped
 * here (our own `<@U…>` labels stay mentions).
 */
export function message(text: string, blocks: (Block | null | undefined)[], note?: (hidden: number) => string): MessagePayload {
  return { text: clip(escKeepMentions(text), LIMITS.fallbackText), blocks: fitBlocks(blocks, LIMITS.messageBlocks, note) };
}

/** Like `message`, for a fallback already written as escaped mrkdwn. */
export function mrkdwnMessage(text: string, blocks: (Block | null | undefined)[]): MessagePayload {
  return { text: clip(text, LIMITS.fallbackText), blocks: fitBlocks(blocks, LIMITS.messageBlocks) };
}

/** Keeps JSON private metadata under Slack's limit; throws rather than send a cut JSON. */
export function metadata(value: unknown): string {
  const s = JSON.stringify(value);
  if (s.length > LIMITS.privateMetadata) throw new RangeError(`private_metadata is ${s.length} characters (max ${LIMITS.privateMetadata})`);
  return s;
}

export function modal(o: {
  callbackId: string;
  title: string;
  blocks: (Block | null | undefined)[];
  submit?: string;
  close?: string;
  privateMetadata?: string;
  note?: (hidden: number) => string;
}): ModalView {
  const view: ModalView = {
    type: 'modal',
    callback_id: clip(o.callbackId, LIMITS.callbackId),
    title: plain(o.title, LIMITS.viewTitle),
    close: plain(o.close ?? 'Close', LIMITS.viewButton),
    blocks: fitBlocks(o.blocks, LIMITS.viewBlocks, o.note),
  };
  if (o.submit) view.submit = plain(o.submit, LIMITS.viewButton);
  if (o.privateMetadata !== undefined) view.private_metadata = o.privateMetadata;
  return view;
}

export function homeView(blocks: (Block | null | undefined)[], note?: (hidden: number) => string): HomeView {
  return { type: 'home', callback_id: 'home', blocks: fitBlocks(blocks, LIMITS.viewBlocks, note) };
}

/**
 * Lines joined with newlines until the next one would pass `max`; the rest
 * are counted in a last line written by `more`.
 */
export function joinWithin(lines: string[], max: number, more: (hidden: number) => string): { text: string; shown: number } {
  const out: string[] = [];
  let used = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const tail = i < lines.length - 1 ? more(lines.length - i).length + 1 : 0;
    if (used + line.length + 1 + tail > max) {
      const rest = lines.length - i;
      out.push(more(rest));
      return { text: out.join('\n'), shown: i };
    }
    out.push(line);
    used += line.length + 1;
  }
  return { text: out.join('\n'), shown: lines.length };
}

/** A Slack mrkdwn link; `<`, `>` and `|` cannot appear in the address or the text. */
export const slackLink = (url: string, text: string) => `<${url.replace(/[<>|]/g, encodeURIComponent)}|${text.replace(/[<>|]/g, '')}>`;
