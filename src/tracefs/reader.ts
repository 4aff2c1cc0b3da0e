/**
 * The live event stream of one tracing instance: non-blocking reads of every CPU's trace_pipe_raw, decoded and
 * merged into one timestamp-ordered batch per `drain()`, plus lost-event accounting.
 *
 * Design (measured choices are explained in the report and tests):
 * - One O_RDONLY|O_NONBLOCK fd per CPU; every read asks for exactly one sub-buffer. EAGAIN means empty. So does a
 *   0-byte read once the kernel considers the reader "closed" (after any fork+exec of this process, see drain());
 *   a 0 can also be a transient race, so it is retried a few times first. A 0 is never end of file.
 * - Ordering across CPUs and across drains: each drain takes the trace-clock time T (mono clock = process.hrtime)
 *   and reads every CPU until it is empty or a page reaches T. Then every record up to T has been read on every
 *   CPU, so those are released merged in timestamp order, and the few newer ones wait for the next drain. This keeps
 *   e.g. a thread's sys_enter on one CPU before its sys_exit on another, and stops the reader from chasing a busy
 *   writer's current page one small partial read at a time.
 * - No object per record: pages land in a reused arena Buffer and records are columns of typed arrays
 *   (cpu, ts, event id, payload offset, length). Two arenas alternate so a batch's bytes stay valid until the drain
 *   after the one that produced it; held-back records are copied into the next arena.
 * - Timestamps are numbers of ns relative to `batch.epoch` (a bigint): exact, no bigint arithmetic per event.
 */
import { closeSync, constants, openSync, readFileSync, readSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecordColumns, decodeSubbuf, type SubbufLayout } from './ringbuffer.js';

/** Counters from per_cpu/cpuN/stats that mean events were lost. */
export interface CpuLossCounters {
  /** `overrun`: events overwritten before being read (overwrite mode). */
  overrun: number;
  /** `dropped events`: events discarded because the buffer was full (overwrite off). */
  dropped: number;
  /** `commit overrun`: nested writers filled the buffer (should stay 0). */
  commitOverrun: number;
}

/** Losses on one CPU since the reader was opened (cumulative) or since the previous report (in a batch). */
export interface LostEvents extends CpuLossCounters {
  cpu: number;
  /** Events reported lost by sub-buffer headers whose count was stored (overwrite mode only). */
  pageMissed: number;
  /** Sub-buffers flagged "events missed" without room for the count. */
  pagesMissedUnknown: number;
  /** dropped + overrun + commitOverrun + pageMissed: the number to warn about. */
  total: number;
}

/**
 * Records of one drain in timestamp order. Column i of every array describes record i; record i's payload (its
 * common_type field first) is `data` at `offset[i]`, `length[i]` bytes (rounded up to 4 by the ring buffer).
 * Valid until the next `drain()`: the arrays and this object are reused by it.
 */
export class EventBatch {
  count = 0;
  /** Absolute trace-clock time of ts = 0. */
  epoch = 0n;
  data: Buffer = Buffer.alloc(0);
  ts: Float64Array = new Float64Array(0);
  cpu: Uint16Array = new Uint16Array(0);
  eventId: Uint16Array = new Uint16Array(0);
  offset: Uint32Array = new Uint32Array(0);
  length: Uint32Array = new Uint32Array(0);
  /** CPUs with new losses since the previous batch (empty when none). */
  lost: LostEvents[] = [];

  /** Exact absolute timestamp of record i (trace clock ns). */
  timestamp(i: number): bigint {
    return this.epoch + BigInt(this.ts[i]);
  }
}

export interface EventReaderOptions {
  /** The instance directory (…/instances/NAME) or the tracefs root. */
  instancePath: string;
  layout: SubbufLayout;
  /** CPUs to read; default: every per_cpu/cpuN directory. */
  cpus?: number[];
  /**
   * The instance's trace_clock is `mono` (CLOCK_MONOTONIC, the clock of process.hrtime): enables the cross-CPU
   * ordering watermark. With other clocks records are ordered within each batch only.
   */
  clockIsMonotonic: boolean;
  /**
   * CLOCK_MONOTONIC minus the trace clock, in ns, when the instance runs a cheaper clock (`local`)
   * calibrated against CLOCK_MONOTONIC: timestamps are then reported on the monotonic timeline.
   */
  traceOffsetNs?: bigint;
  /** Records this close to the watermark wait for the next drain (absorbs commit-in-flight races); default 20 µs. */
  orderSlackNs?: number;
  /** Most sub-buffers read from one CPU in one drain() (bounds its duration); default unlimited. finalDrain ignores it. */
  maxPagesPerCpu?: number;
  /** Immediate retries of a 0-byte read before the CPU counts as empty for this drain; default 2. */
  zeroReadRetries?: number;
  /** Minimum interval between per_cpu stats polls in drain(); finalDrain always polls. Default 100 ms. */
  statsIntervalMs?: number;
  /** Byte offset of the u16 common_type in a record (from any event's format); default 0. */
  commonTypeOffset?: number;
}

