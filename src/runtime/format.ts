/**
 * stap's printf family: parsing format strings (pass-1 rules of staptree.cxx string_to_components) and
 * rendering them byte-exactly as stap's runtime does (the compiled printf of translate.cxx, which calls
 * number(), _stp_vsprint_char/_memory/_binary of runtime/vsprintf.c).
 *
 * String contract: stap strings are JS "byte strings" — every char code is one byte (0..255), as
 * Buffer.toString('latin1') produces; write output with Buffer.from(s, 'latin1'). Lengths, MAXSTRINGLEN
 * and byte-order comparisons are then plain JS string operations. Strings never contain NUL (sprintf cuts
 * at the first NUL, as a C string would).
 *
 * Behaviour worth knowing (all verified against the stap sources):
 * - Only ONE flag character is parsed per conversion: `%-5d` and `%08d` work, `%+-5d` is
 *   "invalid or missing conversion specifier". `%%` and a trailing lone `%` are literal percent signs.
 * - `%#x`/`%#o`/`%p` always get their prefix, also for 0 (`%#x` of 0 is `0x0`, `%#o` of 0 is `00`); `%p` is
 *   `%#x` of the 64-bit value, unpadded (stap >= 1.3).
 * - `0` padding is applied even with a precision (`%08.3d` of 5 is `00000005`); `%.0d` of 0 prints `0`.
 * - A `*` width or precision is the argument truncated to int, then clamped to [0, space left]: a negative
 *   `*` width means 0, not left-justification.
 * - `%05s` (and `%0m`, `%0M`) append a NUL byte after the padded field (runtime quirk); in sprintf that
 *   NUL ends the string.
 * - `%c` prints the low byte; `%#c` escapes non-printables as `\n`-style or 3-digit octal escapes.
 * - `%b` writes the value's low 1/2/4/8 bytes little-endian (the width picks the size; default 8) padded
 *   with NUL bytes.
 * - printf output is limited to STP_BUFFER_SIZE (8192) bytes per call; sprintf results to
 *   MAXSTRINGLEN-1 (511) bytes. Near the limit, widths clamp to the space left exactly as the runtime does.
 */
import { StapError } from './errors.js';
import type { Long } from './long.js';

/** Runtime limits (stap -D overridable). Set before running handlers. */
export const limits = {
  /** MAXSTRINGLEN: buffer size including the NUL, so strings hold at most maxStringLen-1 bytes. */
  maxStringLen: 512,
  /** STP_BUFFER_SIZE: the most one printf call can emit. */
  printBufferSize: 8192,
  /** PAGE_SIZE: the largest %m/%M dump. */
  pageSize: 4096,
};

// Flag bits, numerically the same as stap's print_flag / format_flag enums.
export const FLAG_ZEROPAD = 1;
export const FLAG_SIGN = 2;
export const FLAG_PLUS = 4;
export const FLAG_SPACE = 8;
export const FLAG_LEFT = 16;
export const FLAG_SPECIAL = 32;
export const FLAG_LARGE = 64;

export type Conversion = 'b' | 'c' | 's' | 'm' | 'M' | 'd' | 'i' | 'u' | 'o' | 'x' | 'X' | 'p';

export interface LiteralSpec {
  kind: 'literal';
  text: string;
}

export interface ConversionSpec {
  kind: 'conversion';
  conv: Conversion;
  /** FLAG_* bits: the user's flag plus the implied SIGN (d, i), LARGE (X) and SPECIAL (p). */
  flags: number;
  /** A literal width, '*' (taken from the next argument) or null when absent. */
  width: number | '*' | null;
  /** A literal precision, '*' or null when absent. */
  precision: number | '*' | null;
  /** Numeric base for d i u o x X p. */
  base: 8 | 10 | 16;
}

export type FormatSpec = LiteralSpec | ConversionSpec;

export type FormatArg = Long | string;

const NUMERIC_BASE: Partial<Record<Conversion, 8 | 10 | 16>> = { d: 10, i: 10, u: 10, o: 8, x: 16, X: 16, p: 16 };

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '9';
}

