/**
 * Event record layouts: parses tracefs `format` and `header_page` files and compiles, per event, a decoder that turns
 * the raw record bytes from trace_pipe_raw into field values.
 *
 * Value contract (shared with every consumer of decoded records):
 * - integers honour the field's size and `signed:` flag; a 64-bit value is a `number` when |v| <= 2^53-1, else a
 *   `bigint` (so kernel pointers such as 0xffff... come out as bigint, user pointers and counts as numbers);
 * - `char[N]`, `char[]` and `__data_loc`/`__rel_loc char[]` are NUL-terminated strings;
 * - every other array (fixed, flexible or dynamic) is an array of integers under the same rule.
 * Records carry host byte order; offsets always come from `format`, never from the record length (the ring buffer
 * rounds lengths up).
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';

export type FieldValue = number | bigint | string | Array<number | bigint>;
export type DecodedEvent = Record<string, FieldValue>;

/** How a field's bytes turn into a value; computed once at parse time so decoders never look at type names. */
export type FieldKind =
  | 'int' // scalar integer of `size` bytes (pointers, bools and enums included)
  | 'string' // char[N] / char[]: NUL-terminated text stored inline
  | 'array' // fixed or flexible array of `elementSize`-byte integers stored inline
  | 'dynString' // __data_loc / __rel_loc char[]: NUL-terminated text stored after the fixed fields
  | 'dynArray'; // __data_loc / __rel_loc T[]: integers stored after the fixed fields

export interface FieldFormat {
  /** C identifier, e.g. `prev_comm`. */
  name: string;
  /** Declared C type without the name and array suffix, e.g. `char`, `const char *`, `__data_loc char[]`. */
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  /** True for the common_* fields printed before the first blank line of `format`. */
  common: boolean;
  kind: FieldKind;
  /** Fixed arrays: element count; flexible `name[]` arrays: 0 (the data runs to the end of the record). */
  arrayLength?: number;
  /** Byte size of one array element (1 for strings); undefined for scalars. */
  elementSize?: number;
  /** How a dynamic field locates its data: `data_loc` = from the record start, `rel_loc` = from the field's end. */
  dynamic?: 'data_loc' | 'rel_loc';
}

export interface EventFormat {
  name: string;
  /** The value of `common_type` in every record of this event. */
  id: number;
  /** Subsystem (directory) when read from tracefs; empty when parsed from bare text. */
  system: string;
  commonFields: FieldFormat[];
  fields: FieldFormat[];
  /** Common fields followed by event fields, in file order. */
  allFields: FieldFormat[];
  printFmt: string;
}

/** The sub-buffer header described by `events/header_page`. */
export interface HeaderPage {
  timestampOffset: number;
  timestampSize: number;
  commitOffset: number;
  /** sizeof(long) of the kernel: the size of `commit` and of a stored missed-events count. */
  commitSize: number;
  dataOffset: number;
  dataSize: number;
  /** Bytes per sub-buffer, `data.offset + data.size`; what every read of trace_pipe_raw must ask for. */
  subbufSize: number;
}

const FIELD_LINE = /^\s*field:\s*(.+?);\s*offset:\s*(\d+);\s*size:\s*(\d+);\s*signed:\s*(-?\d+);/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Element sizes for types that appear inside `__data_loc T[]`, where the format gives no element size. */
const SCALAR_TYPE_SIZES: Record<string, number> = {
  char: 1, 'signed char': 1, 'unsigned char': 1, u8: 1, s8: 1, __u8: 1, __s8: 1, bool: 1, _Bool: 1, int8_t: 1,
  uint8_t: 1, short: 2, 'unsigned short': 2, u16: 2, s16: 2, __u16: 2, __s16: 2, int16_t: 2, uint16_t: 2,
  __le16: 2, __be16: 2, int: 4, 'unsigned int': 4, unsigned: 4, u32: 4, s32: 4, __u32: 4, __s32: 4, int32_t: 4,
  uint32_t: 4, __le32: 4, __be32: 4, pid_t: 4, uid_t: 4, gid_t: 4, 'long long': 8, 'unsigned long long': 8, u64: 8,
  s64: 8, __u64: 8, __s64: 8, int64_t: 8, uint64_t: 8, __le64: 8, __be64: 8, loff_t: 8,
};