interface CpuState {
  cpu: number;
  fd: number;
  run: RecordColumns;
  /** Last record timestamp read from this CPU (relative to epoch); -Infinity before the first. */
  lastTs: number;
  /** Watermark contribution when the CPU was last found empty: nothing older is still unread. */
  caughtUpAt: number;
  baseline: CpuLossCounters;
  reported: LostEvents;
  pageMissed: number;
  pagesMissedUnknown: number;
}

const EAGAIN = -1;
/** Rebase the epoch once relative times pass 2^50 ns (13 days) so they never approach 2^53. */
const REBASE_AFTER = 2 ** 50;

function parseStats(text: string): CpuLossCounters {
  const get = (key: string) => {
    const m = new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { overrun: get('overrun'), dropped: get('dropped events'), commitOverrun: get('commit overrun') };
}

function listCpus(instancePath: string): number[] {
  return readdirSync(join(instancePath, 'per_cpu'))
    .map((d) => /^cpu(\d+)$/.exec(d))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export class EventReader {
  readonly instancePath: string;
  readonly layout: SubbufLayout;
  readonly cpus: readonly number[];
  private readonly states: CpuState[];
  private readonly clockIsMonotonic: boolean;
  private traceOffset: bigint;
  private readonly orderSlackNs: number;
  private readonly maxPagesPerCpu: number;
  private readonly zeroReadRetries: number;
  private readonly statsIntervalMs: number;
  private readonly commonTypeOffset: number;
  private epoch: bigint;
  /** The epoch is final: set at open for the mono clock, at the first page otherwise. */
  private epochFixed: boolean;
  private arenas: [Buffer, Buffer];
  private words: [Uint32Array, Uint32Array];
  private current = 0;
  private readonly batch = new EventBatch();
  private merged = new RecordColumns(4096);
  /** Records held back for the next drain; their payloads live in the arena of the previous drain. */
  private carry = new RecordColumns(256);
  private carryArena = -1;
  private lastStatsPoll = 0;
  private closed = false;
  /** Total records delivered, for callers' statistics. */
  delivered = 0;
  /** read() calls that returned 0 bytes (a kernel race), for diagnostics. */
  zeroByteReads = 0;

  constructor(options: EventReaderOptions) {
    this.instancePath = options.instancePath;
    this.layout = options.layout;
    this.clockIsMonotonic = options.clockIsMonotonic;
    this.traceOffset = options.traceOffsetNs ?? 0n;
    this.orderSlackNs = options.orderSlackNs ?? 20_000;
    this.maxPagesPerCpu = options.maxPagesPerCpu ?? Infinity;
    this.zeroReadRetries = options.zeroReadRetries ?? 2;
    this.statsIntervalMs = options.statsIntervalMs ?? 100;
    this.commonTypeOffset = options.commonTypeOffset ?? 0;
    this.cpus = options.cpus ?? listCpus(this.instancePath);
    // With the mono clock the epoch is "now", so relative times are also "ns since the reader opened".
    this.epoch = process.hrtime.bigint();
    this.epochFixed = this.clockIsMonotonic;
    const initial = 64 * this.layout.subbufSize;
    this.arenas = [Buffer.allocUnsafeSlow(initial), Buffer.allocUnsafeSlow(initial)];
    this.words = [this.wordsOf(this.arenas[0]), this.wordsOf(this.arenas[1])];
    this.states = [];
    try {
      for (const cpu of this.cpus) {
        const dir = join(this.instancePath, 'per_cpu', `cpu${cpu}`);
        const fd = openSync(join(dir, 'trace_pipe_raw'), constants.O_RDONLY | constants.O_NONBLOCK);
        const baseline = this.readStats(cpu);
        this.states.push({
          cpu, fd, run: new RecordColumns(1024), lastTs: -Infinity, caughtUpAt: -Infinity, baseline,
          reported: { cpu, overrun: 0, dropped: 0, commitOverrun: 0, pageMissed: 0, pagesMissedUnknown: 0, total: 0 },
          pageMissed: 0, pagesMissedUnknown: 0,
        });
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private wordsOf(buf: Buffer): Uint32Array {
    return new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  }

  private readStats(cpu: number): CpuLossCounters {
    try {
      return parseStats(readFileSync(join(this.instancePath, 'per_cpu', `cpu${cpu}`, 'stats'), 'latin1'));
    } catch {
      return { overrun: 0, dropped: 0, commitOverrun: 0 };
    }
  }

  /** Other clocks have unknown origins and units: anchor relative times at the first page read instead. */
  private fixEpochFromPage(arena: Buffer, pos: number): void {
    const at = pos + this.layout.timestampOffset;
    this.epoch = this.layout.littleEndian ? arena.readBigUInt64LE(at) : arena.readBigUInt64BE(at);
    this.epochFixed = true;
  }

  /**
   * Sets the offset from the trace clock to CLOCK_MONOTONIC, once, before events flow (changing it
   * later would reorder records already read).
   */
  setTraceOffset(ns: bigint): void {
    this.traceOffset = ns;
  }

  /** Relative "now" on the trace clock, valid only with the mono clock. */
  private nowRel(): number {
    return Number(process.hrtime.bigint() - this.epoch);
  }

  /** One read of one sub-buffer into the arena at `pos`: bytes read, 0, or EAGAIN. */
  private readPage(fd: number, arena: Buffer, pos: number): number {
    try {
      return readSync(fd, arena, pos, this.layout.subbufSize, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return EAGAIN;
      throw err;
    }
  }

  /** Grows the current arena to hold `need` bytes, keeping what is already in it. */
  private ensureArena(need: number): void {
    const arena = this.arenas[this.current];
    if (need <= arena.length) return;
    let size = arena.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    arena.copy(next, 0, 0, arena.length);
    this.arenas[this.current] = next;
    this.words[this.current] = this.wordsOf(next);
  }

  /**
   * Reads everything available now from every CPU, without blocking, and returns the records that are complete in
   * global timestamp order. Synchronous; meant for a ~10 ms timer. The returned batch object is reused.
   */
  drain(): EventBatch {
    return this.drainInternal(false);
  }

  /**
   * End-of-session flush: stops tracing in the instance (tracing_on = 0), then reads until every CPU is empty and
   * returns everything, including records held back by earlier drains.
   */
  finalDrain(): EventBatch {
    try {
      writeFileSync(join(this.instancePath, 'tracing_on'), '0');
    } catch (err) {
      throw new Error(`cannot stop tracing in ${this.instancePath}: ${(err as Error).message}`);
    }
    return this.drainInternal(true);
  }

  private drainInternal(final: boolean): EventBatch {
    if (this.closed) throw new Error('EventReader is closed');
    const previous = this.current;
    this.current ^= 1;
    const cur = this.current;
    this.maybeRebase();
    let pos = this.copyCarry(previous);
    const subbuf = this.layout.subbufSize;
    const maxPages = final ? Infinity : this.maxPagesPerCpu;

    // With the mono clock, `horizon` is the trace-clock time now: a CPU is read until it is empty or until a page
    // reaches the horizon (its later events are newer anyway), so the reader never chases a busy writer page by
    // page, and every record up to the horizon has been read on every CPU: that is the ordering watermark.
    const horizon = this.clockIsMonotonic && !final ? this.nowRel() : Infinity;
    let watermark = horizon;
    for (const st of this.states) {
      st.run.clear();
      let pages = 0;
      let zeroReads = 0;
      let caughtUp = false;
      while (pages < maxPages) {
        this.ensureArena(pos + subbuf);
        const arena = this.arenas[cur];
        const n = this.readPage(st.fd, arena, pos);
        if (n === EAGAIN) { caughtUp = true; break; }
        if (n === 0) {
          this.zeroByteReads++;
          // Once any process closed a copy of this fd (every fork+exec of this process does, for CLOEXEC fds),
          // the kernel marks the reader closed and answers 0 instead of EAGAIN when the CPU is empty. A 0 can
          // also be a transient race with the writer, hence a few immediate retries before calling it empty.
          if (++zeroReads > this.zeroReadRetries) { caughtUp = true; break; }
          continue;
        }
        zeroReads = 0;
        if (n < subbuf) arena.fill(0, pos + n, pos + subbuf); // a short read: the rest is not data
        if (!this.epochFixed) this.fixEpochFromPage(arena, pos);
        // Relative times are taken against the epoch on the trace clock, so they come out on the monotonic timeline.
        const info = decodeSubbuf(arena, pos, this.layout, this.epoch - this.traceOffset, st.cpu, st.run, this.words[cur], this.commonTypeOffset);
        if (info.missedEvents) {
          if (info.missedCount > 0) st.pageMissed += info.missedCount;
          else if (info.missedCount < 0) st.pagesMissedUnknown++;
        }
        if (info.records > 0) st.lastTs = st.run.ts[st.run.count - 1];
        pos += subbuf;
        pages++;
        if (info.lastTs >= horizon) { caughtUp = true; break; }
        // Without a comparable clock, a mostly empty page means the writer's own page was reached.
        if (horizon === Infinity && !final && info.dataSize < (subbuf - this.layout.dataOffset) / 2) { caughtUp = true; break; }
      }
      // A CPU cut short by maxPages only vouches for what it delivered.
      if (caughtUp) st.caughtUpAt = horizon;
      else watermark = Math.min(watermark, Math.max(st.lastTs, st.caughtUpAt));
    }
    if (watermark !== Infinity) watermark -= this.orderSlackNs;
    this.mergeRuns(cur, watermark);
    this.fillBatch(cur);
    const now = Date.now();
    if (final || now - this.lastStatsPoll >= this.statsIntervalMs) {
      this.lastStatsPoll = now;
      this.collectLosses();
    } else {
      this.batch.lost = [];
    }
    return this.batch;
  }

  /** Moves the epoch forward in long sessions so relative times stay far below 2^53. */
  private maybeRebase(): void {
    let now = -Infinity;
    if (this.clockIsMonotonic) now = this.nowRel();
    else for (const st of this.states) now = Math.max(now, st.lastTs);
    if (now < REBASE_AFTER) return;
    const shift = now - 1_000_000_000; // one second back, so records still in flight stay near the new epoch
    this.epoch += BigInt(shift);
    for (const st of this.states) {
      st.lastTs -= shift;
      st.caughtUpAt -= shift;
    }
    for (let i = 0; i < this.carry.count; i++) this.carry.ts[i] -= shift;
  }

  /** Copies held-back records' payloads from the previous arena to the start of the current one. */
  private copyCarry(previous: number): number {
    const carry = this.carry;
    if (carry.count === 0) return 0;
    let bytes = 0;
    for (let i = 0; i < carry.count; i++) bytes += carry.length[i];
    this.ensureArena(bytes);
    // Payload offsets and lengths are multiples of 4: copy words in JS (a Buffer.copy per record costs ~200 ns).
    const src = this.words[previous];
    const dst = this.words[this.current];
    let pos = 0;
    for (let i = 0; i < carry.count; i++) {
      const len = carry.length[i];
      let s = carry.offset[i] >>> 2;
      let d = pos >>> 2;
      for (const end = s + (len >>> 2); s < end; s++, d++) dst[d] = src[s];
      carry.offset[i] = pos;
      pos += len;
    }
    this.carryArena = this.current;
    return pos;
  }

  /** Merges the carry run and every CPU run by timestamp; records after the watermark become the new carry. */
  private mergeRuns(cur: number, watermark: number): void {
    const runs: RecordColumns[] = [];
    if (this.carry.count > 0 && this.carryArena === cur) runs.push(this.carry);
    for (const st of this.states) if (st.run.count > 0) runs.push(st.run);
    let total = 0;
    for (const r of runs) total += r.count;
    const out = this.merged;
    out.clear();
    out.reserve(total);
    if (runs.length === 1) {
      appendRange(out, runs[0], 0, runs[0].count);
    } else if (runs.length === 2) {
      mergeTwo(out, runs[0], runs[1]);
    } else if (runs.length > 2) {
      mergeMany(out, runs);
    }
    // Split: the sorted tail beyond the watermark is held back (copied into a fresh carry).
    let keep = out.count;
    if (watermark !== Infinity) {
      while (keep > 0 && out.ts[keep - 1] > watermark) keep--;
    }
    // The old carry (if it was a run) is fully copied into `out` by now, so its columns can be refilled.
    this.carry.clear();
    if (keep < out.count) appendRange(this.carry, out, keep, out.count);
    this.carryArena = cur;
    out.count = keep;
  }

  private fillBatch(cur: number): void {
    const b = this.batch;
    const m = this.merged;
    b.count = m.count;
    b.epoch = this.epoch;
    b.data = this.arenas[cur];
    b.ts = m.ts;
    b.cpu = m.cpu;
    b.eventId = m.eventId;
    b.offset = m.offset;
    b.length = m.length;
    this.delivered += m.count;
  }

  /** Polls per_cpu stats and reports CPUs whose loss counters grew since the last report. */
  private collectLosses(): void {
    const lost: LostEvents[] = [];
    for (const st of this.states) {
      const s = this.readStats(st.cpu);
      const overrun = Math.max(0, s.overrun - st.baseline.overrun);
      const dropped = Math.max(0, s.dropped - st.baseline.dropped);
      const commitOverrun = Math.max(0, s.commitOverrun - st.baseline.commitOverrun);
      const total = overrun + dropped + commitOverrun + st.pageMissed;
      const prev = st.reported;
      if (total > prev.total || st.pagesMissedUnknown > prev.pagesMissedUnknown) {
        lost.push({
          cpu: st.cpu, overrun: overrun - prev.overrun, dropped: dropped - prev.dropped,
          commitOverrun: commitOverrun - prev.commitOverrun, pageMissed: st.pageMissed - prev.pageMissed,
          pagesMissedUnknown: st.pagesMissedUnknown - prev.pagesMissedUnknown, total: total - prev.total,
        });
      }
      st.reported = { cpu: st.cpu, overrun, dropped, commitOverrun, pageMissed: st.pageMissed, pagesMissedUnknown: st.pagesMissedUnknown, total };
    }
    this.batch.lost = lost;
  }

  /** Cumulative losses per CPU since the reader was opened, as of the last stats poll. */
  lostTotals(): LostEvents[] {
    return this.states.map((st) => ({ ...st.reported }));
  }

  /** Closes every fd (idempotent). The instance cannot be removed while these are open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const st of this.states) {
      try {
        closeSync(st.fd);
      } catch {
        // Already closed: nothing left to release.
      }
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function appendRange(out: RecordColumns, src: RecordColumns, from: number, to: number): void {
  const n = to - from;
  out.reserve(n);
  const at = out.count;
  out.ts.set(src.ts.subarray(from, to), at);
  out.cpu.set(src.cpu.subarray(from, to), at);
  out.eventId.set(src.eventId.subarray(from, to), at);
  out.offset.set(src.offset.subarray(from, to), at);
  out.length.set(src.length.subarray(from, to), at);
  out.count += n;
}

/** Two-way merge; ties keep `a` first (a stable order across CPUs). */
function mergeTwo(out: RecordColumns, a: RecordColumns, b: RecordColumns): void {
  let i = 0;
  let j = 0;
  let n = out.count;
  const ats = a.ts, bts = b.ts, na = a.count, nb = b.count;
  const ots = out.ts, ocpu = out.cpu, oid = out.eventId, ooff = out.offset, olen = out.length;
  while (i < na && j < nb) {
    if (ats[i] <= bts[j]) {
      ots[n] = ats[i]; ocpu[n] = a.cpu[i]; oid[n] = a.eventId[i]; ooff[n] = a.offset[i]; olen[n] = a.length[i];
      i++;
    } else {
      ots[n] = bts[j]; ocpu[n] = b.cpu[j]; oid[n] = b.eventId[j]; ooff[n] = b.offset[j]; olen[n] = b.length[j];
      j++;
    }
    n++;
  }
  out.count = n;
  if (i < na) appendRange(out, a, i, na);
  if (j < nb) appendRange(out, b, j, nb);
}

/** k-way merge with a binary heap of run heads (for 3+ non-empty runs). */
function mergeMany(out: RecordColumns, runs: RecordColumns[]): void {
  const k = runs.length;
  const heap: number[] = [];
  const pos = new Array<number>(k).fill(0);
  const less = (x: number, y: number) => {
    const tx = runs[x].ts[pos[x]];
    const ty = runs[y].ts[pos[y]];
    return tx < ty || (tx === ty && x < y);
  };
  const siftDown = (start: number) => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const c = r < heap.length && less(heap[r], heap[l]) ? r : l;
      if (!less(heap[c], heap[i])) break;
      [heap[c], heap[i]] = [heap[i], heap[c]];
      i = c;
    }
  };
  for (let r = 0; r < k; r++) if (runs[r].count > 0) heap.push(r);
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
  let n = out.count;
  while (heap.length > 0) {
    const r = heap[0];
    const src = runs[r];
    const p = pos[r]++;
    out.ts[n] = src.ts[p]; out.cpu[n] = src.cpu[p]; out.eventId[n] = src.eventId[p];
    out.offset[n] = src.offset[p]; out.length[n] = src.length[p];
    n++;
    if (pos[r] >= src.count) {
      const last = heap.pop() as number;
      if (heap.length > 0) { heap[0] = last; siftDown(0); }
    } else {
      siftDown(0);
    }
  }
  out.count = n;
}