/**
 * Splits a format string into literal and conversion components, with stap's error texts
 * ('invalid or missing conversion specifier', 'trailing incomplete print format conversion').
 */
export function parseFormat(fmt: string): FormatSpec[] | { error: string } {
  const out: FormatSpec[] = [];
  let literal = '';
  let i = 0;
  const n = fmt.length;
  while (i < n) {
    const ch = fmt[i];
    if (ch !== '%') {
      literal += ch;
      i++;
      continue;
    }
    if (i + 1 === n || fmt[i + 1] === '%') {
      literal += '%';
      i += 2;
      continue;
    }
    if (literal !== '') {
      out.push({ kind: 'literal', text: literal });
      literal = '';
    }
    i++;
    // A partial conversion at the end of the string is an error only if it has something in it.
    let flags = 0;
    let width: number | '*' | null = null;
    let precision: number | '*' | null = null;
    const incomplete = (): { error: string } | null =>
      flags !== 0 || width !== null || precision !== null ? { error: 'trailing incomplete print format conversion' } : null;

    switch (fmt[i]) {
      case '0': flags |= FLAG_ZEROPAD; i++; break;
      case '+': flags |= FLAG_PLUS; i++; break;
      case '-': flags |= FLAG_LEFT; i++; break;
      case ' ': flags |= FLAG_SPACE; i++; break;
      case '#': flags |= FLAG_SPECIAL; i++; break;
    }
    if (i === n) return incomplete() ?? out;
    if (fmt[i] === '*') {
      width = '*';
      i++;
    } else if (isDigit(fmt[i])) {
      let w = 0;
      while (i < n && isDigit(fmt[i])) w = w * 10 + (fmt.charCodeAt(i++) - 48);
      width = w;
    }
    if (i === n) return incomplete() ?? out;
    if (fmt[i] === '.') {
      i++;
      if (i === n) return incomplete() ?? out;
      if (fmt[i] === '*') {
        precision = '*';
        i++;
      } else if (isDigit(fmt[i])) {
        let p = 0;
        while (i < n && isDigit(fmt[i])) p = p * 10 + (fmt.charCodeAt(i++) - 48);
        precision = p;
      }
    }
    if (i === n) return incomplete() ?? out;
    if (fmt[i] === 'l') {
      i++;
      if (i === n) return incomplete() ?? out;
    }
    const conv = fmt[i];
    let base: 8 | 10 | 16 = 10;
    switch (conv) {
      case 'b': case 'c': case 's': case 'm': case 'M':
        break;
      case 'd': case 'i':
        flags |= FLAG_SIGN;
        break;
      case 'u': case 'o': case 'x':
        break;
      case 'X':
        flags |= FLAG_LARGE;
        break;
      case 'p':
        flags |= FLAG_SPECIAL;
        break;
      default:
        return { error: 'invalid or missing conversion specifier' };
    }
    base = NUMERIC_BASE[conv as Conversion] ?? base;
    out.push({ kind: 'conversion', conv: conv as Conversion, flags, width, precision, base });
    i++;
  }
  if (literal !== '') out.push({ kind: 'literal', text: literal });
  return out;
}

/** How many arguments the format consumes, counting `*` widths and precisions. */
export function formatArgCount(spec: readonly FormatSpec[]): number {
  let n = 0;
  for (const c of spec) {
    if (c.kind === 'literal') continue;
    if (c.width === '*') n++;
    if (c.precision === '*') n++;
    n++;
  }
  return n;
}

/**
 * The stap type of each argument, for the type checker. `%m`/`%M` take an address (long) in the script;
 * at run time the caller resolves the memory and passes the bytes (a string) in that slot instead.
 */
export function argTypes(spec: readonly FormatSpec[]): ('long' | 'string')[] {
  const types: ('long' | 'string')[] = [];
  for (const c of spec) {
    if (c.kind === 'literal') continue;
    if (c.width === '*') types.push('long');
    if (c.precision === '*') types.push('long');
    types.push(c.conv === 's' ? 'string' : 'long');
  }
  return types;
}

