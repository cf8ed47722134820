/**
 * Text renderings of Block Kit payloads, for docs/slack/gallery.md: every
 * message and modal the Slack surface produces, readable in one file. What
 * changes from run to run (dates, durations, temporary paths) is replaced by
 * a placeholder so the file only changes when the surface does.
 */

type Any = Record<string, any>;

export function normalise(text: string): string {
  return text
    .replace(/\u200d/g, '')
    .replace(/<!date\^\d+\^[^|>]*\|[^>]*>/g, '‹date›')
    .replace(/\b\d+(?:\.\d+)? (?:ms|s)\b|\b\d+ min \d+ s\b/g, '‹duration›')
    .replace(/\/tmp\/[\w./-]+/g, '‹path›');
}

function textOf(t: Any | undefined): string {
  return t ? normalise(String(t.text ?? '')) : '';
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => `${prefix}${l}`.trimEnd())
    .join('\n');
}

function element(e: Any): string {
  switch (e.type) {
    case 'button': {
      const style = e.style ? ` (${e.style})` : '';
      const label = e.accessibility_label ? ` «${normalise(e.accessibility_label)}»` : '';
      let out = `[${textOf(e.text)}]${style}${label}`;
      if (e.confirm) out += `\n    ↳ asks “${textOf(e.confirm.title)}”: ${textOf(e.confirm.text)} [${textOf(e.confirm.confirm)}] [${textOf(e.confirm.deny)}]`;
      return out;
    }
    case 'static_select':
      return `(select ${textOf(e.placeholder)}: ${(e.options ?? []).map((o: Any) => `${o.value === e.initial_option?.value ? '•' : '◦'} ${textOf(o.text)}`).join(' | ')})`;
    case 'plain_text_input':
      return `(text input${e.initial_value ? ` “${normalise(e.initial_value)}”` : ''}${e.placeholder ? `, placeholder “${textOf(e.placeholder)}”` : ''})`;
    case 'timepicker':
      return `(time ${e.initial_time ?? '—'})`;
    default:
      return `(${e.type})`;
  }
}

function block(b: Any): string {
  switch (b.type) {
    case 'header':
      return `# ${textOf(b.text)}`;
    case 'section': {
      const parts: string[] = [];
      if (b.text) parts.push(textOf(b.text));
      for (const f of b.fields ?? []) parts.push(indent(textOf(f).replace(/\n/, ': '), '  · '));
      if (b.accessory) parts.push(`  → ${element(b.accessory)}`);
      return parts.join('\n');
    }
    case 'context':
      return (b.elements ?? []).map((e: Any) => `_${textOf(e)}_`).join('\n');
    case 'actions':
      return (b.elements ?? []).map(element).join('\n');
    case 'input':
      return `${textOf(b.label)}${b.optional ? ' (optional)' : ''}: ${element(b.element)}${b.hint ? `\n  hint: ${textOf(b.hint)}` : ''}`;
    case 'divider':
      return '───';
    default:
      return `(${b.type})`;
  }
}

export function renderBlocks(blocks: Any[]): string {
  return blocks.map((b) => indent(block(b), '│ ')).join('\n');
}

export interface Shot {
  title: string;
  /** How it got there: `chat.postMessage in #alerts`, `views.open`, `ephemeral reply`… */
  via: string;
  /** A message (text + blocks) or a view. */
  payload: Any;
}

export function renderShot(s: Shot): string {
  const p = s.payload;
  const lines = [`### ${s.title}`, '', `*${s.via}*`, '', '```'];
  if (p.type === 'modal' || p.type === 'home') {
    lines.push(`▣ ${p.type === 'modal' ? `modal “${textOf(p.title)}”${p.submit ? ` [${textOf(p.submit)}]` : ''} [${textOf(p.close)}]` : 'Home tab'}`);
  } else {
    lines.push(`notification: ${normalise(String(p.text ?? ''))}`);
  }
  lines.push(renderBlocks(p.blocks ?? []), '```', '');
  return lines.join('\n');
}

export function renderGallery(intro: string, shots: { section: string; shots: Shot[] }[]): string {
  const out = [intro.trim(), ''];
  for (const s of shots) {
    out.push(`## ${s.section}`, '');
    for (const shot of s.shots) out.push(renderShot(shot));
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}