function isCharType(type: string): boolean {
  return /^(const\s+)?(signed\s+)?char$/.test(type.trim());
}

function looksSigned(type: string): boolean {
  const t = type.trim();
  if (/unsigned|^u\d|^__u\d|^uint|^__le|^__be|bool/.test(t)) return false;
  return /^(s\d+|__s\d+|int\d*_t|int|short|long|long long|signed char|pid_t|loff_t|ssize_t)$/.test(t);
}

/** Size of one element of `type`; `longSize` for long-ish and pointer types, undefined when unknown. */
function scalarSize(type: string, longSize: number): number | undefined {
  const t = type.replace(/\bconst\b/g, '').replace(/\s+/g, ' ').trim();
  if (t.endsWith('*')) return longSize;
  if (t in SCALAR_TYPE_SIZES) return SCALAR_TYPE_SIZES[t];
  if (/\blong\b|size_t|cpumask_t/.test(t)) return longSize; // cpumask_t is an array of unsigned long words
  return undefined;
}

/** Parses one `field:` declaration, e.g. `__data_loc char[] filename` or `char prev_comm[16]`. */
function parseFieldDeclaration(
  decl: string, offset: number, size: number, signed: boolean, common: boolean, longSize: number,
): FieldFormat {
  let rest = decl.trim();
  let dynamic: FieldFormat['dynamic'];
  const dyn = /^__(data|rel)_loc\s+/.exec(rest);
  if (dyn) {
    dynamic = dyn[1] === 'data' ? 'data_loc' : 'rel_loc';
    rest = rest.slice(dyn[0].length);
  }
  // The name is the last identifier, optionally followed by "[len]"; `__data_loc char[] name` puts [] on the type.
  const m = /^(.*?)\s*\b([A-Za-z_][A-Za-z0-9_]*)\s*(\[([^\]]*)\])?$/.exec(rest);
  if (!m) throw new Error(`cannot parse field declaration '${decl}'`);
  const baseType = m[1].replace(/\[\s*\]\s*$/, '').trim();
  const name = m[2];
  const field: FieldFormat = { name, type: decl.replace(new RegExp(`\\s*\\b${name}\\s*(\\[[^\\]]*\\])?$`), '').trim(),
    offset, size, signed, common, kind: 'int' };
  if (dynamic) {
    field.dynamic = dynamic;
    if (isCharType(baseType)) {
      field.kind = 'dynString';
      field.elementSize = 1;
    } else {
      field.kind = 'dynArray';
      field.elementSize = scalarSize(baseType, longSize) ?? 1;
      field.signed = looksSigned(baseType);
    }
    return field;
  }
  if (m[3] !== undefined) {
    const lenText = m[4].trim();
    let length = lenText === '' ? 0 : Number(lenText);
    let elementSize: number;
    if (lenText !== '' && Number.isInteger(length) && length > 0) {
      elementSize = Math.max(1, Math.floor(size / length));
    } else {
      // Non-numeric lengths (old kernels print macros such as TASK_COMM_LEN): derive from the element type.
      elementSize = isCharType(baseType) ? 1 : scalarSize(baseType, longSize) ?? 1;
      length = lenText === '' ? 0 : Math.floor(size / elementSize);
    }
    field.arrayLength = length;
    field.elementSize = elementSize;
    field.kind = isCharType(baseType) ? 'string' : 'array';
    return field;
  }
  return field;
}

/**
 * Parses the text of an event `format` file. `longSize` is the kernel's sizeof(long) (from header_page) and is only
 * used for dynamic arrays, whose element size the file does not state.
 */