/** One memory dump a format needs: read `length` bytes at `address` (user memory if `user`). */
export interface MemoryRead {
  argIndex: number;
  address: Long;
  length: number;
  user: boolean;
}

/**
 * The memory reads the caller must perform before formatting (`%m`, `%M`), and stap's check that each
 * dump is at most PAGE_SIZE (StapError '<n> is too many bytes for a memory dump'). The caller replaces
 * args[argIndex] with the bytes read, as a byte string.
 */
export function memoryReads(spec: readonly FormatSpec[], args: readonly FormatArg[]): MemoryRead[] {
  const reads: MemoryRead[] = [];
  let ai = 0;
  for (const c of spec) {
    if (c.kind === 'literal') continue;
    if (c.width === '*') ai++;
    let length: Long = 1;
    if (c.precision === '*') length = args[ai++] as Long;
    else if (c.precision !== null && c.precision > 0) length = c.precision;
    if (c.conv === 'm' || c.conv === 'M') {
      if (length > limits.pageSize) throw new StapError(`${length} is too many bytes for a memory dump`);
      reads.push({ argIndex: ai, address: args[ai] as Long, length: Number(length), user: (c.flags & FLAG_SPECIAL) !== 0 });
    }
    ai++;
  }
  return reads;
}

// ---------------------------------------------------------------------------------------------------
// Rendering of single conversions.

/** C's (int) conversion of a 64-bit value: keep the low 32 bits, signed. */
function toInt32(v: Long): number {
  return typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v));
}

function unsignedDigits(v: Long, base: number): string {
  if (typeof v === 'number' && v >= 0) return v.toString(base);
  return BigInt.asUintN(64, BigInt(v)).toString(base);
}

function spaces(n: number): string {
  return n > 0 ? ' '.repeat(n) : '';
}

/** runtime/vsprintf.c number(): every integer conversion. width/precision are -1 when unspecified. */
export function formatNumber(v: Long, base: number, flags: number, width: number, precision: number): string {
  let digits: string;
  let sign = '';
  let size = width;
  if (flags & FLAG_LEFT) flags &= ~FLAG_ZEROPAD;
  if (flags & FLAG_SIGN) {
    if (v < 0) {
      sign = '-';
      digits = typeof v === 'number' ? (-v).toString(base) : (-BigInt(v)).toString(base);
    } else {
      digits = v.toString(base);
      if (flags & FLAG_PLUS) sign = '+';
      else if (flags & FLAG_SPACE) sign = ' ';
    }
    if (sign !== '') size--;
  } else {
    digits = unsignedDigits(v, base);
  }
  if (flags & FLAG_LARGE) digits = digits.toUpperCase();
  let prefix = '';
  if (flags & FLAG_SPECIAL) {
    if (base === 16) {
      prefix = flags & FLAG_LARGE ? '0X' : '0x';
      size -= 2;
    } else if (base === 8) {
      prefix = '0';
      size--;
    }
  }
  if (precision < digits.length) precision = digits.length;
  size -= precision;
  let out = '';
  if (!(flags & (FLAG_ZEROPAD | FLAG_LEFT))) {
    out += spaces(size);
    size = -1;
  }
  out += sign + prefix;
  if (!(flags & FLAG_LEFT) && size > 0) out += (flags & FLAG_ZEROPAD ? '0' : ' ').repeat(size);
  if (precision > digits.length) out += '0'.repeat(precision - digits.length);
  out += digits;
  if (flags & FLAG_LEFT) out += spaces(size);
  return out;
}

const C_ESCAPES: Record<number, string> = {
  7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v', 39: "\\'", 92: '\\\\',
};

function lowByte(v: Long): number {
  return typeof v === 'number' ? v & 0xff : Number(BigInt.asUintN(8, v));
}

