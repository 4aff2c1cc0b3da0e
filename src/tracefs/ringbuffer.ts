/**
 * Decodes one ring-buffer sub-buffer image (what one read of per_cpu/cpuN/trace_pipe_raw returns) into records:
 * page header (base timestamp, commit size and missed-events flags), then the compressed event headers with all
 * special types (padding incl. null padding, time extend, absolute time stamp, data short and long forms).
 *
 * Timestamps are exact but kept as numbers: each page's 64-bit base is read once as a bigint and turned into a
 * number relative to a caller-chosen `epoch` (bigint); per-event deltas are added as numbers. A record's absolute
 * time is `epoch + BigInt(ts)`. This stays exact while |ts| < 2^53 ns (104 days from the epoch), which the reader
 * guarantees by rebasing; decoding throws instead of rounding when a page is further away.
 */
import { endianness } from 'node:os';
import type { HeaderPage } from './format.js';

/** Commit word flag: events were lost between the previous sub-buffer and this one. */
export const RB_MISSED_EVENTS = 0x80000000;
/** Commit word flag: the lost count is stored as a `long` right after the data. */
export const RB_MISSED_STORED = 0x40000000;
/** Bits of the commit word holding the number of data bytes (libtraceevent's COMMIT_MASK). */
export const COMMIT_MASK = (1 << 27) - 1;

export const TYPE_PADDING = 29;
export const TYPE_TIME_EXTEND = 30;
export const TYPE_TIME_STAMP = 31;
/** Largest type_len of a short-form data record: payload = type_len * 4 bytes. */
export const TYPE_DATA_MAX = 28;
export const TS_SHIFT = 27;

const TWO_27 = 1 << TS_SHIFT;
const TS_MSB = 0xf8n << 56n;
const TWO_59 = 1n << 59n;
const SAFE_LIMIT = Number.MAX_SAFE_INTEGER;

/** Where things are in a sub-buffer; from `events/header_page`. */
export interface SubbufLayout {
  timestampOffset: number;
  commitOffset: number;
  /** sizeof(long): 8 on 64-bit kernels. */
  commitSize: number;
  dataOffset: number;
  subbufSize: number;
  littleEndian: boolean;
}

export function layoutFromHeaderPage(header: HeaderPage, littleEndian = endianness() === 'LE'): SubbufLayout {
  if (header.dataOffset % 4 !== 0 || header.subbufSize % 4 !== 0) {
    throw new Error(`unsupported sub-buffer layout (data offset ${header.dataOffset}, size ${header.subbufSize})`);
  }
  return {
    timestampOffset: header.timestampOffset, commitOffset: header.commitOffset, commitSize: header.commitSize,
    dataOffset: header.dataOffset, subbufSize: header.subbufSize, littleEndian,
  };
}

/**
 * Growable column store of decoded records (struct of arrays: no object per record). `offset` is the byte offset
 * of the record payload (its common_type field) in the buffer the page was decoded from.
 */
export class RecordColumns {
  count = 0;
  ts: Float64Array;
  offset: Uint32Array;
  length: Uint32Array;
  eventId: Uint16Array;
  cpu: Uint16Array;

  constructor(capacity = 1024) {
    this.ts = new Float64Array(capacity);
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
    this.eventId = new Uint16Array(capacity);
    this.cpu = new Uint16Array(capacity);
  }

  get capacity(): number {
    return this.ts.length;
  }

  /** Makes room for `extra` more records, preserving the ones held. */
  reserve(extra: number): void {
    const need = this.count + extra;
    if (need <= this.ts.length) return;
    let cap = this.ts.length * 2;
    while (cap < need) cap *= 2;
    const grow = <T extends Float64Array | Uint32Array | Uint16Array>(old: T, make: (n: number) => T): T => {
      const next = make(cap);
      next.set(old.subarray(0, this.count) as never);
      return next;
    };
    this.ts = grow(this.ts, (n) => new Float64Array(n));
    this.offset = grow(this.offset, (n) => new Uint32Array(n));
    this.length = grow(this.length, (n) => new Uint32Array(n));
    this.eventId = grow(this.eventId, (n) => new Uint16Array(n));
    this.cpu = grow(this.cpu, (n) => new Uint16Array(n));
  }

