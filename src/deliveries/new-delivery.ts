import type { Entity } from '../domain/records.js';
import type { Format } from '../formats/records-stream.js';
import type { DeliveryKind, NewDelivery, PushMode } from '../store/deliveries-repo.js';

/** What a received body contributes to its delivery row. */
export interface ReceivedBody {
  bytes: number;
  sha256: string;
  records: number;
}

/**
 * The row for a stored push, batch part or batch commit. The one place that
 * says which entity a body's records are: JSON names its own, CSV is employees
 * unless `?entity=` says otherwise, NDJSON lines may name theirs.
 */
export function newDelivery(d: {
  integrationId: string;
  kind: DeliveryKind;
  batch?: { id: string; part: number | null } | null;
  contentType: string | null;
  format: Format | null;
  entity?: Entity | null;
  mode: PushMode;
  dryRun: boolean;
  body: ReceivedBody;
  idempotencyKey: string | null;
  auth: NewDelivery['auth'];
  /** Records it stands for; a commit's are its parts'. */
  records?: number;
}): NewDelivery {
  return {
    integration_id: d.integrationId,
    kind: d.kind,
    batch_id: d.batch?.id ?? null,
    part_number: d.batch?.part ?? null,
    content_type: d.contentType,
    format: d.format,
    entity: d.format === 'json' || d.format === null ? null : (d.entity ?? (d.format === 'csv' || d.format === 'xlsx' ? 'employees' : null)),
    mode: d.mode,
    dry_run: d.dryRun,
    byte_size: d.body.bytes,
    sha256: d.body.sha256,
    idempotency_key: d.idempotencyKey,
    auth: d.auth,
    record_count: d.records ?? d.body.records,
    status: d.kind === 'part' ? 'stored' : 'queued',
  };
}
