import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHeaderPage, readHeaderPage } from '../src/tracefs/format.js';
import {
  RB_MISSED_EVENTS, RB_MISSED_STORED, RecordColumns, decodeSubbuf, decodeSubbufRecords, layoutFromHeaderPage,
  type SubbufLayout,
} from '../src/tracefs/ringbuffer.js';
import { TraceInstance } from '../src/tracefs/instance.js';

const HEADER_PAGE = `	field: u64 timestamp;	offset:0;	size:8;	signed:0;
	field: local_t commit;	offset:8;	size:8;	signed:1;
	field: int overwrite;	offset:8;	size:1;	signed:1;
	field: char data;	offset:16;	size:4080;	signed:0;
`;
const layout: SubbufLayout = layoutFromHeaderPage(parseHeaderPage(HEADER_PAGE), true);

/** Builds a little-endian 64-bit sub-buffer image event by event, the way the kernel lays it out. */
class PageBuilder {
  readonly buf = Buffer.alloc(4096);
  private p = 16;
  constructor(base: bigint) {
    this.buf.writeBigUInt64LE(base, 0);
  }
  private header(typeLen: number, delta: number): void {
    this.buf.writeUInt32LE(((delta << 5) | typeLen) >>> 0, this.p);
    this.p += 4;
  }
  /** A data record: short form up to 112 bytes, long form (type_len 0) above or when forced. */
  data(delta: number, payload: Buffer, forceLong = false): number {
    const len = Math.ceil(payload.length / 4) * 4;
    if (len <= 112 && !forceLong) {
      this.header(len / 4, delta);
    } else {
      this.header(0, delta);
      this.buf.writeUInt32LE(len + 4, this.p);
      this.p += 4;
    }
    const at = this.p;
    payload.copy(this.buf, at);
    this.p += len;
    return at;
  }
  timeExtend(delta: number): void {
    this.header(30, delta % 2 ** 27);
    this.buf.writeUInt32LE(Math.floor(delta / 2 ** 27), this.p);
    this.p += 4;
  }
  absolute(ts59: bigint): void {
    this.header(31, Number(ts59 & BigInt(2 ** 27 - 1)));
    this.buf.writeUInt32LE(Number((ts59 >> 27n) & 0xffffffffn), this.p);
    this.p += 4;
  }
  /** A discarded record of `bytes` payload: array[0] counts itself plus the payload (rb_event_discard). */
  padding(delta: number, bytes: number): void {
    this.header(29, delta);
    this.buf.writeUInt32LE(bytes + 4, this.p);
    this.p += 4 + bytes;
  }
  nullPadding(): void {
    this.header(29, 0);
  }
  finish(flags = 0, missedCount?: number, commitOverride?: number): Buffer {
    const commit = commitOverride ?? this.p - 16;
    this.buf.writeBigUInt64LE(BigInt((commit | flags) >>> 0), 8);
    if (missedCount !== undefined) this.buf.writeBigUInt64LE(BigInt(missedCount), 16 + commit);
    return this.buf;
  }
}

function payload(id: number, value: number, bytes = 12): Buffer {
  const b = Buffer.alloc(bytes);
  b.writeUInt16LE(id, 0);
  b.writeInt32LE(value, 8);
  return b;
}

describe('header_page', () => {
  it('parses the layout the kernel prints', () => {
    const h = parseHeaderPage(HEADER_PAGE);
    expect(h).toMatchObject({ timestampOffset: 0, commitOffset: 8, commitSize: 8, dataOffset: 16, dataSize: 4080, subbufSize: 4096 });
  });

  it('matches the live kernel', () => {
    const h = readHeaderPage('/sys/kernel/tracing');
    expect(h.subbufSize).toBe(h.dataOffset + h.dataSize);
    expect(h.commitSize).toBe(8);
  });
});