  clear(): void {
    this.count = 0;
  }
}

/** What the header of one sub-buffer said. */
export interface SubbufInfo {
  /** Page base timestamp (trace clock units). */
  timestamp: bigint;
  /** Bytes of event data in the page. */
  dataSize: number;
  /** Records appended by this page. */
  records: number;
  /** RB_MISSED_EVENTS: events were lost before this page (overwrite mode; see per_cpu stats otherwise). */
  missedEvents: boolean;
  /** The stored lost count, or -1 when the flag is set but the page had no room to store it; 0 when none. */
  missedCount: number;
  /** Timestamp (relative to the epoch) of the last record or time marker in the page. */
  lastTs: number;
}

/** Reads a u32 at a 4-aligned byte offset through the word view (host order, like the kernel wrote it). */
function commitWord(words: Uint32Array, pageByte: number, layout: SubbufLayout): number {
  // The flags live in the low 32 bits of the `long` commit word.
  const lowByte = layout.littleEndian || layout.commitSize === 4 ? layout.commitOffset : layout.commitOffset + 4;
  return words[(pageByte + lowByte) >>> 2];
}

function readLong(buf: Buffer, at: number, size: number, littleEndian: boolean): number {
  if (size === 4) return littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  const v = littleEndian ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at);
  return v > BigInt(SAFE_LIMIT) ? SAFE_LIMIT : Number(v);
}

/**
 * Decodes the sub-buffer at byte `pageByte` of `buf` (which must start 4-byte aligned in its ArrayBuffer, e.g. from
 * Buffer.allocUnsafeSlow), appending records to `out`: ts relative to `epoch`, payload offset/length within `buf`,
 * event id (the u16 `common_type`, read at `commonTypeOffset` of the payload) and `cpu`.
 * `words` must be a Uint32Array over the same memory as `buf` (pass it to avoid re-creating it per page).
 */
