import { describe, expect, it } from 'vitest';
import { roleOf, safeNext } from '../../src/web/access.js';

/** Who may use the web window: Slack's rules, decided per request. */

const admins = { isAdmin: async (id: string) => id === 'UADMIN', canView: async (id: string) => id === 'UADMIN' || id === 'UVIEWER' };

describe('web window access rules', () => {
  it('admins act, viewers read, others only when everyone in the workspace may read', async () => {
    const strict = { admins, readers: 'admins' as const };
    const open = { admins, readers: 'everyone-in-workspace' as const };
    expect(await roleOf(strict, { user_id: 'UADMIN', local_admin: false })).toBe('admin');
    expect(await roleOf(strict, { user_id: 'UVIEWER', local_admin: false })).toBe('reader');
    expect(await roleOf(strict, { user_id: 'UOTHER', local_admin: false })).toBeNull();
    expect(await roleOf(open, { user_id: 'UOTHER', local_admin: false })).toBe('reader');
    expect(await roleOf(strict, { user_id: 'cli:ana', local_admin: true })).toBe('admin');
  });

  it('returns after sign-in only to the window\'s own pages', () => {
    expect(safeNext('/ui/runs?status=held')).toBe('/ui/runs?status=held');
    expect(safeNext('/ui')).toBe('/ui');
    for (const bad of ['https://evil.example/ui', '//evil.example/ui', '/uievil', '/api/runs', undefined, '']) expect(safeNext(bad)).toBe('/ui');
  });
});
