import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileProvider } from '../../providers/file.js';
import { ErrorCode } from '../../src/errors.js';
import { collect, failureOf, NOW, providerContract, request, testContext } from './contract.js';

const CSV = [
  'external_id,email,first_name,last_name,manager_id,updated_at',
  'e-1,ana.silva@example.com,Ana,Silva,e-2,2024-05-30T10:00:00Z',
  'e-2,ben.okafor@example.com,Ben,Okafor,,2024-06-01T08:00:00Z',
  'e-3,not-an-email,Chen,Li,e-2,2024-06-01T09:00:00Z',
  'e-4,dee@example.com,Dee',
].join('\n');

function setupDir() {
  const dir = mkdtempSync(join(tmpdir(), 'people-sync-file-'));
  return { dir, path: join(dir, 'people.csv') };
}

const create = (path: string, extra: Record<string, unknown> = {}) =>
  fileProvider.create(fileProvider.options.parse({ path, ...extra }), testContext({ baseDir: join(path, '..') }));

providerContract('file', () => {
  const { path } = setupDir();
  return {
    create: () => create(path),
    secrets: [],
    arrangeFull: () => writeFileSync(path, CSV),
    arrangeTestOk: () => writeFileSync(path, CSV),
    // A directory where the export should be: every read fails.
    arrangeServerError: () => mkdirSync(path),
    // Nothing at the path: the source is not there at all.
    arrangeNetworkError: () => undefined,
  };
});

describe('file provider', () => {
  it('yields CSV rows as source records and ragged rows as unreadable', async () => {
    const { path } = setupDir();
    writeFileSync(path, CSV);
    const pages = await collect(create(path), request('full'));
    expect(pages.flatMap((p) => p.employees).map((r) => (r as { external_id: string }).external_id)).toEqual(['e-1', 'e-2', 'e-3']);
    expect(pages.flatMap((p) => p.unreadable)).toEqual([expect.objectContaining({ entity: 'employees', line: 5 })]);
  });

  it('recent with updated_field keeps only rows changed since the last sync', async () => {
    const { path } = setupDir();
    writeFileSync(path, CSV.split('\n').slice(0, 4).join('\n'));
    const pages = await collect(create(path, { updated_field: 'updated_at' }), request('recent', { since: new Date(NOW.getTime() - 6 * 3600_000) }));
    expect(pages.flatMap((p) => p.employees).map((r) => (r as { external_id: string }).external_id)).toEqual(['e-2', 'e-3']);
  });

  it('a missing export fails the fetch with the path and the reason', async () => {
    const { path } = setupDir();
    const err = await failureOf(collect(create(path), request('full')));
    expect(err.code).toBe(ErrorCode.ProviderFailed);
    expect(err.message).toBe(`Cannot read ${path}: ENOENT`);
  });
});
