/**
 * stap's `long`: a signed 64-bit integer with two's-complement wrap-around, exact at every magnitude.
 *
 * Representation contract: `Long = number | bigint` in canonical form — a JS number whenever the value is a
 * safe integer (|v| <= 2^53-1), a bigint otherwise (always within int64). Canonical form makes `===`, `<`
 * and Map keys work directly on Longs. Every function here returns canonical values; the fast paths
 * (both operands numbers, result safe) never allocate a bigint.
 *
 * Semantics follow what stap's generated C does on x86-64 (runtime/arith.c, translate.cxx):
 * - `/` and `%` truncate toward zero (C99); by 0 they throw StapError('division by 0').
 *   INT64_MIN / -1 wraps to INT64_MIN (stap's _stp_div64 returns -x for y == -1), INT64_MIN % -1 is 0
 *   (_stp_mod64 returns 0 for y == ±1).
 * - `<<`, `>>`, `>>>`: stap emits `x << max(min(n, 64), 0)`; the x86-64 shift instruction then masks the
 *   count to 6 bits. So a count < 0 or >= 64 leaves the value unchanged, and counts 0..63 shift normally.
 *   `>>` is arithmetic, `>>>` logical (on the unsigned 64-bit pattern).
 */
import { StapError } from './errors.js';

export type Long = number | bigint;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MIN_SAFE = -MAX_SAFE;
const BIG_MAX_SAFE = BigInt(MAX_SAFE);
const BIG_MIN_SAFE = -BIG_MAX_SAFE;
const TWO32 = 4294967296;

export const INT64_MAX: Long = 9223372036854775807n;
export const INT64_MIN: Long = -9223372036854775808n;

/** Wraps any bigint to int64 and returns the canonical Long. */
export function fromBigInt(b: bigint): Long {
  const w = BigInt.asIntN(64, b);
  return w >= BIG_MIN_SAFE && w <= BIG_MAX_SAFE ? Number(w) : w;
}

/** The value as a bigint (for callers that need exact int64 arithmetic of their own). */
export function toBigInt(v: Long): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

/** Converts a JS integer-valued number (any magnitude, e.g. from a double) to a Long, wrapping to int64. */
export function fromNumber(n: number): Long {
  if (n <= MAX_SAFE && n >= MIN_SAFE) {
    const t = Math.trunc(n);
    return t === 0 ? 0 : t;
  }
  if (!Number.isFinite(n)) return 0;
  return fromBigInt(BigInt(Math.trunc(n)));
}

/** True if `v` is a canonical Long (used by tests and assertions). */
export function isCanonical(v: unknown): v is Long {
  if (typeof v === 'number') return Number.isSafeInteger(v) && !Object.is(v, -0);
  if (typeof v === 'bigint') return (v > BIG_MAX_SAFE || v < BIG_MIN_SAFE) && BigInt.asIntN(64, v) === v;
  return false;
}

export function add(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (r <= MAX_SAFE && r >= MIN_SAFE) return r;
  }
  return fromBigInt(toBigInt(a) + toBigInt(b));
}

export function sub(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a - b;
    if (r <= MAX_SAFE && r >= MIN_SAFE) return r;
  }
  return fromBigInt(toBigInt(a) - toBigInt(b));
}

export function mul(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    // If the exact product is safe, the double product is exact; otherwise it is >= 2^53 in magnitude.
    const r = a * b;
    if (r <= MAX_SAFE && r >= MIN_SAFE) return r === 0 ? 0 : r;
  }
  return fromBigInt(toBigInt(a) * toBigInt(b));
}

/** Truncating division; throws StapError('division by 0'). INT64_MIN / -1 wraps to INT64_MIN. */
export function div(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    if (b === 0) throw new StapError('division by 0');
    // For |a| < 2^53 the correctly rounded quotient never crosses an integer, so trunc is exact.
    const r = Math.trunc(a / b);
    return r === 0 ? 0 : r;
  }
  const bb = toBigInt(b);
  if (bb === 0n) throw new StapError('division by 0');
  return fromBigInt(toBigInt(a) / bb);
}

/** C remainder (sign of the dividend); throws StapError('division by 0'). */
export function mod(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    if (b === 0) throw new StapError('division by 0');
    const r = a % b;
    return r === 0 ? 0 : r;
  }
  const bb = toBigInt(b);
  if (bb === 0n) throw new StapError('division by 0');
  return fromBigInt(toBigInt(a) % bb);
}

export function neg(a: Long): Long {
  if (typeof a === 'number') return a === 0 ? 0 : -a;
  return fromBigInt(-a);
}

/** Effective shift count as stap/x86-64 computes it: clamp to [0,64], then mask to 6 bits. */
function shiftCount(n: Long): number {
  if (typeof n === 'number') return n > 0 && n < 64 ? n : 0;
  return 0; // bigint counts are far outside 0..63
}

export function shl(a: Long, n: Long): Long {
  const c = shiftCount(n);
  if (c === 0) return a;
  if (typeof a === 'number' && c < 53) {
    const r = a * 2 ** c;
    if (r <= MAX_SAFE && r >= MIN_SAFE) return r;
  }
  return fromBigInt(toBigInt(a) << BigInt(c));
}

