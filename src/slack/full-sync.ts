import { z } from 'zod';
import { actions, button, code, esc, message, section, type MessagePayload } from './blocks.js';

/**
 * The question Slack asks before a full sync (it reads the whole data set and
 * may load the systems): Start, Dry run instead, or Cancel. `/sync all` asks
 * it; the buttons carry a {@link FullSyncValue} back to actions/.
 */

/** What the full-sync buttons carry. */
export const FullSyncValue = z.object({
  integration: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).nullable(),
  dry: z.boolean(),
});
export type FullSyncValue = z.infer<typeof FullSyncValue>;

/** The /sync text that starts the full sync a button stands for. */
export function fullSyncText(v: FullSyncValue): string {
  return ['all', v.integration, v.dry ? '--dry-run' : null].filter(Boolean).join(' ');
}

/** The question before a full sync: it reads the whole data set and may load the systems. */
export function fullSyncConfirmation(v: FullSyncValue, name: string | null): MessagePayload {
  // One level of emphasis: a name inside bold text would end it early.
  const what = v.integration ? `${esc(name ?? v.integration)} (${code(v.integration)})` : 'every integration';
  const body = [
    `:warning: *Full sync${v.dry ? ' as a dry run' : ''}* of ${what}?`,
    `It reads everyone from the HR system${v.integration ? '' : 's'} and compares them with what people-sync holds; that may load the HR system${v.integration ? '' : 's'} for a while.`,
    v.dry
      ? 'As a dry run it writes nothing; you can apply it afterwards.'
      : 'People the source no longer sends are terminated. If that is more than the integration allows (max_terminations), the run is held for your decision.',
  ].join('\n');
  const start = JSON.stringify(v);
  const label = name ?? v.integration ?? 'every integration';
  return message(`Full sync of ${label}${v.dry ? ' as a dry run' : ''}? It reads everyone and may load the HR system.`, [
    section(body),
    actions([
      button(v.dry ? 'Start dry run' : 'Start', 'fullsync_start', start, { style: 'primary' }),
      !v.dry && button('Dry run instead', 'fullsync_dry', JSON.stringify({ ...v, dry: true })),
      button('Cancel', 'fullsync_cancel', start),
    ]),
  ]);
}