describe('decodeSubbuf on synthetic pages', () => {
  // A base beyond 2^53 proves the timestamps stay exact.
  const base = 2n ** 60n + 123_456_789n;

  it('decodes short and long data records with their deltas', () => {
    const pb = new PageBuilder(base);
    const a = pb.data(5, payload(7, 1));
    const b = pb.data(100, payload(8, 2, 200)); // long form (200 > 112 bytes)
    const c = pb.data(0, payload(9, 3), true); // long form forced on a small record
    const { info, records } = decodeSubbufRecords(pb.finish(), layout);
    expect(info.missedEvents).toBe(false);
    expect(records).toEqual([
      { ts: base + 5n, offset: a, length: 12 },
      { ts: base + 105n, offset: b, length: 200 },
      { ts: base + 105n, offset: c, length: 12 },
    ]);
  });

  it('applies time extends (delta split over 27 + 32 bits)', () => {
    const pb = new PageBuilder(base);
    pb.data(1, payload(1, 0));
    pb.timeExtend(5_000_000_123); // > 2^27 ns
    pb.data(0, payload(1, 1));
    pb.data(7, payload(1, 2));
    const { records } = decodeSubbufRecords(pb.finish(), layout);
    expect(records.map((r) => r.ts)).toEqual([base + 1n, base + 1n + 5_000_000_123n, base + 5_000_000_131n]);
  });

  it('skips discarded-event padding but counts its delta, and stops at null padding', () => {
    const pb = new PageBuilder(base);
    pb.data(10, payload(1, 0));
    pb.padding(3, 16); // a filtered-out record turned into padding
    pb.data(2, payload(1, 1));
    pb.nullPadding(); // the rest of the page is unused
    pb.data(1, payload(1, 99)); // garbage after the null padding must not be decoded
    const { records } = decodeSubbufRecords(pb.finish(), layout);
    expect(records.map((r) => r.ts)).toEqual([base + 10n, base + 15n]);
  });

  it('handles absolute time stamps including the rb_fix_abs_ts wrap rule', () => {
    // The page base has high bits (59..63) set and its low 59 bits near the top, so a small absolute value wrapped.
    const top = 3n << 59n;
    const pageBase = top + (2n ** 59n - 100n);
    const pb = new PageBuilder(pageBase);
    pb.data(0, payload(1, 0));
    pb.absolute(50n); // 59-bit value below the current low bits: it wrapped past 2^59
    pb.data(4, payload(1, 1));
    const { records } = decodeSubbufRecords(pb.finish(), layout);
    expect(records[0].ts).toBe(pageBase);
    expect(records[1].ts).toBe(top + 2n ** 59n + 50n + 4n);
    expect(records).toHaveLength(2);
  });

  it('uses an absolute time stamp without wrap when the top bits are clear', () => {
    const pageBase = 1_000_000n;
    const pb = new PageBuilder(pageBase);
    pb.data(1, payload(1, 0));
    pb.absolute(2_000_000n);
    pb.data(3, payload(1, 1));
    const { records } = decodeSubbufRecords(pb.finish(), layout);
    expect(records.map((r) => r.ts)).toEqual([1_000_001n, 2_000_003n]);
  });

  it('reports missed events with a stored count', () => {
    const pb = new PageBuilder(base);
    pb.data(1, payload(1, 0));
    const { info } = decodeSubbufRecords(pb.finish(RB_MISSED_EVENTS | RB_MISSED_STORED, 42), layout);
    expect(info).toMatchObject({ missedEvents: true, missedCount: 42, records: 1 });
  });

  it('reports missed events with an unknown count when none was stored', () => {
    const pb = new PageBuilder(base);
    pb.data(1, payload(1, 0));
    const { info } = decodeSubbufRecords(pb.finish(RB_MISSED_EVENTS), layout);
    expect(info).toMatchObject({ missedEvents: true, missedCount: -1 });
  });

  it('reports a stored flag without room for the count as unknown', () => {
    const pb = new PageBuilder(base);
    pb.data(1, payload(1, 0));
    const { info } = decodeSubbufRecords(pb.finish(RB_MISSED_EVENTS | RB_MISSED_STORED, undefined, 4080), layout);
    expect(info.missedCount).toBe(-1);
  });

  it('fills columns with event id and cpu, relative to an epoch', () => {
    const pb = new PageBuilder(10_000n);
    pb.data(1, payload(305, 0));
    pb.data(1, payload(306, 0));
    const page = Buffer.allocUnsafeSlow(4096);
    pb.finish().copy(page);
    const cols = new RecordColumns(1);
    const info = decodeSubbuf(page, 0, layout, 9_000n, 3, cols);
    expect(cols.count).toBe(2);
    expect([...cols.eventId.subarray(0, 2)]).toEqual([305, 306]);
    expect([...cols.cpu.subarray(0, 2)]).toEqual([3, 3]);
    expect([...cols.ts.subarray(0, 2)]).toEqual([1001, 1002]);
    expect(info.lastTs).toBe(1002);
  });

  it('never reads past the commit size', () => {
    const pb = new PageBuilder(base);
    pb.data(1, payload(1, 0));
    pb.data(1, payload(1, 1));
    const page = pb.finish(0, undefined, 16); // commit covers only the first record
    expect(decodeSubbufRecords(page, layout).records).toHaveLength(1);
  });
});

describe('decodeSubbuf on real pages', () => {
  const work = mkdtempSync(join(tmpdir(), 'tstap-rb-'));
  let instance: TraceInstance | undefined;
  afterAll(async () => {
    await instance?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('decodes every getppid record of a child from raw trace_pipe_raw reads', () => {
    writeFileSync(join(work, 'g.c'), '#include <unistd.h>\n#include <sys/syscall.h>\nint main(void){for(int i=0;i<3000;i++)syscall(SYS_getppid);return 0;}\n');
    execFileSync('gcc', ['-O2', '-o', join(work, 'g'), join(work, 'g.c')]);
    instance = TraceInstance.create({ bufferSizeKb: 1024 });
    const format = instance.eventFormat('syscalls', 'sys_enter_getppid');
    const pidField = format.commonFields.find((f) => f.name === 'common_pid')!;
    instance.enableEvent('syscalls', 'sys_enter_getppid');
    const child = spawnSync(join(work, 'g'));
    expect(child.status).toBe(0);
    instance.setTracing(false);
    const header = readHeaderPage(instance.path);
    const pageLayout = layoutFromHeaderPage(header);
    let mine = 0;
    let pages = 0;
    for (const cpu of [0, 1]) {
      const fd = openSync(join(instance.path, 'per_cpu', `cpu${cpu}`, 'trace_pipe_raw'), constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        const page = Buffer.alloc(header.subbufSize);
        for (;;) {
          let n: number;
          try {
            n = readSync(fd, page, 0, page.length, null);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
            throw err;
          }
          if (n === 0) break; // the reader was marked closed by our spawn: 0 means empty here
          pages++;
          const { info, records } = decodeSubbufRecords(page, pageLayout);
          expect(info.dataSize).toBeGreaterThan(0);
          for (let i = 0; i < records.length; i++) {
            const r = records[i];
            if (i > 0) expect(r.ts >= records[i - 1].ts).toBe(true);
            expect(page.readUInt16LE(r.offset)).toBe(format.id);
            if (page.readInt32LE(r.offset + pidField.offset) === child.pid) mine++;
          }
        }
      } finally {
        closeSync(fd);
      }
    }
    expect(pages).toBeGreaterThan(0);
    expect(mine).toBe(3000);
  });
});