export function decodeSubbuf(
  buf: Buffer, pageByte: number, layout: SubbufLayout, epoch: bigint, cpu: number, out: RecordColumns,
  words: Uint32Array = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2),
  commonTypeOffset = 0,
): SubbufInfo {
  if ((buf.byteOffset & 3) !== 0 || (pageByte & 3) !== 0) throw new Error('sub-buffer image must be 4-byte aligned');
  const le = layout.littleEndian;
  const base = le ? buf.readBigUInt64LE(pageByte + layout.timestampOffset) : buf.readBigUInt64BE(pageByte + layout.timestampOffset);
  const commit = commitWord(words, pageByte, layout);
  let dataSize = commit & COMMIT_MASK;
  const maxData = layout.subbufSize - layout.dataOffset;
  if (dataSize > maxData) dataSize = maxData; // a corrupt commit must not walk into the next page
  const missedEvents = (commit & RB_MISSED_EVENTS) !== 0;
  let missedCount = 0;
  if (missedEvents) {
    missedCount = (commit & RB_MISSED_STORED) !== 0 && dataSize + layout.commitSize <= maxData
      ? readLong(buf, pageByte + layout.dataOffset + dataSize, layout.commitSize, le)
      : -1;
  }

  const relBase = Number(base - epoch);
  if (relBase > SAFE_LIMIT || relBase < -SAFE_LIMIT) {
    throw new Error(`sub-buffer timestamp ${base} is more than 2^53 ns away from the reader epoch ${epoch}`);
  }
  let ts = relBase;
  const dataStart = pageByte + layout.dataOffset;
  const dataEnd = dataStart + dataSize;
  // Host order decides where the 5-bit type_len sits in the header word (struct bitfield layout).
  const typeShift = le ? 0 : 27;
  const deltaShift = le ? 5 : 0;
  const idIsLow = le;
  out.reserve(((dataSize >>> 3) + 1));
  let n = out.count;
  const startCount = n;
  let tsCol = out.ts, offCol = out.offset, lenCol = out.length, idCol = out.eventId, cpuCol = out.cpu;
  let p = dataStart;
  while (p + 4 <= dataEnd) {
    const w = words[p >>> 2];
    const typeLen = (w >>> typeShift) & 31;
    const delta = (w >>> deltaShift) & 0x7ffffff;
    let payload: number;
    let len: number;
    if (typeLen !== 0 && typeLen <= TYPE_DATA_MAX) {
      payload = p + 4;
      len = typeLen << 2;
      p = payload + len;
    } else if (typeLen === 0) {
      len = words[(p + 4) >>> 2] - 4;
      if (len < 0) break; // corrupt length: stop rather than walk backwards
      len = (len + 3) & ~3;
      payload = p + 8;
      p = payload + len;
    } else if (typeLen === TYPE_PADDING) {
      // Null padding (delta 0) marks the unused rest of the page.
      if (delta === 0) break;
      // Discarded event or end-of-page filler; the writer's clock advanced by its delta (as libtraceevent counts).
      ts += delta;
      const skip = words[(p + 4) >>> 2];
      if (skip === 0 || (skip & 3) !== 0) break; // not a well-formed filler: nothing decodable follows
      p = p + 4 + skip;
      continue;
    } else if (typeLen === TYPE_TIME_EXTEND) {
      ts += words[(p + 4) >>> 2] * TWO_27 + delta;
      p += 8;
      continue;
    } else {
      // TYPE_TIME_STAMP: absolute 59-bit stamp; the top 5 bits come from the current time (rb_fix_abs_ts).
      const current = epoch + BigInt(ts);
      let abs = (BigInt(words[(p + 4) >>> 2]) << BigInt(TS_SHIFT)) | BigInt(delta);
      if (current & TS_MSB) {
        abs |= current & TS_MSB;
        if (abs < current) abs += TWO_59;
      }
      ts = Number(abs - epoch);
      p += 8;
      continue;
    }
    if (p > dataEnd) break; // a record claiming to extend past the commit is not complete
    ts += delta;
    if (n === tsCol.length) {
      out.count = n;
      out.reserve(64);
      tsCol = out.ts; offCol = out.offset; lenCol = out.length; idCol = out.eventId; cpuCol = out.cpu;
    }
    tsCol[n] = ts;
    offCol[n] = payload;
    lenCol[n] = len;
    const idWord = words[(payload + (commonTypeOffset & ~3)) >>> 2];
    // common_type is a u16 at the start of the payload: the low half of the word on little-endian hosts.
    idCol[n] = (commonTypeOffset & 2) === 0 ? (idIsLow ? idWord & 0xffff : idWord >>> 16) : (idIsLow ? idWord >>> 16 : idWord & 0xffff);
    cpuCol[n] = cpu;
    n++;
  }
  out.count = n;
  if (!Number.isSafeInteger(ts)) throw new Error('sub-buffer timestamps overflow 2^53 ns from the reader epoch');
  return { timestamp: base, dataSize, records: n - startCount, missedEvents, missedCount, lastTs: ts };
}

/** A decoded record in the convenient (allocating) form, for tests and tools. */
export interface SubbufRecord {
  ts: bigint;
  /** Byte offset of the payload in the page image. */
  offset: number;
  length: number;
}

/** Decodes a whole page image into record objects with absolute bigint timestamps (slow path, for inspection). */
export function decodeSubbufRecords(page: Buffer, layout: SubbufLayout): { info: SubbufInfo; records: SubbufRecord[] } {
  // Copy into an aligned buffer so callers may pass any slice.
  const aligned = Buffer.allocUnsafeSlow(Math.ceil(page.length / 4) * 4).fill(0);
  page.copy(aligned);
  const cols = new RecordColumns(64);
  const epoch = layout.littleEndian ? aligned.readBigUInt64LE(layout.timestampOffset) : aligned.readBigUInt64BE(layout.timestampOffset);
  const info = decodeSubbuf(aligned, 0, layout, epoch, 0, cols);
  const records: SubbufRecord[] = [];
  for (let i = 0; i < cols.count; i++) {
    records.push({ ts: epoch + BigInt(cols.ts[i]), offset: cols.offset[i], length: cols.length[i] });
  }
  return { info, records };
}