/** _stp_vsprint_char: %c and %#c. */
export function formatChar(v: Long, flags: number, width: number): string {
  const byte = lowByte(v);
  let text: string;
  if ((flags & FLAG_SPECIAL) && (byte < 0x20 || byte > 0x7e || byte === 39 || byte === 92)) {
    text = C_ESCAPES[byte] ?? '\\' + (byte >> 6).toString() + ((byte >> 3) & 7).toString() + (byte & 7).toString();
  } else {
    text = String.fromCharCode(byte);
  }
  const pad = width - text.length;
  if (pad <= 0) return text;
  return flags & FLAG_LEFT ? text + spaces(pad) : spaces(pad) + text;
}

/** _stp_vsprint_memory for 's', 'm' and 'M'. For m/M `value` holds the memory bytes. */
export function formatMemory(value: string, conv: 's' | 'm' | 'M', flags: number, width: number, precision: number): string {
  let body: string;
  if (conv === 's') {
    const max = precision < 0 ? limits.printBufferSize : Math.min(precision, limits.printBufferSize);
    body = value.length > max ? value.slice(0, max) : value;
  } else {
    const len = precision > 0 ? precision : 1;
    let bytes = value.length >= len ? value.slice(0, len) : value + '\0'.repeat(len - value.length);
    if (conv === 'M') {
      let hex = '';
      for (let k = 0; k < bytes.length; k++) hex += (bytes.charCodeAt(k) & 0xff).toString(16).padStart(2, '0');
      bytes = hex;
    }
    body = bytes;
  }
  const pad = width - body.length;
  let out = pad > 0 ? (flags & FLAG_LEFT ? body + spaces(pad) : spaces(pad) + body) : body;
  if (flags & FLAG_ZEROPAD) out += '\0';
  return out;
}

function binaryPrecision(p: number): number {
  return p === 1 || p === 2 || p === 4 || p === 8 ? p : -1;
}

/** _stp_vsprint_binary: %b. */
export function formatBinary(v: Long, flags: number, width: number, precision: number): string {
  precision = binaryPrecision(precision);
  if (width === -1) {
    if (precision === -1) {
      width = 8;
      precision = 8;
    } else {
      width = precision;
    }
  } else if (precision === -1) {
    precision = binaryPrecision(width);
    if (precision === -1) precision = 8;
  }
  let bits = BigInt.asUintN(64, BigInt(v));
  let bytes = '';
  for (let k = 0; k < precision; k++) {
    bytes += String.fromCharCode(Number(bits & 0xffn));
    bits >>= 8n;
  }
  const pad = width > precision ? '\0'.repeat(width - precision) : '';
  return flags & FLAG_LEFT ? bytes + pad : pad + bytes;
}

function formatOne(c: ConversionSpec, value: FormatArg, width: number, precision: number): string {
  switch (c.conv) {
    case 's':
    case 'm':
    case 'M':
      return formatMemory(value as string, c.conv, c.flags, width, precision);
    case 'c':
      return formatChar(value as Long, c.flags, width);
    case 'b':
      return formatBinary(value as Long, c.flags, width, precision);
    default:
      return formatNumber(value as Long, c.base, c.flags, width, precision);
  }
}

function clampTo(v: number, hi: number): number {
  return v < 0 ? 0 : v > hi ? hi : v;
}

/**
 * Renders into a buffer of `limit` bytes as the compiled printf does: each width/precision clamps to
 * the space left, and output past the buffer is dropped.
 */
function render(spec: readonly FormatSpec[], args: readonly FormatArg[], limit: number): string {
  let out = '';
  let ai = 0;
  for (const c of spec) {
    if (out.length >= limit) break;
    if (c.kind === 'literal') {
      out += c.text;
      continue;
    }
    const room = limit - out.length;
    let width = -1;
    let precision = -1;
    if (c.width === '*') width = clampTo(toInt32(args[ai++] as Long), room);
    else if (c.width !== null) width = clampTo(c.width, room);
    if (c.precision === '*') precision = clampTo(toInt32(args[ai++] as Long), room);
    else if (c.precision !== null) precision = clampTo(c.precision, room);
    out += formatOne(c, args[ai++], width, precision);
  }
  return out.length > limit ? out.slice(0, limit) : out;
}

