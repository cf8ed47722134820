import type { z } from 'zod';
import type { SyncService } from '../src/engine/service.js';
import type { Store } from '../src/store/index.js';
import type { RunView } from '../src/domain/run-view.js';
import type { Schedule } from '../src/domain/schedule.js';
import type { Trigger } from '../src/domain/run.js';
import type { ConnectionTest, ProviderPage } from '../providers/types.js';
import type { IntegrationConfig } from '../src/config.js';

/**
 * The /sync grammar's commands. Each is a module `(…) => CommandDefinition`
 * collected in commands/index.ts; Slack and the CLI parse the same text, call
 * the same `run`, and only differ in how they render the {@link Answer}.
 */

export interface Actor {
  /** Slack user id, or the OS user for the CLI. */
  id: string;
  /** Shown in runs as `requested_by` (e.g. `<@U123>` or `cli:ana`). */
  label: string;
  isAdmin: boolean;
  surface: Extract<Trigger, 'slack' | 'cli' | 'api'>;
}

export interface CommandDeps {
  service: SyncService;
  store: Store;
  /** Agenda registration of schedules, and their next/last run times. */
  scheduleJobs: {
    register(s: Schedule): Promise<void>;
    unregister(id: number): Promise<void>;
    timings(): Promise<Map<number, { next_run_at: Date | null; last_run_at: Date | null }>>;
  };
  integrations: () => readonly IntegrationConfig[];
  testConnection: (integration: IntegrationConfig) => Promise<ConnectionTest>;
  /** A pull integration's records as a full fetch returns them, for a preview; stop reading when done. */
  sampleSource: (integration: IntegrationConfig, signal: AbortSignal) => AsyncIterable<ProviderPage>;
  /** The outbound event subscriptions of integrations.yml (`events:`); absent: none. */
  eventSubscriptions?: () => readonly { url: string }[];
}

/** An outbound event subscription whose deliveries keep failing (see `failingSubscriptions`). */
export interface FailingSubscription {
  url: string;
  /** Deliveries that gave up (after 24 h of retries) in the last day. */
  failed_last_day: number;
  /** Deliveries still being retried after a failed attempt. */
  retrying: number;
  last_error: string | null;
  last_error_at: string | null;
  /** Null: nothing delivered in the last 7 days. */
  last_delivered_at: string | null;
}

export interface IntegrationRow {
  id: string;
  name: string;
  kind: 'push' | 'pull';
  provider: string | null;
  active: boolean;
  schedules: string[];
  last_run: { id: number; status: string; finished_at: string | null; created_at: string } | null;
  last_sync_at: string | null;
  last_error: string | null;
  /** Set while quarantined: since when, why, and when a scheduled run tries again. */
  quarantine: { since: string; reason: string; retry_at: string | null } | null;
  next_run_at: string | null;
  connection: ConnectionTest | null;
}

export interface ScheduleRow extends Schedule {
  description: string;
  next_run_at: string | null;
  last_execution_at: string | null;
  working_hours_warning: string | null;
}

/** A surface-neutral answer. */
export type Answer =
  | { kind: 'help'; commands: { usage: string; summary: string; admin: boolean }[] }
  | { kind: 'run'; run: RunView; existing?: boolean; message?: string }
  | { kind: 'runs'; runs: RunView[]; filter: string }
  | { kind: 'status'; integrations: IntegrationRow[]; subscriptions?: FailingSubscription[] }
  | { kind: 'schedules'; schedules: ScheduleRow[]; message?: string }
  | { kind: 'message'; text: string; tone: 'info' | 'success' | 'warning' | 'error' }
  /** What a mapping makes of a few source records (preformatted text with HR data: shown literally). */
  | { kind: 'mapping'; integration: string; text: string }
  | { kind: 'upcoming'; integration: string | null; days: number; count: number; text: string }
  /** A person explained (`why`): HR data in plain sentences, a line each (shown literally). */
  | { kind: 'why'; person: number; name: string; lines: string[] };

export interface CommandDefinition<I = unknown> {
  /** First word(s) of the command: `all`, `schedule add`. */
  name: string;
  usage: string;
  summary: string;
  /** Only admins may run it (checked again on every button). */
  admin: boolean;
  /**
   * Its answer is a run it just started (or restarted): the CLI then waits
   * for that run, and Slack posts a message that follows it.
   */
  startsRun: boolean;
  /** Parses the words after the name; errors name the argument. */
  parse(args: ParsedArgs): z.ZodSafeParseResult<I>;
  run(input: I, actor: Actor, deps: CommandDeps): Promise<Answer>;
}

export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | true>;
}
