import nock from 'nock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { FetchRequest, ProviderContext, ProviderInstance, ProviderPage } from '../../providers/types.js';
import { applyMapping, type Mapping } from '../../src/domain/mapping.js';
import { ENTITIES, validateRecord, type Entity } from '../../src/domain/records.js';
import { ErrorCode, PeopleSyncError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';

/**
 * The provider contract of providers/types.ts, written once and run against
 * every provider. Each provider's test file supplies a setup that arranges the
 * outside world (nock interceptors, files) for each situation.
 */
export interface ContractSetup {
  /** A fresh instance (empty token cache) using a context from {@link testContext}. */
  create(): ProviderInstance;
  /** Credentials the instance holds: none may appear in any message. */
  secrets: string[];
  entity?: Entity;
  /** The integration mapping that makes this source's records canonical, if they are not already. */
  mapping?: Mapping;
  /** A full fetch that succeeds; its data holds at least one valid and one malformed record. */
  arrangeFull(): unknown;
  /** What `test()` reads when everything is fine (exactly: every interceptor must be used). */
  arrangeTestOk(): unknown;
  /** A source that fails every time (HTTP 500 from every request; an unreadable file). */
  arrangeServerError(): unknown;
  /** A source that cannot be reached at all. */
  arrangeNetworkError(): unknown;
  /** Credentials refused with a 401 whose answer echoes the credential. Omitted for sources without credentials. */
  arrangeUnauthorized?(): unknown;
  /** A first request that never gets an answer. Omitted for local sources. */
  arrangeHanging?(): unknown;
}

export const NOW = new Date('2024-06-01T12:00:00Z');

/** A provider context with a fixed clock and a back-off that records the wait and returns at once. */
export function testContext(overrides: Partial<ProviderContext> = {}): ProviderContext & { waits: number[] } {
  const waits: number[] = [];
  return {
    integrationId: 'contract',
    baseDir: process.cwd(),
    log: silentLogger,
    now: () => NOW,
    sleep: async (ms, signal) => {
      waits.push(ms);
      signal.throwIfAborted();
    },
    waits,
    ...overrides,
  };
}

export function request(mode: FetchRequest['mode'], extra: Partial<FetchRequest> = {}): FetchRequest {
  return { mode, since: null, cursor: null, signal: new AbortController().signal, ...extra };
}

export async function collect(instance: ProviderInstance, req: FetchRequest): Promise<ProviderPage[]> {
  const pages: ProviderPage[] = [];
  for await (const page of instance.fetch(req)) pages.push(page);
  return pages;
}

export async function failureOf(run: Promise<unknown>): Promise<PeopleSyncError> {
  const err = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected the fetch to fail').toBeInstanceOf(PeopleSyncError);
  return err as PeopleSyncError;
}

export function expectNoSecret(text: string, secrets: string[]): void {
  for (const s of secrets) expect(text).not.toContain(s);
}

const PAGE_KEYS = new Set(['employees', 'employments', 'org_units', 'removed', 'unreadable', 'cursor']);

export function providerContract(name: string, setup: () => ContractSetup | Promise<ContractSetup>): void {
  describe(`${name}: provider contract`, () => {
    let s: ContractSetup;
    beforeEach(async () => {
      s = await setup();
    });

    it('yields pages shaped as the contract says', async () => {
      await s.arrangeFull();
      const pages = await collect(s.create(), request('full'));
      expect(pages.length).toBeGreaterThan(0);
      let records = 0;
      for (const page of pages) {
        for (const key of Object.keys(page)) expect(PAGE_KEYS, `unexpected page key "${key}"`).toContain(key);
        for (const e of ENTITIES) {
          if (page[e] === undefined) continue;
          expect(Array.isArray(page[e])).toBe(true);
          records += page[e]!.length;
        }
        for (const r of page.removed ?? []) {
          expect(ENTITIES).toContain(r.entity);
          expect(typeof r.external_id).toBe('string');
        }
        for (const u of page.unreadable ?? []) {
          expect(ENTITIES).toContain(u.entity);
          expect(typeof u.error).toBe('string');
        }
      }
      expect(records).toBeGreaterThan(0);
      expect(nock.pendingMocks()).toEqual([]);
    });

    it('yields malformed rows as they are instead of failing the fetch', async () => {
      await s.arrangeFull();
      const entity = s.entity ?? 'employees';
      const pages = await collect(s.create(), request('full'));
      const results = pages.flatMap((p) => p[entity] ?? []).map((r) => validateRecord(entity, applyMapping(entity, r, s.mapping)));
      expect(results.some((r) => r.ok), 'some records are valid once mapped').toBe(true);
      expect(results.some((r) => !r.ok), 'the malformed record reaches the engine').toBe(true);
    });

    it('a source that keeps failing ends the fetch with ProviderFailed, naming the failure and no secret', async () => {
      await s.arrangeServerError();
      const err = await failureOf(collect(s.create(), request('full')));
      expect(err.code).toBe(ErrorCode.ProviderFailed);
      expect(err.message.length).toBeGreaterThan(20);
      expectNoSecret(err.message, s.secrets);
    });

    it('an unreachable source ends the fetch with ProviderFailed and no secret', async () => {
      await s.arrangeNetworkError();
      const err = await failureOf(collect(s.create(), request('full')));
      expect(err.code).toBe(ErrorCode.ProviderFailed);
      expectNoSecret(err.message, s.secrets);
    });

    it('refused credentials are ProviderAuth, say what to check, and never echo the credential', async (ctx) => {
      if (!s.arrangeUnauthorized) return ctx.skip();
      await s.arrangeUnauthorized();
      const err = await failureOf(collect(s.create(), request('full')));
      expect(err.code).toBe(ErrorCode.ProviderAuth);
      expect(err.message).toMatch(/401/);
      expect(err.message).toMatch(/check/i);
      expectNoSecret(err.message, s.secrets);
    });

    it('test() reports a healthy source as ok', async () => {
      await s.arrangeTestOk();
      const result = await s.create().test();
      expect(result.ok, result.message).toBe(true);
      expect(result.message).not.toBe('');
      expect(nock.pendingMocks()).toEqual([]);
    });

    it('test() never throws: a failing source is ok:false with a message and no secret', async () => {
      await (s.arrangeUnauthorized ?? s.arrangeServerError).call(s);
      const refused = await s.create().test();
      expect(refused.ok).toBe(false);
      expect(refused.message).not.toBe('');
      expectNoSecret(refused.message, s.secrets);

      nock.cleanAll();
      await s.arrangeNetworkError();
      const unreachable = await s.create().test();
      expect(unreachable.ok).toBe(false);
      expectNoSecret(unreachable.message, s.secrets);
    });

    it('an aborted signal stops the fetch before it reads anything', async () => {
      await s.arrangeFull();
      const pending = nock.pendingMocks().length;
      const controller = new AbortController();
      controller.abort();
      const err = await failureOf(collect(s.create(), request('full', { signal: controller.signal })));
      expect(err.code).toBe(ErrorCode.ProviderFailed);
      expect(nock.pendingMocks().length).toBe(pending);
    });

    it('aborting while a request is in flight stops the fetch promptly', async (ctx) => {
      if (!s.arrangeHanging) return ctx.skip();
      await s.arrangeHanging();
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(), 30);
      const err = await failureOf(collect(s.create(), request('full', { signal: controller.signal })));
      expect(err.code).toBe(ErrorCode.ProviderFailed);
      expect(Date.now() - started).toBeLessThan(2000);
    });
  });
}