function checkMemoryDumps(spec: readonly FormatSpec[], args: readonly FormatArg[]): void {
  for (const c of spec) {
    if (c.kind === 'conversion' && (c.conv === 'm' || c.conv === 'M')) {
      memoryReads(spec, args);
      return;
    }
  }
}

function finishSprintf(text: string): string {
  const max = limits.maxStringLen - 1;
  if (text.length > max) text = text.slice(0, max);
  const nul = text.indexOf('\0');
  return nul >= 0 ? text.slice(0, nul) : text;
}

/** stap `sprintf`: the formatted string, cut like a MAXSTRINGLEN C buffer (<= 511 bytes, ends at NUL). */
export function sprintf(spec: readonly FormatSpec[], args: readonly FormatArg[]): string {
  checkMemoryDumps(spec, args);
  return finishSprintf(render(spec, args, limits.maxStringLen));
}

/** stap `printf`: the bytes one printf call emits (at most STP_BUFFER_SIZE; NUL bytes kept). */
export function formatPrint(spec: readonly FormatSpec[], args: readonly FormatArg[]): string {
  let conversions = 0;
  for (const c of spec) if (c.kind === 'conversion') conversions++;
  // stap prints these two shapes with _stp_print directly, without the print buffer limit.
  if (conversions === 0) {
    let text = '';
    for (const c of spec) text += (c as LiteralSpec).text;
    return text;
  }
  if (spec.length === 1 && conversions === 1) {
    const c = spec[0] as ConversionSpec;
    if (c.conv === 's' && c.flags === 0 && c.width === null && c.precision === null) return args[0] as string;
  }
  checkMemoryDumps(spec, args);
  return render(spec, args, limits.printBufferSize);
}

/** Cuts a string result to MAXSTRINGLEN-1 bytes, as every stap string operation does. */
export function truncate(s: string, maxlen: number = limits.maxStringLen): string {
  return s.length < maxlen ? s : s.slice(0, maxlen - 1);
}

// ---------------------------------------------------------------------------------------------------
// Compiled formats: a specialised closure per format string.

function fmtUnsigned(v: Long): string {
  return typeof v === 'number' && v >= 0 ? '' + v : BigInt.asUintN(64, BigInt(v)).toString();
}
function fmtHex(v: Long): string {
  return unsignedDigits(v, 16);
}
function fmtHexUpper(v: Long): string {
  return unsignedDigits(v, 16).toUpperCase();
}
function fmtOctal(v: Long): string {
  return unsignedDigits(v, 8);
}
function fmtChar(v: Long): string {
  return String.fromCharCode(lowByte(v));
}

export type CompiledFormat = (args: readonly FormatArg[]) => string;

/**
 * Compiles a format string to a fast `(args) => string`. mode 'print' gives printf's bytes, 'sprintf'
 * the sprintf result. Common conversions (plain %d %i %s %u %x %X %o %c %p) become inline string
 * concatenation; anything else, and any result that reaches a buffer limit, goes through the exact
 * renderer. Throws Error on a malformed format (the parser reports those at compile time).
 */
