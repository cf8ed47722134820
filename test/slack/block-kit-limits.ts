/**
 * Slack's Block Kit limits, written out independently of src/slack/blocks.ts
 * (https://docs.slack.dev/reference/block-kit): a payload checked here is one
 * Slack would accept as far as sizes and counts go. Returns the problems found.
 */

type Any = Record<string, any>;

const MENTION_ALL = /<!(channel|here|everyone)(\|[^>]*)?>/;

function text(o: unknown, where: string, max: number, problems: string[], kind?: 'plain_text' | 'mrkdwn'): void {
  if (!o || typeof o !== 'object') return void problems.push(`${where}: missing text object`);
  const t = o as Any;
  if (t.type !== 'plain_text' && t.type !== 'mrkdwn') problems.push(`${where}: text type ${t.type}`);
  if (kind && t.type !== kind) problems.push(`${where}: must be ${kind}`);
  if (typeof t.text !== 'string' || !t.text.trim()) problems.push(`${where}: empty text`);
  else if (t.text.length > max) problems.push(`${where}: ${t.text.length} > ${max} characters`);
  // plain_text is shown as typed; mrkdwn would ping.
  if (t.type === 'mrkdwn' && typeof t.text === 'string' && MENTION_ALL.test(t.text)) problems.push(`${where}: unescaped @channel/@here/@everyone`);
}

function confirm(c: Any, where: string, problems: string[]): void {
  text(c.title, `${where}.title`, 100, problems, 'plain_text');
  text(c.text, `${where}.text`, 300, problems);
  text(c.confirm, `${where}.confirm`, 30, problems, 'plain_text');
  text(c.deny, `${where}.deny`, 30, problems, 'plain_text');
}

function element(e: Any, where: string, problems: string[]): void {
  if (typeof e.action_id === 'string' && e.action_id.length > 255) problems.push(`${where}.action_id > 255`);
  switch (e.type) {
    case 'button':
      text(e.text, `${where}.text`, 75, problems, 'plain_text');
      if (e.value !== undefined && String(e.value).length > 2000) problems.push(`${where}.value > 2000`);
      if (e.url !== undefined && String(e.url).length > 3000) problems.push(`${where}.url > 3000`);
      if (e.style !== undefined && !['primary', 'danger'].includes(e.style)) problems.push(`${where}.style ${e.style}`);
      if (e.accessibility_label !== undefined && (typeof e.accessibility_label !== 'string' || !e.accessibility_label.trim() || e.accessibility_label.length > 75)) problems.push(`${where}.accessibility_label (1–75 characters)`);
      if (e.confirm) confirm(e.confirm, `${where}.confirm`, problems);
      break;
    case 'static_select': {
      text(e.placeholder, `${where}.placeholder`, 150, problems, 'plain_text');
      const options: Any[] = e.options ?? [];
      if (!options.length || options.length > 100) problems.push(`${where}: ${options.length} options (1–100)`);
      options.forEach((o, i) => {
        text(o.text, `${where}.options[${i}].text`, 75, problems);
        if (typeof o.value !== 'string' || o.value.length > 150) problems.push(`${where}.options[${i}].value > 150`);
      });
      if (e.initial_option && !options.some((o) => o.value === e.initial_option.value)) problems.push(`${where}.initial_option is not an option`);
      break;
    }
    case 'plain_text_input':
      if (e.placeholder) text(e.placeholder, `${where}.placeholder`, 150, problems, 'plain_text');
      if (e.initial_value !== undefined && String(e.initial_value).length > 3000) problems.push(`${where}.initial_value > 3000`);
      if (e.max_length !== undefined && e.max_length > 3000) problems.push(`${where}.max_length > 3000`);
      break;
    case 'timepicker':
      if (e.initial_time !== undefined && !/^([01]\d|2[0-3]):[0-5]\d$/.test(e.initial_time)) problems.push(`${where}.initial_time`);
      break;
    default:
      problems.push(`${where}: unexpected element ${e.type}`);
  }
}

