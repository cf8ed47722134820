import { ENTITIES, type Entity } from '../domain/records.js';
import { ErrorCode, PeopleSyncError } from '../errors.js';

/**
 * A streaming JSON scanner for push envelopes: validates a body byte by byte,
 * reporting line and column of the first syntax error, and hands each element
 * of the entity arrays to a callback without ever building the whole document.
 */

/** How much of a top-level field's value is kept to report what it is. */
const FIELD_CAPTURE_BYTES = 1024;

export type JsonKind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

export interface EnvelopeField {
  kind: JsonKind;
  /** The value's JSON text when small (entity arrays are never captured). */
  raw: string | null;
  duplicate: boolean;
}

export interface EnvelopeScan {
  top: JsonKind | null;
  fields: Map<string, EnvelopeField>;
  /** Elements of the entity arrays. */
  records: number;
}

const S_VALUE = 0;
const S_ARR_FIRST = 1;
const S_OBJ_FIRST = 2;
const S_KEY = 3;
const S_COLON = 4;
const S_AFTER = 5;
const S_STR = 6;
const S_ESC = 7;
const S_UNI = 8;
const S_NUM = 9;
const S_LIT = 10;

const N_MINUS = 0;
const N_ZERO = 1;
const N_INT = 2;
const N_DOT = 3;
const N_FRAC = 4;
const N_E = 5;
const N_ESIGN = 6;
const N_EXP = 7;

const LITERALS: Record<number, { bytes: number[]; kind: JsonKind; text: string }> = {
  0x74: { bytes: [0x74, 0x72, 0x75, 0x65], kind: 'boolean', text: 'true' },
  0x66: { bytes: [0x66, 0x61, 0x6c, 0x73, 0x65], kind: 'boolean', text: 'false' },
  0x6e: { bytes: [0x6e, 0x75, 0x6c, 0x6c], kind: 'null', text: 'null' },
};

const BOM = [0xef, 0xbb, 0xbf];
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isHex = (b: number) => isDigit(b) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46);

/** Next number state, -1 when `b` ends an accepting number, -2 when the number is broken. */
function numberStep(s: number, b: number): number {
  const d = isDigit(b);
  const e = b === 0x65 || b === 0x45;
  switch (s) {
    case N_MINUS:
      return b === 0x30 ? N_ZERO : d ? N_INT : -2;
    case N_ZERO:
      return b === 0x2e ? N_DOT : e ? N_E : -1;
    case N_INT:
      return d ? N_INT : b === 0x2e ? N_DOT : e ? N_E : -1;
    case N_DOT:
      return d ? N_FRAC : -2;
    case N_FRAC:
      return d ? N_FRAC : e ? N_E : -1;
    case N_E:
      return b === 0x2b || b === 0x2d ? N_ESIGN : d ? N_EXP : -2;
    case N_ESIGN:
      return d ? N_EXP : -2;
    default:
      return d ? N_EXP : -1;
  }
}

function syntaxError(line: number, column: number, message: string): PeopleSyncError {
  return new PeopleSyncError(ErrorCode.Invalid, `The JSON is malformed at line ${line}, column ${column}: ${message}.`, {
    details: [{ path: `line ${line}, column ${column}`, message }],
  });
}

/**
 * A streaming JSON validator for the push envelope: checks the whole syntax
 * byte by byte (reporting line and column), notes the top-level fields with
 * their small values, and counts — or, with `onElement`, hands over one by
 * one — the records of the `employees` / `employments` / `org_units` arrays.
 * It never builds the document, so a 50 MB body costs a few KB of memory.
 */
