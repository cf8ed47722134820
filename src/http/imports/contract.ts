import { createRoute } from '@hono/zod-openapi';
import { z } from 'zod';
import { json, problems, WEBHOOK_SIGNATURE, WEBHOOK_TOKEN } from '../openapi.js';
import { BatchOpenBody, CommitBody, EnvelopeFields, PartQuery, PushQuery } from './envelope.js';

/**
 * The push endpoint's declarations (src/http/openapi.ts). The query and body
 * schemas are the ones the routes validate with (envelope.ts); the record
 * bodies stream, so their formats are described rather than parsed whole.
 */

const Integration = z.string().meta({ description: 'The id of a push integration in integrations.yml.' });
const Batch = z.string().meta({ description: 'A batch id as answered by opening it (`b_…`).' });

const Headers = z.object({
  'webhook-id': z.string().optional().meta({ description: 'Standard Webhooks message id; also the idempotency key of a signed request.' }),
  'webhook-timestamp': z.string().optional().meta({ description: 'Unix seconds; within 5 minutes of our clock.' }),
  'idempotency-key': z.string().optional().meta({ description: 'A redelivery with the same key and bytes gets the first answer again (1–255 printable ASCII).' }),
  'content-encoding': z.enum(['gzip', 'deflate', 'br']).optional(),
});

const Records = z.string().meta({ format: 'binary' });
/** What a delivery or a part may carry. */
const recordBodies = (envelope: z.ZodType) => ({
  required: true,
  description:
    'JSON: an envelope `{"mode", "dry_run", "employees": […], "employments": […], "org_units": […]}`. NDJSON, CSV and XLSX: records of one entity (`?entity=`, default employees); `?mode=` is then required. UTF-8, or windows-1252 / ISO-8859-1 named in the charset. Streamed, never read whole.',
  content: {
    'application/json': { schema: envelope },
    'application/x-ndjson': { schema: Records },
    'text/csv': { schema: Records },
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': { schema: Records },
  },
});

const Links = z.record(z.string(), z.string());
const DeliveryAnswer = z
  .object({
    delivery_id: z.number().int(),
    batch_id: z.string().optional(),
    run_id: z.number().int().nullable(),
    status: z.string().meta({ description: "The run's status, or `queued` while another run of the integration is writing." }),
    reason: z.string().nullable(),
    mode: z.enum(['full', 'delta']),
    dry_run: z.boolean(),
    records: z.number().int(),
    duplicate: z.boolean(),
    links: Links,
  })
  .meta({ id: 'PushAnswer' });
const PartAnswer = z.object({
  batch_id: z.string(),
  part: z.number().int().nullable(),
  delivery_id: z.number().int(),
  records: z.number().int(),
  bytes: z.number().int(),
  duplicate: z.boolean(),
  links: Links,
});
const BatchAnswer = z.object({
  batch_id: z.string(),
  status: z.enum(['open', 'committed', 'expired']),
  mode: z.enum(['full', 'delta']),
  dry_run: z.boolean(),
  expires_at: z.iso.datetime(),
  duplicate: z.boolean(),
  links: Links,
});

const security: Record<string, string[]>[] = [{ [WEBHOOK_SIGNATURE]: [] }, { [WEBHOOK_TOKEN]: [] }];
const PUSH_PROBLEMS = [400, 401, 404, 408, 413, 415, 422, 429, 500, 503];

export const importRoutes = {
  push: createRoute({
    method: 'post',
    path: '/{integration}',
    tags: ['Push'],
    summary: 'Push one delivery (a snapshot or a delta)',
    description: 'Answered 202 once the bytes are stored; the run starts when no other writing run of the integration is under way.',
    security,
    request: { params: z.object({ integration: Integration }), query: PushQuery, headers: Headers, body: recordBodies(EnvelopeFields) },
    responses: {
      202: json('Stored; its run is pending or queued. A redelivery (same key, same bytes) gets this answer again with `Idempotent-Replayed: true`.', DeliveryAnswer),
      ...problems(...PUSH_PROBLEMS),
    },
  }),
  openBatch: createRoute({
    method: 'post',
    path: '/{integration}/batches',
    tags: ['Push'],
    summary: 'Open a batch: a full snapshot sent in several parts',
    security,
    request: { params: z.object({ integration: Integration }), query: PushQuery, headers: Headers, body: { required: false, content: { 'application/json': { schema: BatchOpenBody } } } },
    responses: { 201: json('The batch, open for parts.', BatchAnswer), 200: json('The batch opened earlier with the same key.', BatchAnswer), ...problems(...PUSH_PROBLEMS) },
  }),
  part: createRoute({
    method: 'post',
    path: '/{integration}/batches/{batch}/parts',
    tags: ['Push'],
    summary: 'Send a part of a batch',
    security,
    request: { params: z.object({ integration: Integration, batch: Batch }), query: PartQuery, headers: Headers, body: recordBodies(EnvelopeFields.omit({ mode: true, dry_run: true })) },
    responses: { 201: json('The part, stored.', PartAnswer), 200: json('The same part again.', PartAnswer), ...problems(...PUSH_PROBLEMS, 409, 410) },
  }),
  commit: createRoute({
    method: 'post',
    path: '/{integration}/batches/{batch}/commit',
    tags: ['Push'],
    summary: 'Commit a batch: one full run over all its parts',
    security,
    request: { params: z.object({ integration: Integration, batch: Batch }), headers: Headers, body: { required: false, content: { 'application/json': { schema: CommitBody } } } },
    responses: { 202: json('The commit, stored; its run is pending or queued.', DeliveryAnswer), ...problems(...PUSH_PROBLEMS, 409, 410) },
  }),
};
