import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger, registerSecret } from '../../src/log.js';

/** `events:` in integrations.yml: validated when the configuration is read, every error naming the subscription and the field. */

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function load(events: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-events-config-'));
  const file = join(dir, 'integrations.yml');
  writeFileSync(join(dir, 'people.csv'), 'external_id,email\n');
  writeFileSync(
    file,
    `integrations:
  - { id: hr, kind: pull, provider: file, options: { path: people.csv } }
  - { id: payroll, kind: push }
events:
${events}
`,
  );
  return loadConfig({ INTEGRATIONS_FILE: file, EVENTS_SECRET: SECRET, ...env });
}

const message = (events: string, env?: Record<string, string>) => {
  try {
    load(events, env);
  } catch (err) {
    return (err as Error).message.replace(/^.*integrations\.yml: /, '');
  }
  throw new Error('loaded');
};

describe('events configuration', () => {
  it('reads subscriptions, and keeps their secrets out of the logs', () => {
    const c = load(`  - url: https://people.example.com/hooks
    secret: \${EVENTS_SECRET}
    types: [run.finished, people.changed, run.finished]
  - { url: "https://rules.example.com/in", secret: "${SECRET}", types: [integration.quarantined, integration.resumed, run.held], integrations: [payroll] }`);
    expect(c.events).toEqual([
      { url: 'https://people.example.com/hooks', secret: SECRET, types: ['run.finished', 'people.changed'], integrations: null },
      { url: 'https://rules.example.com/in', secret: SECRET, types: ['integration.quarantined', 'integration.resumed', 'run.held'], integrations: ['payroll'] },
    ]);
    expect(c.secrets).toContain(SECRET);
    for (const s of c.secrets) registerSecret(s);
    const lines: string[] = [];
    createLogger({ write: (l) => lines.push(l) }).info('signing', { detail: `with ${SECRET}` });
    expect(lines[0]).not.toContain(SECRET);
  });

  it('no events: key means no subscriptions', () => {
    expect(load('  []').events).toEqual([]);
  });

  it('names the subscription and the field of every mistake', () => {
    expect(message(`  - { url: "https://a.example.com/h", secret: "not-a-secret", types: [run.finished] }`)).toBe(
      'events #1 (https://a.example.com/h): secret: must be a Standard Webhooks secret: "whsec_" followed by base64 (for example ${PEOPLE_SYNC_EVENTS_SECRET})',
    );
    expect(message(`  - { url: "https://a.example.com/h", secret: "whsec_!!!!!!!!!!", types: [run.finished] }`)).toMatch(/^events #1 \(https:\/\/a\.example\.com\/h\): secret: must be a Standard Webhooks secret/);
    expect(message(`  - { url: "https://a.example.com/h", secret: "${SECRET}", types: [run.done] }`)).toBe(
      'events #1 (https://a.example.com/h): types.0: must be one of run.finished, run.held, people.changed, integration.quarantined, integration.resumed',
    );
    expect(message(`  - { url: "https://a.example.com/h", secret: "${SECRET}", types: [] }`)).toMatch(/types: must name at least one event type/);
    expect(message(`  - { url: "ftp://a.example.com/h", secret: "${SECRET}", types: [run.finished] }`)).toBe(
      'events #1 (ftp://a.example.com/h): url: must be an http:// or https:// URL such as https://people.example.com/hooks',
    );
    expect(message(`  - { secret: "${SECRET}" }`)).toBe(
      'events #1: url: is required; types: is required',
    );
    expect(message(`  - { url: "https://a.example.com/h", secret: "${SECRET}", types: [run.finished], integrations: [hr, nope] }`)).toBe(
      'events #1 (https://a.example.com/h): integrations.1: there is no integration "nope" in this file (configured: hr, payroll)',
    );
    expect(message(`  - { url: "https://a.example.com/h", secret: "${SECRET}", types: [run.finished], colour: blue }`)).toBe(
      'events #1 (https://a.example.com/h): (subscription): unknown key(s) colour',
    );
    expect(
      message(`  - { url: "https://a.example.com/h", secret: "${SECRET}", types: [run.finished] }
  - { url: "https://a.example.com/h", secret: "${SECRET}", types: [people.changed] }`),
    ).toBe('events #2 (https://a.example.com/h): url: is the URL of events #1 too: one subscription per URL (list all its types there)');
    expect(message(`  - { url: "https://a.example.com/h", secret: "\${MISSING_SECRET}", types: [run.finished] }`)).toBe(
      'events #1 (https://a.example.com/h): secret: environment variable MISSING_SECRET is not set',
    );
    expect(message(`  { url: "https://a.example.com/h" }`)).toMatch(/^top level: events: must be a list of subscriptions/);
  });
});
