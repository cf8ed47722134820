import { isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import { ErrorCode, PeopleSyncError } from '../errors.js';

/**
 * Text as it arrives, turned into the UTF-8 every reader here expects: UTF-8
 * is checked (never replaced with U+FFFD), and the single-byte charsets HR
 * exports come in are decoded when the sender declares them.
 */

export type Charset = 'utf-8' | 'windows-1252';

/**
 * The charset of a `charset=` label; null when it is not one we read. As in
 * the WHATWG Encoding Standard, iso-8859-1 and latin1 are read as
 * windows-1252, which they are in practice (€, „ and ’ at 0x80–0x9F).
 */
export function charsetOf(label: string | undefined): Charset | null {
  const l = (label ?? 'utf-8').trim().toLowerCase();
  if (['utf-8', 'utf8', 'us-ascii', 'ascii'].includes(l)) return 'utf-8';
  if (['windows-1252', 'cp1252', 'x-cp1252', 'iso-8859-1', 'iso8859-1', 'iso_8859-1', 'latin1', 'l1'].includes(l)) return 'windows-1252';
  return null;
}

/** Turns body bytes into UTF-8 bytes chunk by chunk; throws (coded Invalid) naming the line and column of the first byte that is not text. */
export interface Utf8Text {
  push(chunk: Uint8Array): Uint8Array;
  end(): void;
}

/** How a refusal names the text and what to do about it; push bodies by default. */
export interface TextAdvice {
  subject: string;
  advice: string;
}

const BODY_ADVICE: TextAdvice = {
  subject: 'The body',
  advice: 'Send UTF-8, or name the charset the file is in, e.g. Content-Type: text/csv; charset=windows-1252.',
};

const refuser = (advice: TextAdvice) => (what: string, line: number, column: number, byte: number | null): never => {
  const at = `line ${line}, column ${column}`;
  throw new PeopleSyncError(
    ErrorCode.Invalid,
    `${advice.subject} is not valid ${what} at ${at}${byte === null ? ' (it ends inside a character)' : ` (byte 0x${byte.toString(16).padStart(2, '0').toUpperCase()})`}. ${advice.advice}`,
    { details: [{ path: at, message: `is not valid ${what}` }] },
  );
};

/** UTF-8, checked as the WHATWG decoder does: no overlongs, surrogates or code points past U+10FFFF. */
function utf8(refuse: ReturnType<typeof refuser>): Utf8Text {
  let line = 1;
  let column = 0; // characters of the current line so far
  let need = 0;
  let lower = 0x80;
  let upper = 0xbf;
  let lead = 0; // first byte of the character being read
  /** Characters (not continuation bytes) in `chunk` from `from` on. */
  const chars = (chunk: Uint8Array, from: number) => {
    let n = 0;
    for (let i = from; i < chunk.length; i++) if ((chunk[i]! & 0xc0) !== 0x80) n++;
    return n;
  };
  return {
    push(chunk) {
      // Most chunks are whole, valid UTF-8: checked natively, only lines and the last line's length counted here.
      // A chunk that is not (a bad byte, or a character cut at its end) takes the byte-by-byte path below.
      if (need === 0 && isUtf8(chunk)) {
        let nl = -1;
        for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) {
          line++;
          nl = at;
        }
        column = nl === -1 ? column + chars(chunk, 0) : chars(chunk, nl + 1);
        return chunk;
      }
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (need === 0) {
          lead = b;
          if (b < 0x80) {
            if (b === 0x0a) {
              line++;
              column = 0;
            } else column++;
          } else if (b >= 0xc2 && b <= 0xdf) need = 1;
          else if (b >= 0xe0 && b <= 0xef) {
            if (b === 0xe0) lower = 0xa0;
            if (b === 0xed) upper = 0x9f;
            need = 2;
          } else if (b >= 0xf0 && b <= 0xf4) {
            if (b === 0xf0) lower = 0x90;
            if (b === 0xf4) upper = 0x8f;
            need = 3;
          } else refuse('UTF-8', line, column + 1, b);
          continue;
        }
        if (b < lower || b > upper) refuse('UTF-8', line, column + 1, lead);
        lower = 0x80;
        upper = 0xbf;
        if (--need === 0) column++;
      }
      return chunk;
    },
    end() {
      if (need) refuse('UTF-8', line, column + 1, null);
    },
  };
}

/** Bytes windows-1252 leaves undefined: decoding them would store U+FFFD. */
const UNDEFINED_1252 = new Set([0x81, 0x8d, 0x8f, 0x90, 0x9d]);

function windows1252(refuse: ReturnType<typeof refuser>): Utf8Text {
  const decoder = iconv.getDecoder('windows-1252');
  let line = 1;
  let column = 0;
  return {
    push(chunk) {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (b === 0x0a) {
          line++;
          column = 0;
        } else {
          column++;
          if (UNDEFINED_1252.has(b)) refuse('windows-1252', line, column, b);
        }
      }
      return Buffer.from(decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)), 'utf8');
    },
    end() {},
  };
}

export function createUtf8Text(charset: Charset, advice: TextAdvice = BODY_ADVICE): Utf8Text {
  const refuse = refuser(advice);
  return charset === 'utf-8' ? utf8(refuse) : windows1252(refuse);
}
