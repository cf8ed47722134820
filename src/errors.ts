/**
 * Coded errors. Callers match on `code`, never on message text; the message is
 * written for the person who reads it (what happened, why, what to do next).
 */
export const ErrorCode = {
  ConfigInvalid: 'config_invalid',
  IntegrationsFileInvalid: 'integrations_file_invalid',
  NotFound: 'not_found',
  Invalid: 'invalid',
  Conflict: 'conflict',
  Unauthorized: 'unauthorized',
  ProviderFailed: 'provider_failed',
  ProviderAuth: 'provider_auth',
  ProviderUnsupported: 'provider_unsupported',
  RunNotApplicable: 'run_not_applicable',
  /** A worker's run was failed as stale or ended meanwhile: it may no longer write. */
  RunNotOwned: 'run_not_owned',
  /** A dry run or held run whose data moved since it was planned, or that was applied already: start a new one. */
  PreviewOutdated: 'preview_outdated',
  PayloadTooLarge: 'payload_too_large',
  UnsupportedMediaType: 'unsupported_media_type',
  Unavailable: 'unavailable',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface IssueDetail {
  /** Dotted path of the offending field, e.g. `employees.3.email`. */
  path: string;
  message: string;
}

export class PeopleSyncError extends Error {
  readonly code: ErrorCode;
  readonly details: IssueDetail[];
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: IssueDetail[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PeopleSyncError';
    this.code = code;
    this.details = options.details ?? [];
  }
}

/**
 * A provider's fetch failed (network, HTTP status, bad body, timeout, abort: `provider_failed`) or its
 * credentials were refused (`provider_auth`). What the provider contract (providers/types.ts) promises
 * every provider throws; the engine then fails the run and terminates no one.
 */
export class ProviderError extends PeopleSyncError {
  declare readonly code: typeof ErrorCode.ProviderFailed | typeof ErrorCode.ProviderAuth;
  constructor(code: typeof ErrorCode.ProviderFailed | typeof ErrorCode.ProviderAuth, message: string, options: { cause?: unknown; details?: IssueDetail[] } = {}) {
    super(code, message, options);
    this.name = 'ProviderError';
  }
}

export function isCoded(err: unknown, code?: ErrorCode): err is PeopleSyncError {
  return err instanceof PeopleSyncError && (code === undefined || err.code === code);
}

/** A short, safe one-line description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
