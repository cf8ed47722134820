import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { redactText } from '../src/log.js';

function withFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-config-'));
  const file = join(dir, 'integrations.yml');
  writeFileSync(file, yaml);
  writeFileSync(join(dir, 'people.csv'), 'external_id,email\n');
  return file;
}

const ok = `
integrations:
  - id: hr
    kind: pull
    provider: file
    options: { path: people.csv }
    max_terminations: 25
    mapping:
      first_name: "{{givenName}}"
    schedules:
      - { mode: full, cron: "0 2 * * *", timezone: Europe/Amsterdam }
  - id: push-hr
    kind: push
    webhook:
      tokens: ["\${PUSH_TOKEN}"]
`;

describe('config', () => {
  it('returns its secrets instead of registering them: loading is a pure function of its inputs', () => {
    const c = loadConfig({ INTEGRATIONS_FILE: withFile(ok), PUSH_TOKEN: 'a-very-long-push-token', ADMIN_API_TOKEN: 'admin-token-0123456789', SLACK_BOT_TOKEN: 'xoxb-not-a-real-token' });
    expect([...c.secrets].sort()).toEqual(['a-very-long-push-token', 'admin-token-0123456789', 'xoxb-not-a-real-token']);
    // Nothing was registered with the logger on the way.
    expect(redactText('a-very-long-push-token admin-token-0123456789')).toBe('a-very-long-push-token admin-token-0123456789');
  });

  it('leaves a file path as written: the file provider resolves it against the integrations file', () => {
    const c = loadConfig({ INTEGRATIONS_FILE: withFile(ok), PUSH_TOKEN: 'a-very-long-push-token' });
    expect(c.integrations[0]!.options).toMatchObject({ path: 'people.csv' });
  });

  it('reads the environment and integrations file into a frozen object with defaults', () => {
    const c = loadConfig({ INTEGRATIONS_FILE: withFile(ok), PUSH_TOKEN: 'a-very-long-push-token' });
    expect(c.port).toBe(3000);
    expect(c.importMaxBytes).toBe(50 * 1024 * 1024);
    expect(c.heapGrowthPercent).toBe(50);
    const [hr, push] = c.integrations;
    expect(hr).toMatchObject({ id: 'hr', name: 'hr', match_key: 'external_id', write: 'create_update', max_terminations: { kind: 'count', value: 25 } });
    expect(hr!.mapping).toEqual({ employees: { first_name: '{{givenName}}' } });
    expect(hr!.schedules).toEqual([{ mode: 'full', every_hours: null, cron: '0 2 * * *', timezone: 'Europe/Amsterdam', enabled: true }]);
    expect(push!.webhook.tokens).toEqual(['a-very-long-push-token']);
    expect(push!.max_terminations).toEqual({ kind: 'percent', value: 10 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.integrations[0]!.schedules)).toBe(true);
  });

  it('names the bad environment variable', () => {
    expect(() => loadConfig({ INTEGRATIONS_FILE: withFile(ok), PUSH_TOKEN: 'a-very-long-push-token', PORT: 'eighty' })).toThrow(
      /PORT must be a whole number between 0 and 65535 \(got "eighty"\)/,
    );
    expect(() => loadConfig({ INTEGRATIONS_FILE: withFile(ok), PUSH_TOKEN: 'a-very-long-push-token', DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ INTEGRATIONS_FILE: withFile(ok), PUSH_TOKEN: 'a-very-long-push-token', HEAP_GROWTH_PERCENT: '-5' })).toThrow(
      /HEAP_GROWTH_PERCENT must be a whole number between 0 and 300 \(got "-5"\)/,
    );
    expect(loadConfig({ INTEGRATIONS_FILE: withFile(ok), PUSH_TOKEN: 'a-very-long-push-token', HEAP_GROWTH_PERCENT: '0' }).heapGrowthPercent).toBe(0);
  });

  it('refuses a stale limit below three heartbeats, naming both variables', () => {
    const env = { INTEGRATIONS_FILE: withFile(ok), PUSH_TOKEN: 'a-very-long-push-token' };
    expect(() => loadConfig({ ...env, RUN_HEARTBEAT_SECONDS: '10', RUN_STALE_AFTER_SECONDS: '20' })).toThrow(
      /Invalid environment: RUN_STALE_AFTER_SECONDS must be at least three times RUN_HEARTBEAT_SECONDS \(30; got 20 with RUN_HEARTBEAT_SECONDS 10\)/,
    );
    expect(() => loadConfig({ ...env, RUN_STALE_AFTER_SECONDS: '15' })).toThrow(/at least three times RUN_HEARTBEAT_SECONDS/);
    expect(loadConfig({ ...env, RUN_HEARTBEAT_SECONDS: '5', RUN_STALE_AFTER_SECONDS: '15' }).runStaleAfterSeconds).toBe(15);
  });

  it('refuses to let "everyone in the workspace" read the web window when no bot token says which workspace that is', () => {
    const env = { INTEGRATIONS_FILE: withFile(ok), PUSH_TOKEN: 'a-very-long-push-token', SLACK_CLIENT_ID: '111.222', SLACK_CLIENT_SECRET: 'secret-0123' };
    expect(() => loadConfig({ ...env, UI_READERS: 'everyone-in-workspace' })).toThrow(/UI_READERS=everyone-in-workspace needs SLACK_BOT_TOKEN/);
    expect(loadConfig({ ...env, UI_READERS: 'everyone-in-workspace', SLACK_BOT_TOKEN: 'xoxb-test-token' }).web.readers).toBe('everyone-in-workspace');
    expect(loadConfig({ ...env, UI_READERS: 'admins' }).web.readers).toBe('admins');
  });

  it.each([
    ['an unknown key', ok.replace('max_terminations: 25', 'max_termination: 25'), /integration "hr" \(#1\): \(integration\): unknown key\(s\) max_termination/],
    ['a bad percentage', ok.replace('max_terminations: 25', 'max_terminations: 10 percent'), /integration "hr" \(#1\): max_terminations: must be a number of people/],
    ['a bad schedule', ok.replace('cron: "0 2 * * *"', 'every: 5h'), /integration "hr" \(#1\): schedules\.0\.every: must be one of 3h, 6h, 12h, 24h/],
    ['a cron it cannot run', ok.replace('cron: "0 2 * * *"', 'cron: "0 25 * * *"'), /schedules\.0\.cron: must be a 5-field cron expression such as "0 2 \* \* \*" \(Constraint error, got value 25 expected range 0-23\)/],
    ['a bad time zone', ok.replace('Europe/Amsterdam', 'Mars/Olympus'), /schedules\.0\.timezone: is not a known IANA time zone/],
    ['an unknown provider', ok.replace('provider: file', 'provider: workday'), /integration "hr" \(#1\): provider: unknown provider "workday"/],
    ['bad provider options', ok.replace('options: { path: people.csv }', 'options: { pth: people.csv }'), /integration "hr" \(#1\): options.path: is required; options: unknown key\(s\) pth/],
    ['a bad match key', ok.replace('max_terminations: 25', 'match_key: phone'), /match_key: must be one of external_id, email, employee_number/],
    ['a bad webhook secret', ok.replace('tokens: ["${PUSH_TOKEN}"]', 'secrets: ["abc"]'), /integration "push-hr" \(#2\): webhook\.secrets\.0: must be a Standard Webhooks secret/],
    ['a duplicate id', ok.replace('id: push-hr', 'id: hr'), /integration "hr" \(#2\): id: "hr" is used by more than one integration/],
    ['invalid YAML', 'integrations: [', /not valid YAML/],
  ])('stops with the file, integration and key named: %s', (_name, yaml, message) => {
    const file = withFile(yaml);
    const err = (() => {
      try {
        loadConfig({ INTEGRATIONS_FILE: file, PUSH_TOKEN: 'a-very-long-push-token' });
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected the config to be rejected');
    })();
    expect(err.message.startsWith(file)).toBe(true);
    expect(err.message).toMatch(message);
  });

  it('names a missing ${VAR} and where it is used', () => {
    expect(() => loadConfig({ INTEGRATIONS_FILE: withFile(ok) })).toThrow(/integration "push-hr" \(#2\): webhook\.tokens\.0: environment variable PUSH_TOKEN is not set/);
  });

  it('says what to do when the file is missing', () => {
    expect(() => loadConfig({ INTEGRATIONS_FILE: '/nonexistent/integrations.yml' })).toThrow(/file not found\. Set INTEGRATIONS_FILE/);
  });

  it('the shipped example integrations.yml loads', () => {
    const c = loadConfig({ INTEGRATIONS_FILE: 'integrations.yml' });
    expect(c.integrations.map((i) => i.id)).toContain('example-hr');
  });
});
