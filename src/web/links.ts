/**
 * Addresses of the web window's pages under PUBLIC_URL, for the surfaces that point at them
 * (Slack's run messages, alerts and records modal). Pure: no import of the web surface itself.
 */

export function webBase(publicUrl: string | undefined): string | undefined {
  return publicUrl ? publicUrl.replace(/\/+$/, '') : undefined;
}

export const runPageUrl = (base: string, runId: number) => `${base}/ui/runs/${runId}`;

export function recordsPageUrl(base: string, runId: number, q: { status?: string | null; q?: string | null; entity?: string | null; open?: string | null } = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v) p.set(k, v);
  const s = p.toString();
  return `${base}/ui/runs/${runId}/records${s ? `?${s}` : ''}`;
}

/** A Slack mrkdwn link; `<`, `>` and `|` cannot appear in the address or the text. */
export const slackLink = (url: string, text: string) => `<${url.replace(/[<>|]/g, encodeURIComponent)}|${text.replace(/[<>|]/g, '')}>`;