export function createEnvelopeScanner(
  options: { onElement?: (entity: Entity, value: unknown) => void; maxDepth?: number; maxRecordDepth?: number } = {},
) {
  const maxDepth = options.maxDepth ?? 64;
  // Inside a record, staging bounds the depth and fails a deeper record alone; this only bounds the scanner's own memory.
  const maxRecordDepth = options.maxRecordDepth ?? 100_000;
  const stack: boolean[] = []; // true: array
  let state = S_VALUE;
  let num = 0;
  let lit: (typeof LITERALS)[number] = LITERALS[0x6e]!;
  let litPos = 0;
  let uniLeft = 0;
  let strIsKey = false;
  let bom = 0; // BOM bytes seen at the start; -1 once past it
  // Position: line, where it starts (absolute byte), UTF-8 continuation bytes seen on it.
  let base = 0;
  let line = 1;
  let lineStart = 0;
  let cont = 0;
  // Envelope.
  let top: JsonKind | null = null;
  let key = '';
  const fields = new Map<string, EnvelopeField>();
  let field: EnvelopeField | null = null;
  let entity: Entity | null = null;
  let records = 0;
  // One capture at a time: a top-level key, a small top-level value, or a record.
  let capWhat: 'key' | 'field' | 'element' | null = null;
  let capParts: Uint8Array[] = [];
  let capStart = 0;
  let capLen = 0;
  let capLimit = 0;
  let capOver = false;
  let capDepth = 0;

  const fail = (at: number, message: string): never => {
    throw syntaxError(line, at - lineStart - cont + 1, message);
  };

  const startCapture = (what: 'key' | 'field' | 'element', i: number, limit: number) => {
    capWhat = what;
    capParts = [];
    capStart = i;
    capLen = 0;
    capLimit = limit;
    capOver = false;
    capDepth = stack.length;
  };

  const flushCapture = (chunk: Uint8Array, end: number) => {
    if (capOver || end <= capStart) return;
    let seg = chunk.subarray(capStart, end);
    if (capLen + seg.length > capLimit) {
      seg = seg.subarray(0, capLimit - capLen);
      capOver = true;
    }
    capParts.push(seg);
    capLen += seg.length;
  };

  const finishCapture = (chunk: Uint8Array, end: number) => {
    flushCapture(chunk, end);
    const text = Buffer.concat(capParts).toString('utf8');
    const what = capWhat;
    capWhat = null;
    capParts = [];
    if (what === 'key') key = capOver ? `${text.slice(1, 60)}…` : (JSON.parse(text) as string);
    else if (what === 'field') field!.raw = capOver ? null : text;
    else if (what === 'element') options.onElement!(entity!, JSON.parse(text));
  };

  const beginValue = (i: number, kind: JsonKind) => {
    const depth = stack.length;
    if (depth === 0) {
      top = kind;
    } else if (depth === 1 && top === 'object') {
      const seen = fields.get(key);
      field = { kind, raw: null, duplicate: seen !== undefined };
      if (!seen) fields.set(key, field);
      else seen.duplicate = true;
      const e = (ENTITIES as readonly string[]).includes(key) ? (key as Entity) : null;
      if (e && kind === 'array') entity = e;
      else startCapture('field', i, FIELD_CAPTURE_BYTES);
    } else if (depth === 2 && entity !== null) {
      records++;
      if (options.onElement) startCapture('element', i, Number.MAX_SAFE_INTEGER);
    }
  };

  const endValue = (chunk: Uint8Array, end: number) => {
    state = S_AFTER;
    if (capWhat !== null && capWhat !== 'key' && stack.length === capDepth) finishCapture(chunk, end);
  };

  const close = (chunk: Uint8Array, i: number) => {
    const wasArray = stack.pop();
    if (wasArray && stack.length === 1 && entity !== null) entity = null;
    endValue(chunk, i + 1);
  };

  const open = (i: number, array: boolean) => {
    beginValue(i, array ? 'array' : 'object');
    stack.push(array);
    const limit = entity !== null ? maxRecordDepth : maxDepth;
    if (stack.length > limit) fail(base + i, `nesting deeper than ${limit} levels`);
    state = array ? S_ARR_FIRST : S_OBJ_FIRST;
  };

  const value = (i: number, b: number, afterComma: boolean) => {
    if (b === 0x7b) open(i, false);
    else if (b === 0x5b) open(i, true);
    else if (b === 0x22) {
      beginValue(i, 'string');
      strIsKey = false;
      state = S_STR;
    } else if (b === 0x2d || isDigit(b)) {
      beginValue(i, 'number');
      num = b === 0x2d ? N_MINUS : b === 0x30 ? N_ZERO : N_INT;
      state = S_NUM;
    } else if (LITERALS[b]) {
      lit = LITERALS[b]!;
      beginValue(i, lit.kind);
      litPos = 1;
      state = S_LIT;
    } else if (afterComma && b === 0x5d) {
      fail(base + i, 'a comma before "]" (trailing commas are not JSON)');
    } else {
      fail(base + i, `expected a value (an object, array, string, number, true, false or null), found ${describeByte(b)}`);
    }
  };

  function push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const b = chunk[i]!;
      switch (state) {
        case S_STR: {
          let j = i;
          while (j < n) {
            const c = chunk[j]!;
            if (c === 0x22 || c === 0x5c || c < 0x20) break;
            if ((c & 0xc0) === 0x80) cont++;
            j++;
          }
          i = j;
          if (i >= n) break;
          const c = chunk[i]!;
          if (c === 0x22) {
            i++;
            if (strIsKey) {
              if (capWhat === 'key') finishCapture(chunk, i);
              state = S_COLON;
            } else endValue(chunk, i);
          } else if (c === 0x5c) {
            i++;
            state = S_ESC;
          } else {
            fail(base + i, c === 0x0a ? 'a line break inside a string (write it as \\n)' : 'a control character inside a string (escape it, e.g. \\t)');
          }
          break;
        }
        case S_ESC:
          if (b === 0x75) {
            uniLeft = 4;
            state = S_UNI;
          } else if (b === 0x22 || b === 0x5c || b === 0x2f || b === 0x62 || b === 0x66 || b === 0x6e || b === 0x72 || b === 0x74) {
            state = S_STR;
          } else fail(base + i, `an invalid escape \\${describeByte(b)} in a string`);
          i++;
          break;
        case S_UNI:
          if (!isHex(b)) fail(base + i, 'an invalid \\u escape (expected 4 hex digits)');
          i++;
          if (--uniLeft === 0) state = S_STR;
          break;
        case S_NUM: {
          const next = numberStep(num, b);
          if (next >= 0) {
            num = next;
            i++;
          } else if (next === -2) {
            fail(base + i, 'an incomplete number');
          } else {
            endValue(chunk, i); // `b` is not part of the number: look at it again
          }
          break;
        }
        case S_LIT:
          if (b !== lit.bytes[litPos]) fail(base + i, `unexpected ${describeByte(b)} (expected "${lit.text}")`);
          i++;
          if (++litPos === lit.bytes.length) endValue(chunk, i);
          break;
        default: {
          if (b === 0x20 || b === 0x09 || b === 0x0d) {
            i++;
            break;
          }
          if (b === 0x0a) {
            i++;
            line++;
            lineStart = base + i;
            cont = 0;
            break;
          }
          if (bom >= 0) {
            // A UTF-8 byte order mark may open the body, possibly cut across chunks.
            if (base + i === bom && b === BOM[bom]) {
              i++;
              if (++bom === 3) {
                bom = -1;
                lineStart = 3;
              }
              break;
            }
            if (bom > 0) fail(base + i, 'an incomplete UTF-8 byte order mark');
            bom = -1;
          }
          switch (state) {
            case S_VALUE:
              value(i, b, stack.length > 0 && stack[stack.length - 1] === true);
              break;
            case S_ARR_FIRST:
              if (b === 0x5d) close(chunk, i);
              else value(i, b, false);
              break;
            case S_OBJ_FIRST:
            case S_KEY:
              if (b === 0x22) {
                strIsKey = true;
                if (stack.length === 1 && top === 'object') startCapture('key', i, FIELD_CAPTURE_BYTES);
                state = S_STR;
              } else if (b === 0x7d && state === S_OBJ_FIRST) {
                close(chunk, i);
              } else {
                fail(base + i, b === 0x7d ? 'a comma before "}" (trailing commas are not JSON)' : `expected a property name in double quotes, found ${describeByte(b)}`);
              }
              break;
            case S_COLON:
              if (b !== 0x3a) fail(base + i, `expected ":" after a property name, found ${describeByte(b)}`);
              state = S_VALUE;
              break;
            case S_AFTER: {
              if (stack.length === 0) fail(base + i, `unexpected ${describeByte(b)} after the end of the JSON value`);
              const inArray = stack[stack.length - 1]!;
              if (b === 0x2c) state = inArray ? S_VALUE : S_KEY;
              else if (inArray ? b === 0x5d : b === 0x7d) {
                close(chunk, i);
                break;
              } else fail(base + i, inArray ? `expected "," or "]" after an array element, found ${describeByte(b)}` : `expected "," or "}" after a property value, found ${describeByte(b)}`);
              break;
            }
          }
          i++;
        }
      }
    }
    if (capWhat !== null) {
      flushCapture(chunk, n);
      capStart = 0;
    }
    base += n;
  }

  function end(): EnvelopeScan {
    const empty = new Uint8Array(0);
    if (state === S_NUM) {
      if (numberStep(num, 0x20) === -2) fail(base, 'an incomplete number');
      endValue(empty, 0);
    }
    if (top === null) throw new PeopleSyncError(ErrorCode.Invalid, 'The body is empty: send a JSON object such as {"mode": "full", "employees": […]}.');
    if (state !== S_AFTER || stack.length > 0) {
      const what =
        state === S_STR || state === S_ESC || state === S_UNI
          ? 'inside a string that is never closed'
          : stack.length
            ? `with ${stack.length} "{" or "[" never closed`
            : 'inside an incomplete value';
      fail(base, `the body ends early, ${what}`);
    }
    return { top, fields, records };
  }

  return { push, end };
}

function describeByte(b: number): string {
  if (b >= 0x21 && b <= 0x7e) return `"${String.fromCharCode(b)}"`;
  if (b === 0x20) return 'a space';
  return `byte 0x${b.toString(16).padStart(2, '0')}`;
}