export function compileFormat(fmt: string, mode: 'print' | 'sprintf' = 'print'): CompiledFormat {
  const parsed = parseFormat(fmt);
  if (!Array.isArray(parsed)) throw new Error(`bad format ${JSON.stringify(fmt)}: ${parsed.error}`);
  const spec: FormatSpec[] = parsed;
  const slow: CompiledFormat =
    mode === 'print' ? (args) => formatPrint(spec, args) : (args) => sprintf(spec, args);

  const helpers: unknown[] = [];
  const helperNames: string[] = [];
  const helper = (fn: unknown): string => {
    helpers.push(fn);
    const name = `h${helpers.length - 1}`;
    helperNames.push(name);
    return name;
  };
  const hU = helper(fmtUnsigned);
  const hX = helper(fmtHex);
  const hXU = helper(fmtHexUpper);
  const hO = helper(fmtOctal);
  const hC = helper(fmtChar);
  const hSlow = helper(slow);
  const hLimits = helper(limits);

  const parts: string[] = [];
  let ai = 0;
  let mayNul = false;
  let hasMemory = false;
  let conversions = 0;
  for (const c of spec) {
    if (c.kind === 'literal') {
      parts.push(JSON.stringify(c.text));
      continue;
    }
    conversions++;
    if (c.conv === 'c' || c.conv === 'b' || c.conv === 'm' || (c.flags & FLAG_ZEROPAD && (c.conv === 's' || c.conv === 'M'))) mayNul = true;
    if (c.conv === 'm' || c.conv === 'M') hasMemory = true;
    const plain = c.width === null && c.precision === null;
    if (plain && (c.conv === 'd' || c.conv === 'i') && c.flags === FLAG_SIGN) parts.push(`('' + a[${ai++}])`);
    else if (plain && c.conv === 's' && c.flags === 0) parts.push(`a[${ai++}]`);
    else if (plain && c.conv === 'u' && c.flags === 0) parts.push(`${hU}(a[${ai++}])`);
    else if (plain && c.conv === 'x' && c.flags === 0) parts.push(`${hX}(a[${ai++}])`);
    else if (plain && c.conv === 'X' && c.flags === FLAG_LARGE) parts.push(`${hXU}(a[${ai++}])`);
    else if (plain && c.conv === 'o' && c.flags === 0) parts.push(`${hO}(a[${ai++}])`);
    else if (plain && c.conv === 'p' && c.flags === FLAG_SPECIAL) parts.push(`('0x' + ${hX}(a[${ai++}]))`);
    else if (plain && c.conv === 'c' && c.flags === 0) parts.push(`${hC}(a[${ai++}])`);
    else {
      // General conversion with fixed argument slots; clamping to the whole buffer is exact whenever the
      // result fits, and results that do not fit are redone by the exact renderer.
      const widthIdx = c.width === '*' ? ai++ : -1;
      const precIdx = c.precision === '*' ? ai++ : -1;
      const valueIdx = ai++;
      const bufferLimit = (): number => (mode === 'print' ? limits.printBufferSize : limits.maxStringLen);
      const general = (a: readonly FormatArg[]): string => {
        const lim = bufferLimit();
        const width = widthIdx >= 0 ? clampTo(toInt32(a[widthIdx] as Long), lim) : c.width === null ? -1 : clampTo(c.width as number, lim);
        const precision = precIdx >= 0 ? clampTo(toInt32(a[precIdx] as Long), lim) : c.precision === null ? -1 : clampTo(c.precision as number, lim);
        return formatOne(c, a[valueIdx], width, precision);
      };
      parts.push(`${helper(general)}(a)`);
    }
  }

  // printf of a bare literal or of a lone plain %s is written directly by stap, without the buffer limit.
  if (mode === 'print' && conversions === 0) {
    const text = spec.map((c) => (c as LiteralSpec).text).join('');
    return () => text;
  }
  if (mode === 'print' && spec.length === 1) {
    const c = spec[0] as ConversionSpec;
    if (c.conv === 's' && c.flags === 0 && c.width === null && c.precision === null) return (a) => a[0] as string;
  }
  // %m/%M need the up-front dump-size check.
  if (hasMemory) return slow;

  const expr = parts.length > 0 ? parts.join(' + ') : '""';
  const check =
    mode === 'print'
      ? `r.length > ${hLimits}.printBufferSize`
      : `r.length >= ${hLimits}.maxStringLen${mayNul ? " || r.indexOf('\\0') >= 0" : ''}`;
  const body = `return function compiledFormat(a) { const r = ${expr}; if (${check}) return ${hSlow}(a); return r; };`;
  return new Function(...helperNames, body)(...helpers) as CompiledFormat;
}
