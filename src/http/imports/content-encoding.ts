import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';

/**
 * Compressed request bodies (`Content-Encoding`), decoded as they stream.
 * Output is pulled one zlib chunk at a time, so zlib waits while the caller
 * checks and spools what it has: a small bomb never inflates in memory, and the
 * caller can stop at its size limit after reading only that much.
 */

export type ContentEncoding = 'gzip' | 'deflate' | 'br';

const DECODERS: Record<ContentEncoding, () => Transform> = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress };
const LABELS: Record<string, ContentEncoding | null> = { '': null, identity: null, gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate', br: 'br' };

/** The encoding a `Content-Encoding` header names, null for none; undefined when it is not one we decode. */
export function contentEncodingOf(header: string | undefined): ContentEncoding | null | undefined {
  return LABELS[(header ?? '').trim().toLowerCase()];
}

export interface ContentDecoder {
  /** The decoded bytes `chunk` yields, as zlib produces them. */
  write(chunk: Uint8Array): AsyncGenerator<Uint8Array>;
  /** The last decoded bytes; throws when the body ends before its compressed stream does. */
  end(): AsyncGenerator<Uint8Array>;
  destroy(): void;
}

export function createContentDecoder(encoding: ContentEncoding): ContentDecoder {
  const z = DECODERS[encoding]();
  let error: Error | null = null;
  let ended = false;
  let poked = false;
  let notify: (() => void) | null = null;
  const poke = () => {
    poked = true;
    const n = notify;
    notify = null;
    n?.();
  };
  z.on('readable', poke);
  z.on('error', (err) => {
    error ??= err;
    poke();
  });
  z.on('end', () => {
    ended = true;
    poke();
  });

  async function* pull(done: () => boolean): AsyncGenerator<Uint8Array> {
    for (;;) {
      poked = false;
      let out: Buffer | null;
      while ((out = z.read() as Buffer | null) !== null) yield out;
      if (error) throw error;
      if (done()) return;
      if (!poked) await new Promise<void>((resolve) => (notify = resolve));
    }
  }

  return {
    write(chunk) {
      let consumed = false;
      z.write(chunk, (err) => {
        if (err) error ??= err;
        consumed = true;
        poke();
      });
      return pull(() => consumed && z.readableLength === 0);
    },
    end() {
      z.end();
      return pull(() => ended);
    },
    destroy() {
      z.destroy();
    },
  };
}
