import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileProvider } from '../../providers/file.js';
import { ProviderError } from '../../providers/types.js';
import { ErrorCode, PeopleSyncError } from '../../src/errors.js';
import { collect, failureOf, request, testContext } from './contract.js';

/** The provider contract promises a ProviderError for every failed fetch. */
describe('ProviderError', () => {
  it('is a coded PeopleSyncError carrying provider_failed or provider_auth', () => {
    const err = new ProviderError(ErrorCode.ProviderAuth, 'refused', { cause: 'why' });
    expect(err).toBeInstanceOf(PeopleSyncError);
    expect(err).toMatchObject({ code: 'provider_auth', message: 'refused', cause: 'why', name: 'ProviderError' });
  });

  it('is what a provider throws when its source is not there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-sync-provider-error-'));
    const path = join(dir, 'missing.csv');
    const source = fileProvider.create(fileProvider.options.parse({ path }), testContext({ baseDir: dir }));
    const err = await failureOf(collect(source, request('full')));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.code).toBe(ErrorCode.ProviderFailed);
    expect(err.message).toBe(`Cannot read ${path}: ENOENT`);
  });
});
