import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import AjvModule from 'ajv';

// ajv is CommonJS: its class is the default export's `default` under NodeNext.
const Ajv = ((AjvModule as unknown as { default?: typeof AjvModule }).default ?? AjvModule) as unknown as new (o: object) => {
  compile(schema: object): ((data: unknown) => boolean) & { errors?: unknown[] | null };
};

const root = join(import.meta.dirname, '..', '..');
const manifest = parse(readFileSync(join(root, 'manifest.yml'), 'utf8'));
const schema = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'slack', 'manifest.schema.1.0.0.json'), 'utf8'));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Bot scopes each Web API method the app calls needs (https://docs.slack.dev/reference/methods). */
const SCOPES: Record<string, string[]> = {
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'files.getUploadURLExternal': ['files:write'],
  'files.completeUploadExternal': ['files:write'],
  'usergroups.users.list': ['usergroups:read'],
  'users.info': ['users:read'],
  'views.open': [],
  'views.push': [],
  'views.update': [],
  'views.publish': [],
};

describe('manifest.yml', () => {
  it('is a valid app manifest by Slack\'s published schema', () => {
    const validate = new Ajv({ strict: false, allErrors: true, formats: { uri: true } }).compile(schema);
    const ok = validate(manifest);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // The schema does catch mistakes.
    expect(validate({ ...manifest, display_information: { name: '' } })).toBe(false);
    expect(validate({ ...manifest, features: { ...manifest.features, slash_commands: [{ command: 'sync', description: 'x' }] } })).toBe(false);
  });

  it('declares /sync with a usage hint, interactivity, app_home_opened and one request URL, Socket Mode off', () => {
    const url = 'https://people-sync.example.com/slack/events';
    expect(manifest.features.slash_commands).toEqual([expect.objectContaining({ command: '/sync', url, usage_hint: expect.stringContaining('all [integration] [--dry-run]') })]);
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true, request_url: url });
    expect(manifest.settings.event_subscriptions).toEqual({ request_url: url, bot_events: ['app_home_opened'] });
    expect(manifest.settings.socket_mode_enabled).toBe(false);
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
  });

  it('asks for exactly the bot scopes the code uses', () => {
    const code = ['slack', 'slack-api', 'web'].flatMap((d) => sources(join(root, 'src', d))).map((f) => readFileSync(f, 'utf8')).join('\n');
    const called = new Set([...code.matchAll(/\bweb\.([a-z]+)\.([a-zA-Z]+(?:\.[a-zA-Z]+)?)\(/g)].map((m) => `${m[1]}.${m[2]}`));
    for (const method of called) expect(SCOPES, `scope of ${method} is not listed in this test`).toHaveProperty([method]);
    const needed = new Set([...called].flatMap((m) => SCOPES[m]!));
    needed.add('commands'); // the /sync slash command
    needed.add('chat:write.public'); // run messages in public channels the app was not invited to
    expect(called).toContain('chat.postMessage');
    expect(called).toContain('files.completeUploadExternal');
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([...needed].sort());
    expect(manifest.oauth_config.scopes.user).toBeUndefined();
  });
});
