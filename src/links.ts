/**
 * Addresses of the web window's pages under PUBLIC_URL, for the surfaces that point at them
 * (Slack's run messages, alerts and records modal). Pure, so a surface can link to another without importing it.
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