/** Arithmetic right shift (stap `>>`). */
export function shr(a: Long, n: Long): Long {
  const c = shiftCount(n);
  if (c === 0) return a;
  if (typeof a === 'number') {
    const r = Math.floor(a / 2 ** c);
    return r === 0 ? 0 : r;
  }
  return fromBigInt(a >> BigInt(c));
}

/** Logical right shift of the unsigned 64-bit pattern (stap `>>>`). */
export function ushr(a: Long, n: Long): Long {
  const c = shiftCount(n);
  if (c === 0) return a;
  if (typeof a === 'number' && a >= 0) return Math.floor(a / 2 ** c);
  return fromBigInt(BigInt.asUintN(64, toBigInt(a)) >> BigInt(c));
}

// Bitwise operations on safe integers split into a signed high word and an unsigned low word; for
// |v| < 2^53 the high word fits in 22 signed bits and and/or/xor keep it there, so the result lies in
// [-2^53, 2^53-1] and only -2^53 itself needs a bigint.
function hiWord(v: number): number {
  return Math.floor(v / TWO32);
}

function joinWords(hi: number, lo: number): Long {
  const r = hi * TWO32 + lo;
  return r >= MIN_SAFE ? r : BigInt(r);
}

export function band(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    if ((a | 0) === a && (b | 0) === b) return a & b;
    return joinWords(hiWord(a) & hiWord(b), (a & b) >>> 0);
  }
  return fromBigInt(toBigInt(a) & toBigInt(b));
}

export function bor(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    if ((a | 0) === a && (b | 0) === b) return a | b;
    return joinWords(hiWord(a) | hiWord(b), (a | b) >>> 0);
  }
  return fromBigInt(toBigInt(a) | toBigInt(b));
}

export function bxor(a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    if ((a | 0) === a && (b | 0) === b) return a ^ b;
    return joinWords(hiWord(a) ^ hiWord(b), (a ^ b) >>> 0);
  }
  return fromBigInt(toBigInt(a) ^ toBigInt(b));
}

export function bnot(a: Long): Long {
  if (typeof a === 'number') {
    const r = -a - 1;
    if (r >= MIN_SAFE) return r;
  }
  return fromBigInt(~toBigInt(a));
}

// Canonical form makes mixed number/bigint comparison by JS operators exact.
export function lt(a: Long, b: Long): boolean {
  return a < b;
}
export function le(a: Long, b: Long): boolean {
  return a <= b;
}
export function gt(a: Long, b: Long): boolean {
  return a > b;
}
export function ge(a: Long, b: Long): boolean {
  return a >= b;
}
export function eq(a: Long, b: Long): boolean {
  return a === b;
}
export function ne(a: Long, b: Long): boolean {
  return a !== b;
}
/** stap truth: non-zero. (A canonical bigint is never zero.) */
export function truthy(a: Long): boolean {
  return a !== 0;
}

/** 1 or 0 from a JS boolean, for comparison results used as values. */
export function fromBool(b: boolean): Long {
  return b ? 1 : 0;
}

/**
 * Parses stap integer literal text — decimal, `0x`/`0X` hex or leading-0 octal, no sign — as the lexer
 * does: values up to 2^64-1 are accepted and wrap (so 0xffffffffffffffff is -1, 9223372036854775808 is
 * INT64_MIN). Returns undefined for malformed text or values above 2^64-1.
 */
export function parseLong(text: string): Long | undefined {
  let digits: string;
  let prefix: string;
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) {
    prefix = '0x';
    digits = text.slice(2);
  } else if (/^0[0-7]*$/.test(text)) {
    prefix = '0o';
    digits = text.length > 1 ? text.slice(1) : '0';
  } else if (/^[1-9][0-9]*$/.test(text)) {
    prefix = '';
    digits = text;
  } else {
    return undefined;
  }
  const value = BigInt(prefix + digits);
  if (value > 0xffffffffffffffffn) return undefined;
  return fromBigInt(value);
}

/** Decimal text, as `%d` prints it. */
export function toDecimalString(v: Long): string {
  return '' + v;
}

/** The unsigned 64-bit interpretation of the bit pattern (`%u`), in [0, 2^64). */
export function toUnsigned64(v: Long): bigint {
  return BigInt.asUintN(64, toBigInt(v));
}

/** Reads a little-endian int64 from a buffer without allocating a bigint when the value is safe. */
export function readInt64LE(buf: Uint8Array, offset: number): Long {
  const lo = (buf[offset] | (buf[offset + 1] << 8) | (buf[offset + 2] << 16) | (buf[offset + 3] << 24)) >>> 0;
  const hi = buf[offset + 4] | (buf[offset + 5] << 8) | (buf[offset + 6] << 16) | (buf[offset + 7] << 24);
  if (hi >= -0x200000 && hi < 0x200000) {
    const r = hi * TWO32 + lo;
    if (r <= MAX_SAFE && r >= MIN_SAFE) return r;
  }
  return fromBigInt((BigInt(hi) << 32n) | BigInt(lo));
}
