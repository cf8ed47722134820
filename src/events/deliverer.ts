import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { describeError } from '../errors.js';
import type { Run } from '../domain/run.js';
import { RUN_FINISHED } from '../store/outbox-repo.js';
import { INTEGRATION_EVENT_TOPICS, type DueDelivery, type EventsRepo, type OutboxRow } from '../store/events-repo.js';
import { subscribes, type EventSubscription, type EventType } from './subscriptions.js';
import { eventBody, peopleEventData, runEventData } from './payloads.js';
import { signatureHeaders } from './signing.js';
import { createPoller } from '../poller.js';

/**
 * The outbound events deliverer. Any process may run it; each pass
 *
 * 1. collects: reads the outbox rows of finished runs (and of integrations
 *    quarantined or resumed) it has not turned into events yet, and makes each
 *    one's events in one transaction — `run.finished` (or `run.held`), and
 *    `people.changed` in pages — with one delivery per subscription that wants
 *    it. A row is collected once, whichever process gets there first;
 * 2. sends: claims due deliveries (one process at a time holds each, under a
 *    lease well above the request timeout), posts each signed with its
 *    subscription's secret and the delivery's webhook-id, and records the answer.
 *    A 2xx delivers it; anything else (another status, a refused connection, no
 *    answer within the timeout) is tried again after an exponential, jittered
 *    wait, until the retry window from the event's making ends: then it fails.
 *
 * A process only collects and sends for the subscriptions its configuration
 * holds, so processes mid-rollout with different files never fail each other's
 * deliveries. Nothing here depends on which process ran the run.
 */

export interface RetryPolicy {
  /** Wait after the first failed attempt, in seconds (default 10); it doubles with each attempt. */
  baseSeconds: number;
  /** Longest wait between two attempts (default 1 h). */
  maxSeconds: number;
  /** How long a delivery is tried, from when its event was made (default 24 h). */
  forSeconds: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseSeconds: 10, maxSeconds: 3600, forSeconds: 24 * 3600 };

/**
 * The wait after `attempt` failed attempts: `base · 2^(attempt-1)`, capped, with "equal jitter" —
 * half of it fixed, half random — so receivers coming back are not hit by every sender at once.
 */
export function backoffSeconds(attempt: number, policy: Pick<RetryPolicy, 'baseSeconds' | 'maxSeconds'>, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + (random() * ceiling) / 2;
}

export interface EventDeliverer {
  /** Starts polling (nothing when no subscription is configured). */
  start(): Promise<void>;
  /** Something to deliver was written (a run ended here, a redelivery): do a pass now rather than at the next poll. */
  wake(): void;
  /** One pass: collect, then send what is due; resolves when done (polls and wakes share it). */
  deliverDue(): Promise<void>;
  /** Stops polling; a request in flight is abandoned and its delivery handed back, unsent. */
  stop(): Promise<void>;
  /** This process's lease owner id. */
  readonly owner: string;
}

export interface DelivererOptions {
  /** How often due deliveries are looked for (default 2 s; 0: only when woken or asked). */
  pollMs: number;
  /** Longest wait for a subscriber's answer (default 10 s); no answer is a failed attempt. */
  timeoutMs: number;
  retry: RetryPolicy;
  /** How long a claimed delivery is held before another process may take it (default 60 s; keep it well above timeoutMs). */
  leaseSeconds: number;
  /** Deliveries sent at once by one process (default 8). */
  concurrency: number;
  /** People per `people.changed` event (default 1,000). */
  pageSize: number;
  /** Delivered and failed events older than this are dropped (default 90 days: RUN_RETENTION_DAYS). */
  retentionDays: number;
  /** The webhook-timestamp clock (default the system's). */
  now: () => Date;
  random: () => number;
  fetch: typeof fetch;
  owner: string;
}

const DEFAULTS: Omit<DelivererOptions, 'owner' | 'fetch'> = {
  pollMs: 2000,
  timeoutMs: 10_000,
  retry: DEFAULT_RETRY,
  leaseSeconds: 60,
  concurrency: 8,
  pageSize: 1000,
  retentionDays: 90,
  now: () => new Date(),
  random: Math.random,
};

const COLLECTED_TOPICS = [RUN_FINISHED, ...INTEGRATION_EVENT_TOPICS];
const PRUNE_EVERY_MS = 3600_000;
const ERROR_BODY_CHARS = 300;

/** The start of a subscriber's answer, for last_error; the rest is not read. */
async function answerText(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < 4096) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > ERROR_BODY_CHARS ? `${text.slice(0, ERROR_BODY_CHARS)}…` : text;
}

/** Why a request got no answer, in words: "connection refused (ECONNREFUSED)", "no answer within 10000 ms". */
function requestError(err: unknown, timeoutMs: number): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : null;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (code) return `${typeof cause?.message === 'string' ? cause.message : describeError(err)} (${code})`;
  return describeError(err);
}