export function parseEventFormat(text: string, system = '', longSize = 8): EventFormat {
  let name = '';
  let id = -1;
  let printFmt = '';
  const commonFields: FieldFormat[] = [];
  const fields: FieldFormat[] = [];
  let inFields = false;
  let sawCommonBlock = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('name:')) { name = line.slice(5).trim(); continue; }
    if (line.startsWith('ID:')) { id = Number(line.slice(3).trim()); continue; }
    if (line.startsWith('format:')) { inFields = true; continue; }
    if (line.startsWith('print fmt:')) { printFmt = line.slice(10).trim(); inFields = false; continue; }
    if (!inFields) continue;
    if (line.trim() === '') {
      // The first blank line ends the common fields; later ones only separate the field list from print fmt.
      if (commonFields.length > 0) sawCommonBlock = true;
      continue;
    }
    const f = FIELD_LINE.exec(line);
    if (!f) continue;
    const isCommon = !sawCommonBlock;
    const field = parseFieldDeclaration(f[1], Number(f[2]), Number(f[3]), f[4] === '1', isCommon, longSize);
    (isCommon ? commonFields : fields).push(field);
  }
  if (!name || !Number.isInteger(id) || id < 0) throw new Error(`not an event format file (missing name/ID)${system ? ` for ${system}` : ''}`);
  // A format with no blank line (very old kernels) puts everything in the common block: split on the prefix.
  if (!sawCommonBlock && fields.length === 0) {
    const split = commonFields.findIndex((fl) => !fl.name.startsWith('common_'));
    if (split >= 0) {
      for (const fl of commonFields.splice(split)) { fl.common = false; fields.push(fl); }
    }
  }
  return { name, id, system, commonFields, fields, allFields: [...commonFields, ...fields], printFmt };
}

/** Reads and parses `events/<system>/<event>/format` under a tracefs root or instance directory. */
export function readEventFormat(dir: string, system: string, event: string, longSize = 8): EventFormat {
  const path = join(dir, 'events', system, event, 'format');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`no such trace event ${system}:${event} (${path} does not exist)`);
    throw err;
  }
  return parseEventFormat(text, system, longSize);
}

/** Parses `events/header_page`: where the timestamp, commit word and data start in each sub-buffer. */
export function parseHeaderPage(text: string): HeaderPage {
  const found = new Map<string, { offset: number; size: number }>();
  for (const line of text.split('\n')) {
    const f = FIELD_LINE.exec(line);
    if (!f) continue;
    const nameMatch = /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(f[1]);
    if (nameMatch) found.set(nameMatch[1], { offset: Number(f[2]), size: Number(f[3]) });
  }
  const ts = found.get('timestamp');
  const commit = found.get('commit');
  const data = found.get('data');
  if (!ts || !commit || !data) throw new Error('header_page lacks timestamp/commit/data fields');
  return {
    timestampOffset: ts.offset, timestampSize: ts.size, commitOffset: commit.offset, commitSize: commit.size,
    dataOffset: data.offset, dataSize: data.size, subbufSize: data.offset + data.size,
  };
}