export function checkBlocks(blocks: unknown, max: number, where: string): string[] {
  const problems: string[] = [];
  if (!Array.isArray(blocks)) return [`${where}: blocks is not an array`];
  if (blocks.length > max) problems.push(`${where}: ${blocks.length} blocks > ${max}`);
  blocks.forEach((b: Any, i) => {
    const w = `${where}[${i}] ${b.type}`;
    if (b.block_id !== undefined && String(b.block_id).length > 255) problems.push(`${w}.block_id > 255`);
    switch (b.type) {
      case 'header':
        text(b.text, w, 150, problems, 'plain_text');
        break;
      case 'section':
        if (!b.text && !b.fields) problems.push(`${w}: neither text nor fields`);
        if (b.text) text(b.text, w, 3000, problems);
        if (b.fields) {
          if (b.fields.length > 10) problems.push(`${w}: ${b.fields.length} fields > 10`);
          b.fields.forEach((f: Any, k: number) => text(f, `${w}.fields[${k}]`, 2000, problems));
        }
        if (b.accessory) element(b.accessory, `${w}.accessory`, problems);
        break;
      case 'context':
        if (!b.elements?.length || b.elements.length > 10) problems.push(`${w}: ${b.elements?.length} elements (1–10)`);
        (b.elements ?? []).forEach((e: Any, k: number) => text(e, `${w}.elements[${k}]`, 2000, problems));
        break;
      case 'actions':
        if (!b.elements?.length || b.elements.length > 25) problems.push(`${w}: ${b.elements?.length} elements (1–25)`);
        (b.elements ?? []).forEach((e: Any, k: number) => element(e, `${w}.elements[${k}]`, problems));
        break;
      case 'input':
        text(b.label, `${w}.label`, 2000, problems, 'plain_text');
        if (b.hint) text(b.hint, `${w}.hint`, 2000, problems, 'plain_text');
        element(b.element, `${w}.element`, problems);
        break;
      case 'divider':
        break;
      default:
        problems.push(`${w}: unexpected block type`);
    }
  });
  return problems;
}

/** chat.postMessage / chat.update / response_url / ack bodies. */
export function checkMessage(m: Any, where: string): string[] {
  const problems: string[] = [];
  if (typeof m.text !== 'string' || !m.text.trim()) problems.push(`${where}: no text fallback`);
  else if (m.text.length > 4000) problems.push(`${where}: text ${m.text.length} > 4000`);
  if (typeof m.text === 'string' && MENTION_ALL.test(m.text)) problems.push(`${where}: unescaped @channel in text`);
  if (m.blocks !== undefined) problems.push(...checkBlocks(m.blocks, 50, `${where}.blocks`));
  return problems;
}

/** views.open / push / update / publish, and response_action views. */
export function checkView(v: Any, where: string): string[] {
  const problems: string[] = [];
  if (v.type === 'modal') {
    text(v.title, `${where}.title`, 24, problems, 'plain_text');
    if (v.submit) text(v.submit, `${where}.submit`, 24, problems, 'plain_text');
    if (v.close) text(v.close, `${where}.close`, 24, problems, 'plain_text');
    if (v.blocks?.some((b: Any) => b.type === 'input') && !v.submit) problems.push(`${where}: input blocks need a submit button`);
  } else if (v.type !== 'home') problems.push(`${where}: view type ${v.type}`);
  if (v.private_metadata !== undefined && String(v.private_metadata).length > 3000) problems.push(`${where}.private_metadata > 3000`);
  if (v.callback_id !== undefined && String(v.callback_id).length > 255) problems.push(`${where}.callback_id > 255`);
  problems.push(...checkBlocks(v.blocks, 100, `${where}.blocks`));
  return problems;
}

/** Every payload a fake Slack received. */
export function checkAll(calls: { method: string; body: Any }[], responses: { body: Any }[]): string[] {
  const problems: string[] = [];
  for (const c of calls) {
    if (c.method === 'chat.postMessage' || c.method === 'chat.update') problems.push(...checkMessage(c.body, c.method));
    else if (c.method.startsWith('views.')) problems.push(...checkView(c.body.view, c.method));
    else if (c.method === 'files.completeUploadExternal' && String(c.body.initial_comment ?? '').length > 4000) problems.push('initial_comment > 4000');
  }
  for (const r of responses) problems.push(...checkMessage(r.body, 'response_url'));
  return problems;
}