export function createEventDeliverer(d: {
  repo: EventsRepo;
  getRun: (id: number) => Promise<Run | null>;
  log: Logger;
  /** The configured subscriptions (src/config.ts `events`). */
  subscriptions: () => readonly EventSubscription[];
  /** PUBLIC_URL: runs are linked from their events when it is set. */
  publicUrl?: string;
  options?: Partial<DelivererOptions>;
}): EventDeliverer {
  const o: DelivererOptions = {
    ...DEFAULTS,
    fetch: (...args) => fetch(...args),
    owner: `events:${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    ...d.options,
  };
  const { repo, log } = d;
  const owner = o.owner;
  /** Polling (between start and stop). */
  let polling = false;
  /** Stopped for good: passes end at the next step. */
  let closed = false;
  let since: Map<string, Date> | null = null;
  let lastPrune = 0;
  const inFlight = new AbortController();

  const urls = () => d.subscriptions().map((s) => s.url);

  /** The subscriptions that were configured when `row` was written, wanting `type` about `integration`. */
  function wanting(row: OutboxRow, type: EventType, integration: string | null): string[] {
    return d
      .subscriptions()
      .filter((s) => subscribes(s, type, integration) && (since!.get(s.url)?.getTime() ?? Infinity) <= new Date(row.created_at).getTime())
      .map((s) => s.url);
  }

  async function collectRun(row: OutboxRow): Promise<void> {
    const runId = Number(row.payload.run_id);
    const run = Number.isSafeInteger(runId) ? await d.getRun(runId) : null;
    await repo.collect(row.id, o.retry.forSeconds, async (w) => {
      // A run that is running again (a held run confirmed) has its own row for its next end.
      if (!run || run.status === 'pending' || run.status === 'running') return;
      const integration = run.integration_id;
      const data = runEventData(run, d.publicUrl);
      if (run.status === 'held') {
        await w.add({ key: `run.held:${run.id}`, type: 'run.held', run_id: run.id, integration_id: integration, data }, wanting(row, 'run.held', integration));
        return;
      }
      await w.add({ key: `run.finished:${run.id}`, type: 'run.finished', run_id: run.id, integration_id: integration, data }, wanting(row, 'run.finished', integration));
      const people = wanting(row, 'people.changed', integration);
      if (integration && !run.dry_run && (run.status === 'completed' || run.status === 'warning') && people.length) {
        await w.addPeoplePages({ id: run.id, integration_id: integration }, peopleEventData(run, d.publicUrl), people, o.pageSize);
      }
    });
  }

  async function collectIntegrationEvent(row: OutboxRow): Promise<void> {
    const type = row.topic as EventType;
    const integration = typeof row.payload.integration === 'string' ? row.payload.integration : null;
    await repo.collect(row.id, o.retry.forSeconds, async (w) => {
      await w.add({ key: `${type}:${row.id}`, type, run_id: null, integration_id: integration, data: row.payload }, wanting(row, type, integration));
    });
  }

  async function collect(): Promise<void> {
    since ??= await repo.registerSubscriptions(urls());
    for (;;) {
      if (closed) return;
      const rows = await repo.uncollected(COLLECTED_TOPICS, o.retry.forSeconds);
      if (!rows.length) return;
      for (const row of rows) {
        if (closed) return;
        await (row.topic === RUN_FINISHED ? collectRun(row) : collectIntegrationEvent(row));
      }
    }
  }

  async function send(item: DueDelivery): Promise<void> {
    const sub = d.subscriptions().find((s) => s.url === item.url);
    const context = { delivery_id: item.id, webhook_id: item.webhook_id, type: item.type, run_id: item.run_id ?? undefined, url: item.url, attempt: item.attempts };
    if (!sub) {
      // Claimed for this process's subscriptions only: the list changed since.
      await repo.release(item.id, owner);
      return;
    }
    const body = eventBody(item.type, item.event_created_at, item.data);
    let httpStatus: number | null = null;
    let error: string;
    try {
      const res = await o.fetch(item.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'people-sync', ...signatureHeaders(sub.secret, item.webhook_id, o.now(), body) },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(o.timeoutMs), inFlight.signal]),
      });
      httpStatus = res.status;
      const text = await answerText(res);
      if (res.status >= 200 && res.status < 300) {
        if (!(await repo.delivered(item.id, owner, res.status))) log.warn('event delivered, but its delivery was taken over meanwhile', context);
        return;
      }
      error = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
    } catch (err) {
      if (inFlight.signal.aborted) {
        await repo.release(item.id, owner);
        return;
      }
      error = requestError(err, o.timeoutMs);
    }
    const wait = backoffSeconds(item.attempts, o.retry, o.random);
    const status = await repo.attemptFailed(item.id, owner, { httpStatus, error, retryInSeconds: wait });
    if (status === 'failed') log.error('event delivery failed for good: the retry window ended', { ...context, error });
    else if (status === 'pending') log.warn('event delivery failed; retrying', { ...context, error, retry_in_s: Math.round(wait * 10) / 10 });
  }

  async function sendDue(): Promise<void> {
    const mine = urls();
    for (;;) {
      if (closed) return;
      const items = await repo.claim(owner, mine, o.concurrency, o.leaseSeconds);
      if (!items.length) return;
      await Promise.all(items.map((item) => (closed ? repo.release(item.id, owner) : send(item))));
    }
  }

  async function prune(): Promise<void> {
    if (Date.now() - lastPrune < PRUNE_EVERY_MS) return;
    lastPrune = Date.now();
    const n = await repo.prune(o.retentionDays, o.retry.forSeconds);
    if (n) log.info('old events pruned', { events: n });
  }

  // One pass at a time in a process; a wake during one runs another after it.
  const poller = createPoller({
    work: async () => {
      await collect();
      await sendDue();
      await prune();
    },
    every: () => (polling ? o.pollMs : 0),
    stopped: () => closed,
    onError: (err) => log.warn('event delivery pass failed; retrying at the next poll', { error: describeError(err) }),
  });
  const pass = (): Promise<void> => (closed || !d.subscriptions().length ? Promise.resolve() : poller.pass());

  return {
    owner,
    async start() {
      if (!d.subscriptions().length || closed) return;
      polling = true;
      log.info('outbound events on', { subscriptions: d.subscriptions().map((s) => ({ url: s.url, types: s.types })) });
      void pass();
    },
    wake() {
      void pass();
    },
    deliverDue: () => pass(),
    async stop() {
      closed = true;
      polling = false;
      inFlight.abort();
      await poller.stop();
    },
  };
}