export function readHeaderPage(dir: string): HeaderPage {
  return parseHeaderPage(readFileSync(join(dir, 'events', 'header_page'), 'utf8'));
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

export interface DecoderOptions {
  /** Decode only these fields (in this order); default: every field, common ones first. */
  fields?: readonly string[];
  /** Byte order of the records; default: this host's (the kernel writes host order). */
  littleEndian?: boolean;
  /** How string bytes become JS strings; default utf8. `latin1` maps each byte to one char, losslessly. */
  stringEncoding?: 'utf8' | 'latin1';
  /** Generate specialised code with `new Function` (default) or interpret a field table. */
  codegen?: boolean;
}

/**
 * A compiled event decoder. Calling it returns an object keyed by field name; `decodeInto` fills a caller-owned
 * array by index (the order of `fieldNames`) and allocates nothing but the values themselves.
 * `recordLength` bounds strings and flexible arrays; when omitted they are bounded by the buffer.
 */
export interface EventDecoder {
  (buf: Buffer, recordOffset: number, recordLength?: number): DecodedEvent;
  readonly fieldNames: readonly string[];
  decodeInto(buf: Buffer, recordOffset: number, out: FieldValue[], recordLength?: number): void;
}

type FieldReader = (buf: Buffer, recordOffset: number, recordEnd: number) => FieldValue;

const TWO_32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Runtime helpers shared by generated and interpreted decoders. */
function makeHelpers(littleEndian: boolean, encoding: 'utf8' | 'latin1') {
  const u32 = littleEndian
    ? (b: Buffer, p: number) => (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0
    : (b: Buffer, p: number) => ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  const lowAt = littleEndian ? 0 : 4;
  const highAt = littleEndian ? 4 : 0;
  const helpers = {
    u32,
    u8: (b: Buffer, p: number) => b[p] ?? 0,
    s8: (b: Buffer, p: number) => ((b[p] ?? 0) << 24) >> 24,
    u16: littleEndian
      ? (b: Buffer, p: number) => b[p] | (b[p + 1] << 8)
      : (b: Buffer, p: number) => (b[p] << 8) | b[p + 1],
    s16: littleEndian
      ? (b: Buffer, p: number) => ((b[p] | (b[p + 1] << 8)) << 16) >> 16
      : (b: Buffer, p: number) => (((b[p] << 8) | b[p + 1]) << 16) >> 16,
    s32: (b: Buffer, p: number) => u32(b, p) | 0,
    u64(b: Buffer, p: number): number | bigint {
      const hi = u32(b, p + highAt);
      // hi < 2^21 keeps the value below 2^53: exact as a number.
      if (hi < 0x200000) return hi * TWO_32 + u32(b, p + lowAt);
      return littleEndian ? b.readBigUInt64LE(p) : b.readBigUInt64BE(p);
    },
    s64(b: Buffer, p: number): number | bigint {
      const hi = u32(b, p + highAt) | 0;
      // hi * 2^32 is exact and the one rounding of the sum is monotonic, so the range test is exact.
      const v = hi * TWO_32 + u32(b, p + lowAt);
      if (v >= -MAX_SAFE && v <= MAX_SAFE) return v;
      return littleEndian ? b.readBigInt64LE(p) : b.readBigInt64BE(p);
    },
    /** Text of bytes [start, end) up to the first NUL. */
    cstr(b: Buffer, start: number, end: number): string {
      if (end > b.length) end = b.length;
      let i = start;
      while (i < end && b[i] !== 0) i++;
      if (i === start) return '';
      return b.toString(encoding, start, i);
    },
    /** Bounds [start, end) of a __data_loc / __rel_loc payload; `fieldEnd` only matters for rel_loc. */
    dynStart(b: Buffer, rec: number, fieldOffset: number, rel: boolean): number {
      const loc = u32(b, rec + fieldOffset);
      return (rel ? rec + fieldOffset + 4 : rec) + (loc & 0xffff);
    },
    dynLength(b: Buffer, rec: number, fieldOffset: number): number {
      return u32(b, rec + fieldOffset) >>> 16;
    },
    ints(b: Buffer, start: number, count: number, elementSize: number, signed: boolean): Array<number | bigint> {
      const out: Array<number | bigint> = new Array(count);
      for (let i = 0, p = start; i < count; i++, p += elementSize) out[i] = helpers.int(b, p, elementSize, signed);
      return out;
    },
    int(b: Buffer, p: number, size: number, signed: boolean): number | bigint {
      switch (size) {
        case 1: return signed ? helpers.s8(b, p) : helpers.u8(b, p);
        case 2: return signed ? helpers.s16(b, p) : helpers.u16(b, p);
        case 4: return signed ? helpers.s32(b, p) : u32(b, p);
        case 8: return signed ? helpers.s64(b, p) : helpers.u64(b, p);
        default: {
          // Odd sizes do not occur in real formats; read them as unsigned bytes in record order.
          let v = 0n;
          for (let i = 0; i < size; i++) {
            const byte = BigInt(b[littleEndian ? p + size - 1 - i : p + i] ?? 0);
            v = (v << 8n) | byte;
          }
          return v <= BigInt(MAX_SAFE) ? Number(v) : v;
        }
      }
    },
  };
  return helpers;
}

type Helpers = ReturnType<typeof makeHelpers>;

function selectFields(format: EventFormat, names: readonly string[] | undefined): FieldFormat[] {
  if (!names) return format.allFields;
  return names.map((n) => {
    const f = format.allFields.find((x) => x.name === n);
    if (!f) throw new Error(`event ${format.system ? format.system + ':' : ''}${format.name} has no field '${n}'`);
    return f;
  });
}

/** Interpreted reader for one field: the reference semantics the generated code must match. */
function fieldReader(field: FieldFormat, h: Helpers): FieldReader {
  const { offset, size, signed } = field;
  const elementSize = field.elementSize ?? 1;
  switch (field.kind) {
    case 'int':
      return (b, o) => h.int(b, o + offset, size, signed);
    case 'string':
      return field.arrayLength === 0
        ? (b, o, end) => h.cstr(b, o + offset, end)
        : (b, o, end) => h.cstr(b, o + offset, Math.min(o + offset + size, end));
    case 'array':
      return field.arrayLength === 0
        ? (b, o, end) => h.ints(b, o + offset, Math.max(0, Math.floor((Math.min(end, b.length) - o - offset) / elementSize)), elementSize, signed)
        : (b, o) => h.ints(b, o + offset, field.arrayLength ?? 0, elementSize, signed);
    case 'dynString': {
      const rel = field.dynamic === 'rel_loc';
      return (b, o, end) => {
        const start = h.dynStart(b, o, offset, rel);
        return h.cstr(b, start, Math.min(start + h.dynLength(b, o, offset), end));
      };
    }
    case 'dynArray': {
      const rel = field.dynamic === 'rel_loc';
      return (b, o, end) => {
        const start = h.dynStart(b, o, offset, rel);
        const bytes = Math.min(h.dynLength(b, o, offset), Math.max(0, Math.min(end, b.length) - start));
        return h.ints(b, start, Math.floor(bytes / elementSize), elementSize, signed);
      };
    }
  }
}

/** JS expression reading `field` from buffer `b` at record offset `o` with record end `e`. */
function fieldExpression(field: FieldFormat, littleEndian: boolean): string {
  const { offset: k, size, signed } = field;
  const at = (i: number) => `b[o + ${k + i}]`;
  if (field.kind === 'int') {
    switch (size) {
      case 1: return signed ? `((${at(0)} << 24) >> 24)` : at(0);
      case 2: {
        const v = littleEndian ? `(${at(0)} | (${at(1)} << 8))` : `((${at(0)} << 8) | ${at(1)})`;
        return signed ? `((${v} << 16) >> 16)` : v;
      }
      case 4: {
        const v = littleEndian
          ? `(${at(0)} | (${at(1)} << 8) | (${at(2)} << 16) | (${at(3)} << 24))`
          : `((${at(0)} << 24) | (${at(1)} << 16) | (${at(2)} << 8) | ${at(3)})`;
        return signed ? `(${v} | 0)` : `(${v} >>> 0)`;
      }
      case 8: return signed ? `h.s64(b, o + ${k})` : `h.u64(b, o + ${k})`;
      default: return `h.int(b, o + ${k}, ${size}, ${signed})`;
    }
  }
  const es = field.elementSize ?? 1;
  switch (field.kind) {
    case 'string':
      return field.arrayLength === 0 ? `h.cstr(b, o + ${k}, e)` : `h.cstr(b, o + ${k}, Math.min(o + ${k + size}, e))`;
    case 'array':
      return field.arrayLength === 0
        ? `h.ints(b, o + ${k}, Math.max(0, Math.floor((Math.min(e, b.length) - o - ${k}) / ${es})), ${es}, ${signed})`
        : `h.ints(b, o + ${k}, ${field.arrayLength ?? 0}, ${es}, ${signed})`;
    case 'dynString':
      return `h.cstr(b, h.dynStart(b, o, ${k}, ${field.dynamic === 'rel_loc'}), Math.min(h.dynStart(b, o, ${k}, ${field.dynamic === 'rel_loc'}) + h.dynLength(b, o, ${k}), e))`;
    case 'dynArray':
      return `h.ints(b, h.dynStart(b, o, ${k}, ${field.dynamic === 'rel_loc'}), Math.floor(Math.min(h.dynLength(b, o, ${k}), Math.max(0, Math.min(e, b.length) - h.dynStart(b, o, ${k}, ${field.dynamic === 'rel_loc'}))) / ${es}), ${es}, ${signed})`;
  }
}

/**
 * Compiles a decoder for one event format. With `codegen` (the default) the decoder is generated source with every
 * offset and width inlined; measured on this machine it is several times faster than the interpreted table (see
 * test/tracefs-format.test.ts), and the interpreted form stays as the reference it is checked against.
 */
export function compileDecoder(format: EventFormat, options: DecoderOptions = {}): EventDecoder {
  const littleEndian = options.littleEndian ?? endianness() === 'LE';
  const h = makeHelpers(littleEndian, options.stringEncoding ?? 'utf8');
  const fields = selectFields(format, options.fields);
  const fieldNames = fields.map((f) => f.name);
  let decode: (buf: Buffer, recordOffset: number, recordLength?: number) => DecodedEvent;
  let decodeInto: (buf: Buffer, recordOffset: number, out: FieldValue[], recordLength?: number) => void;

  if (options.codegen === false) {
    const readers = fields.map((f) => fieldReader(f, h));
    decode = (b, o, n) => {
      const e = n === undefined ? b.length : o + n;
      const obj: DecodedEvent = {};
      for (let i = 0; i < readers.length; i++) obj[fieldNames[i]] = readers[i](b, o, e);
      return obj;
    };
    decodeInto = (b, o, out, n) => {
      const e = n === undefined ? b.length : o + n;
      for (let i = 0; i < readers.length; i++) out[i] = readers[i](b, o, e);
    };
  } else {
    for (const f of fields) {
      // Names go into generated source: accept only what `format` files contain.
      if (!IDENTIFIER.test(f.name)) throw new Error(`refusing to compile field name '${f.name}'`);
    }
    const exprs = fields.map((f) => fieldExpression(f, littleEndian));
    const head = 'const e = n === undefined ? b.length : o + n;';
    const objectSource = `${head} return { ${fields.map((f, i) => `${JSON.stringify(f.name)}: ${exprs[i]}`).join(', ')} };`;
    const intoSource = `${head} ${exprs.map((x, i) => `out[${i}] = ${x};`).join(' ')}`;
    decode = new Function('h', `return function decode(b, o, n) { ${objectSource} };`)(h);
    decodeInto = new Function('h', `return function decodeInto(b, o, out, n) { ${intoSource} };`)(h);
  }
  return Object.assign(decode, { fieldNames, decodeInto }) as EventDecoder;
}

/** A single-field accessor `(buf, recordOffset, recordLength?) => value`, for consumers that need one or two fields. */
export function compileFieldReader(
  format: EventFormat, name: string, options: Omit<DecoderOptions, 'fields'> = {},
): (buf: Buffer, recordOffset: number, recordLength?: number) => FieldValue {
  const littleEndian = options.littleEndian ?? endianness() === 'LE';
  const h = makeHelpers(littleEndian, options.stringEncoding ?? 'utf8');
  const [field] = selectFields(format, [name]);
  if (options.codegen === false) {
    const read = fieldReader(field, h);
    return (b, o, n) => read(b, o, n === undefined ? b.length : o + n);
  }
  const src = `return function read_${field.name}(b, o, n) { const e = n === undefined ? b.length : o + n; return ${fieldExpression(field, littleEndian)}; };`;
  return new Function('h', src)(h);
}
