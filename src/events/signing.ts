import { Webhook } from 'standardwebhooks';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com), done by the
 * `standardwebhooks` package — the same scheme the push endpoint verifies.
 * A receiver verifies with `new Webhook(secret).verify(body, headers)`.
 */

const signers = new Map<string, Webhook>();

/** The three headers that sign `body` as message `webhookId` sent at `at`. */
export function signatureHeaders(secret: string, webhookId: string, at: Date, body: string): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  let signer = signers.get(secret);
  if (!signer) {
    signer = new Webhook(secret);
    signers.set(secret, signer);
  }
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signer.sign(webhookId, at, body),
  };
}
