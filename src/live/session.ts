/**
 * The live event source: one private tracefs instance per run with the events the probes need, read on every CPU,
 * decoded into each probe's field order and handed to the runtime in timestamp order with exact context (process,
 * thread, command name from the in-stream task table), lost events reported, and the kernel left as found.
 */
import { endianness } from 'node:os';
import { basename } from 'node:path';
import type { ConcretePoint, DerivedProbe, Program } from '../elaborate/program.js';
import type { Context, ProbeInfo } from '../runtime/context.js';
import type { EventSource } from '../runtime/runtime.js';
import { limits as formatLimits } from '../runtime/format.js';
import { compileDecoder, type EventFormat, type FieldFormat } from '../tracefs/format.js';
import { cleanupStale, DEFAULT_BUFFER_SIZE_KB, TraceInstance } from '../tracefs/instance.js';
import { ensureTracefs } from '../tracefs/mount.js';
import type { EventBatch, EventReader, LostEvents } from '../tracefs/reader.js';
import { planField, type FieldPlan } from './casts.js';
import { eventFilter, probeFilter, type FilterSubject } from './filters.js';
import { TaskTable } from './tasks.js';

/** A failure to set up or run the session, with a message meant for the user. */
export class LiveError extends Error {
  override name = 'LiveError';
}

export interface LiveOptions {
  /** Ring buffer per CPU in MB (stap -s). */
  bufferMB?: number;
  verbose: number;
}

type Dispatch = (probeId: string, c: Context) => void;

/** Decodes a record's fields in a probe's order. */
type FieldDecoder = (data: Buffer, offset: number, length: number) => unknown[];

interface TracepointRoute { id: string; info: ProbeInfo; decode: FieldDecoder }
interface ProcessRoute { id: string; info: ProbeInfo; path?: string }

/** Everything one kernel event feeds: the task table, tracepoint probes, process.begin/end probes. */
interface EventRoute {
  key: string;
  format: EventFormat;
  helper?: (data: Buffer, offset: number, length: number, tid: number, at: number) => void;
  probes: TracepointRoute[];
  begin: ProcessRoute[];
  end: ProcessRoute[];
  /** sched_process_exec/exit: reads the process id and, for exits, group_dead. */
  processFields?: (data: Buffer, offset: number, length: number) => { pid: number; last: boolean; filename: string };
}

/** A record held back by poll(until): its bytes copied out of the reader's reused arena. */
interface HeldRecord { data: Buffer; cpu: number; eventId: number; epoch: bigint; ts: number }

/** Events the task table needs, whether or not a probe uses them. */
const TASK_EVENTS = ['task/task_newtask', 'task/task_rename', 'sched/sched_process_exec', 'sched/sched_process_exit'];
const EMPTY: unknown[] = [];
const LOSS_WARNING_INTERVAL_MS = 1000;

function split(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function kinds(l: Omit<LostEvents, 'cpu' | 'total'>): string {
  const parts: Array<[string, number]> = [
    ['dropped', l.dropped], ['overrun', l.overrun], ['commit overrun', l.commitOverrun], ['missed', l.pageMissed],
  ];
  const nonZero = parts.filter(([, n]) => n > 0);
  if (nonZero.length === 1) return nonZero[0]![0];
  return nonZero.map(([k, n]) => `${k} ${n}`).join(', ');
}

/** Which kernel events a program needs: tracepoints and process probes. Undefined when none. */
export function kernelProbes(program: Program): DerivedProbe[] {
  return program.probes.filter((p) => p.point.kind !== 'begin' && p.point.kind !== 'end' && p.point.kind !== 'error'
    && p.point.kind !== 'never' && p.point.kind !== 'timer');
}

export class LiveSession implements EventSource {
  private instance?: TraceInstance;
  private reader?: EventReader;
  private readonly tasks = new TaskTable();
  /** Routes by event id (common_type). */
  private routes: Array<EventRoute | undefined> = [];
  private pidOffset = 4;
  private dispatch: Dispatch = () => undefined;
  private held: HeldRecord[] = [];
  private warnings: string[] = [];
  private unreported = new Map<number, Omit<LostEvents, 'cpu' | 'total'>>();
  private lastLossWarning = 0;
  private lastCollect = 0;
  private closed = false;
  private readonly littleEndian = endianness() === 'LE';
  private readonly bufferSizeKb: number;
  private readonly onCrash = () => this.close();
  /** Event time of the last record handled (absolute ns as a number; only used to age the task table). */
  private now = 0;
  /** Records handed to handlers or the task table. */
  delivered = 0;
  private startedAt = 0;

  constructor(private readonly probes: DerivedProbe[], private readonly opts: LiveOptions) {
    for (const p of probes) {
      if (p.point.kind === 'kprobe' || p.point.kind === 'uprobe') {
        throw new LiveError(`${p.pp}: ${p.point.kind} probes cannot be armed by this build of tstap`);
      }
    }
    const mb = opts.bufferMB;
    if (mb !== undefined && !(Number.isFinite(mb) && mb > 0)) throw new LiveError(`-s ${mb}: the buffer size must be a positive number of MB`);
    this.bufferSizeKb = mb === undefined ? DEFAULT_BUFFER_SIZE_KB : Math.max(4, Math.round(mb * 1024));
  }

  private log(msg: string): void {
    if (this.opts.verbose >= 2) process.stderr.write(`tstap: ${msg}\n`);
  }

  // ---- start ---------------------------------------------------------------------------------

  async start(): Promise<void> {
    try {
      this.arm();
    } catch (err) {
      this.close();
      if (err instanceof LiveError) throw err;
      throw new LiveError((err as Error).message);
    }
  }

  private arm(): void {
    const root = ensureTracefs();
    const stale = cleanupStale(root);
    if (stale.instances.length || stale.events.length) {
      this.log(`removed leftovers of dead runs: ${[...stale.instances, ...stale.events].join(' ')}`);
    }
    for (const e of stale.errors) this.warnings.push(`could not remove a dead run's tracing leftovers: ${e}`);
    const instance = TraceInstance.create({ root, bufferSizeKb: this.bufferSizeKb });
    this.instance = instance;
    process.on('uncaughtExceptionMonitor', this.onCrash);
    process.on('exit', this.onCrash);
    this.log(`instance ${instance.path}, ${this.bufferSizeKb} KB per CPU, clock ${instance.clock}`);

    // Every event the probes use, and the task events; a probe event may also be a task event.
    const byEvent = new Map<string, DerivedProbe[]>();
    const processProbes: DerivedProbe[] = [];
    for (const p of this.probes) {
      if (p.point.kind === 'tracepoint') {
        const key = `${p.point.system}/${p.point.event}`;
        byEvent.set(key, [...(byEvent.get(key) ?? []), p]);
      } else if (p.point.kind === 'process') {
        processProbes.push(p);
      }
    }
    const routes = new Map<string, EventRoute>();
    const route = (key: string, required: boolean): EventRoute | undefined => {
      let r = routes.get(key);
      if (r) return r;
      const [system, event] = split(key);
      let format: EventFormat;
      try {
        format = instance.eventFormat(system, event);
      } catch (err) {
        if (required) throw new LiveError(`cannot use ${system}:${event}: ${(err as Error).message}`);
        return undefined;
      }
      r = { key, format, probes: [], begin: [], end: [] };
      routes.set(key, r);
      this.routes[format.id] = r;
      return r;
    };
    this.setUpTaskEvents(route, processProbes);
    for (const [key, probes] of byEvent) {
      const r = route(key, true)!;
      for (const p of probes) r.probes.push({ id: p.id, info: { id: p.id, pp: p.pp }, decode: this.fieldDecoder(r.format, p) });
    }
    // Every event shares the common fields; common_pid is the thread id.
    const pidField = [...routes.values()][0]?.format.commonFields.find((f) => f.name === 'common_pid');
    if (!pidField || pidField.size !== 4) throw new LiveError('trace events have no 4-byte common_pid field');
    this.pidOffset = pidField.offset;

    this.reader = instance.openReader();
    // Task events first, then the snapshot of /proc, then the probes: every probe event is stamped after the
    // snapshot, and every change to a task after it arrives as an event before the probe events it affects.
    const taskKeys = TASK_EVENTS.filter((k) => routes.has(k));
    for (const key of taskKeys) instance.enableEvent(...split(key));
    const seedStart = performance.now();
    this.tasks.seedFromProc();
    this.log(`task table: ${this.tasks.size} threads from /proc in ${(performance.now() - seedStart).toFixed(1)} ms`);
    let filtered = 0;
    for (const [key, probes] of byEvent) {
      const r = routes.get(key)!;
      if (!taskKeys.includes(key)) {
        const filter = eventFilter(probes.map((p) => probeFilter(p, this.pushdownContext(r.format, p))));
        if (filter !== undefined) {
          try {
            instance.setFilter(...split(key), filter);
            filtered++;
            this.log(`filter ${key}: ${filter}`);
          } catch (err) {
            // Only an optimisation: the handler still tests the condition.
            this.log(`filter ${key} not set: ${(err as Error).message}`);
          }
        }
        instance.enableEvent(...split(key));
      }
    }
    this.log(`enabled ${taskKeys.length} task events and ${byEvent.size} probe events (${filtered} filtered)`);
    this.startedAt = performance.now();
  }

  /** Wires the task events to the task table and the process.begin/end probes. */
  private setUpTaskEvents(route: (key: string, required: boolean) => EventRoute | undefined, processProbes: DerivedProbe[]): void {
    const decoder = (r: EventRoute, fields: string[]) => {
      const present = fields.filter((f) => r.format.fields.some((x) => x.name === f));
      const d = compileDecoder(r.format, { fields: present, stringEncoding: 'latin1' });
      const out: unknown[] = new Array(present.length);
      return (data: Buffer, offset: number, length: number): Record<string, unknown> => {
        d.decodeInto(data, offset, out as never, length);
        const o: Record<string, unknown> = {};
        for (let i = 0; i < present.length; i++) o[present[i]!] = out[i];
        return o;
      };
    };
    const rename = route('task/task_rename', false);
    if (rename) {
      const read = decoder(rename, ['pid', 'newcomm']);
      rename.helper = (data, offset, length) => {
        const v = read(data, offset, length);
        this.tasks.rename(v.pid as number, v.newcomm as string);
      };
    }
    const newtask = route('task/task_newtask', false);
    if (newtask) {
      const read = decoder(newtask, ['pid', 'comm', 'clone_flags']);
      newtask.helper = (data, offset, length, tid) => {
        const v = read(data, offset, length);
        this.tasks.newTask(tid, v.pid as number, v.comm as string, (v.clone_flags ?? 0) as number | bigint);
      };
    }
    const needProcess = processProbes.length > 0;
    const exec = route('sched/sched_process_exec', needProcess);
    if (exec) {
      const read = decoder(exec, ['filename', 'pid', 'old_pid']);
      exec.processFields = (data, offset, length) => {
        const v = read(data, offset, length);
        return { pid: v.pid as number, last: true, filename: v.filename as string };
      };
      exec.helper = (data, offset, length, tid, at) => {
        const v = read(data, offset, length);
        const pid = (v.pid as number | undefined) ?? tid;
        const filename = v.filename as string;
        // Kernels that rename at exec report it through task_rename just before; others get the basename.
        const comm = rename ? undefined : basename(filename).slice(0, 15);
        this.tasks.exec(pid, (v.old_pid as number | undefined) ?? pid, filename, comm, at);
      };
    }
    const exit = route('sched/sched_process_exit', needProcess);
    if (exit) {
      const read = decoder(exit, ['pid', 'group_dead']);
      exit.processFields = (data, offset, length) => {
        const v = read(data, offset, length);
        const pid = v.pid as number;
        // Without group_dead (older kernels) the leader's exit stands for the process's.
        const last = v.group_dead !== undefined ? v.group_dead !== 0 : this.tasks.tgidOf(pid) === pid;
        return { pid, last, filename: '' };
      };
      exit.helper = (data, offset, length, _tid, at) => {
        const f = exit.processFields!(data, offset, length);
        this.tasks.exit(f.pid, f.last, at);
      };
    }
    for (const p of processProbes) {
      const point = p.point as Extract<ConcretePoint, { kind: 'process' }>;
      const target = point.event === 'begin' ? exec! : exit!;
      (point.event === 'begin' ? target.begin : target.end).push({ id: p.id, info: { id: p.id, pp: p.pp }, path: point.path });
    }
  }

  /** The decoder of one probe's fields, with C-type casts, MAXSTRINGLEN and arrays-as-first-element applied. */
  private fieldDecoder(format: EventFormat, probe: DerivedProbe): FieldDecoder {
    const plans = new Map<string, FieldPlan>(format.fields.map((f) => [f.name, planField(f, this.littleEndian)]));
    const decodeFields: FieldFormat[] = format.fields.map((f) => plans.get(f.name)!.decode);
    const adjusted: EventFormat = { ...format, fields: decodeFields, allFields: [...format.commonFields, ...decodeFields] };
    const names = probe.fields.map((f) => f.name);
    if (names.length === 0) return () => EMPTY;
    const decoder = compileDecoder(adjusted, { fields: names, stringEncoding: 'latin1' });
    const n = names.length;
    const strings: number[] = [];
    const arrays: number[] = [];
    names.forEach((name, i) => {
      const plan = plans.get(name)!;
      if (plan.firstElement) arrays.push(i);
      else if (plan.decode.kind === 'string' || plan.decode.kind === 'dynString') strings.push(i);
    });
    if (strings.length === 0 && arrays.length === 0) {
      return (data, offset, length) => {
        const f = new Array(n);
        decoder.decodeInto(data, offset, f, length);
        return f;
      };
    }
    return (data, offset, length) => {
      const f = new Array(n);
      decoder.decodeInto(data, offset, f, length);
      const max = formatLimits.maxStringLen;
      for (const i of strings) {
        const s = f[i] as string;
        if (s.length >= max) f[i] = s.slice(0, max - 1);
      }
      for (const i of arrays) {
        const a = f[i] as Array<number | bigint>;
        const v = a.length ? a[0]! : 0;
        f[i] = typeof v === 'bigint' ? canonical(v) : v;
      }
      return f;
    };
  }

  private pushdownContext(format: EventFormat, probe: DerivedProbe): { field(i: number): FilterSubject | undefined; maxStringLen: number } {
    return {
      maxStringLen: formatLimits.maxStringLen,
      field: (i: number) => {
        const name = probe.fields[i]?.name;
        const f = format.fields.find((x) => x.name === name);
        return f ? { name: f.name, view: planField(f, this.littleEndian).filter } : undefined;
      },
    };
  }

  // ---- the event stream ----------------------------------------------------------------------

  poll(dispatch: Dispatch, until?: bigint): void {
    const reader = this.reader;
    if (!reader || this.closed) return;
    this.dispatch = dispatch;
    if (this.held.length) this.replayHeld(until);
    const batch = reader.drain();
    this.deliver(batch, until);
    this.noteLosses(batch.lost, false);
    const t = Date.now();
    if (t - this.lastCollect > 1000) {
      this.lastCollect = t;
      this.tasks.collect(this.now);
    }
  }

  finish(dispatch: Dispatch): void {
    const reader = this.reader;
    if (!reader || this.closed) return;
    this.dispatch = dispatch;
    this.replayHeld(undefined);
    const batch = reader.finalDrain();
    this.deliver(batch, undefined);
    this.noteLosses(batch.lost, true);
    if (this.opts.verbose >= 2) {
      const secs = (performance.now() - this.startedAt) / 1000;
      this.log(`${this.delivered} events in ${secs.toFixed(2)} s (${Math.round(this.delivered / Math.max(secs, 1e-3))}/s)`);
    }
  }

  /** Hands held-back records stamped before `until` (all when undefined) to their handlers. */
  private replayHeld(until: bigint | undefined): void {
    let i = 0;
    for (; i < this.held.length; i++) {
      const h = this.held[i]!;
      if (until !== undefined && h.epoch + BigInt(h.ts) >= until) break;
      this.handle(h.data, 0, h.data.length, h.cpu, h.eventId, h.epoch, h.ts);
    }
    this.held = i === this.held.length ? [] : this.held.slice(i);
  }

  private deliver(batch: EventBatch, until: bigint | undefined): void {
    const limit = until === undefined ? Infinity : Number(until - batch.epoch);
    const { data, ts, cpu, eventId, offset, length, epoch } = batch;
    for (let i = 0; i < batch.count; i++) {
      if (ts[i]! >= limit) {
        for (let j = i; j < batch.count; j++) {
          const bytes = Buffer.from(data.subarray(offset[j]!, offset[j]! + length[j]!));
          this.held.push({ data: bytes, cpu: cpu[j]!, eventId: eventId[j]!, epoch, ts: ts[j]! });
        }
        return;
      }
      this.handle(data, offset[i]!, length[i]!, cpu[i]!, eventId[i]!, epoch, ts[i]!);
    }
  }

  /** One record: the task table first (so an exec's own event sees the new program), then the probes. */
  private handle(data: Buffer, offset: number, length: number, cpu: number, eventId: number, epoch: bigint, rel: number): void {
    const r = this.routes[eventId];
    if (!r) return;
    this.delivered++;
    const tid = this.littleEndian ? data.readInt32LE(offset + this.pidOffset) : data.readInt32BE(offset + this.pidOffset);
    if (r.helper) {
      this.now = Number(epoch) + rel;
      r.helper(data, offset, length, tid, this.now);
    }
    const probes = r.probes;
    const hasProcess = r.begin.length > 0 || r.end.length > 0;
    if (probes.length === 0 && !hasProcess) return;
    const pid = this.tasks.tgidOf(tid);
    const comm = tid === 0 ? `swapper/${cpu}` : this.tasks.commOf(tid);
    const ts = epoch + BigInt(rel);
    for (let k = 0; k < probes.length; k++) {
      const p = probes[k]!;
      this.dispatch(p.id, { pid, tid, cpu, ts, f: p.decode(data, offset, length), probe: p.info, comm });
    }
    if (hasProcess) this.processProbes(r, data, offset, length, tid, pid, cpu, ts, comm);
  }

  private processProbes(r: EventRoute, data: Buffer, offset: number, length: number, tid: number, pid: number, cpu: number, ts: bigint, comm: string | undefined): void {
    const f = r.processFields!(data, offset, length);
    if (r.begin.length) {
      for (const p of r.begin) {
        if (p.path !== undefined && !this.tasks.sameFile(f.filename, p.path)) continue;
        this.dispatch(p.id, { pid, tid, cpu, ts, f: EMPTY, probe: p.info, comm });
      }
    }
    if (r.end.length && f.last) {
      const exe = this.tasks.exeOf(pid);
      for (const p of r.end) {
        if (p.path !== undefined && !this.tasks.sameFile(exe, p.path)) continue;
        this.dispatch(p.id, { pid, tid, cpu, ts, f: EMPTY, probe: p.info, comm });
      }
    }
  }

  // ---- lost events ---------------------------------------------------------------------------

  private noteLosses(lost: LostEvents[], final: boolean): void {
    for (const l of lost) {
      const u = this.unreported.get(l.cpu) ?? { dropped: 0, overrun: 0, commitOverrun: 0, pageMissed: 0, pagesMissedUnknown: 0 };
      u.dropped += l.dropped;
      u.overrun += l.overrun;
      u.commitOverrun += l.commitOverrun;
      u.pageMissed += l.pageMissed;
      u.pagesMissedUnknown += l.pagesMissedUnknown;
      this.unreported.set(l.cpu, u);
    }
    const t = Date.now();
    if (this.unreported.size && (final || t - this.lastLossWarning >= LOSS_WARNING_INTERVAL_MS)) {
      this.lastLossWarning = t;
      for (const [cpu, u] of [...this.unreported].sort((a, b) => a[0] - b[0])) {
        const n = u.dropped + u.overrun + u.commitOverrun + u.pageMissed;
        if (n > 0) this.warnings.push(`${n} events lost on cpu ${cpu} (${kinds(u)}); raise -s`);
        if (u.pagesMissedUnknown > 0) {
          this.warnings.push(`events lost on cpu ${cpu}: ${u.pagesMissedUnknown} sub-buffers flagged missed events without a count; raise -s`);
        }
      }
      this.unreported.clear();
    }
    if (final && this.reader) {
      const totals = this.reader.lostTotals().filter((l) => l.total > 0 || l.pagesMissedUnknown > 0);
      if (totals.length) {
        const sum = totals.reduce((s, l) => s + l.total, 0);
        const perCpu = totals.map((l) => `cpu ${l.cpu}: ${l.total}${l.pagesMissedUnknown ? ` and ${l.pagesMissedUnknown} sub-buffers` : ''}`).join(', ');
        const of = this.delivered + sum;
        this.warnings.push(`${sum} of ${of} events lost in all (${perCpu}) with ${this.bufferSizeKb / 1024} MB per CPU; raise -s`);
      }
    }
  }

  takeWarnings(): string[] {
    if (this.warnings.length === 0) return this.warnings;
    const w = this.warnings;
    this.warnings = [];
    return w;
  }

  // ---- lookups for builtins ------------------------------------------------------------------

  commOf(tid: number): string | undefined {
    return this.tasks.commOf(tid);
  }

  ppidOf(pid: number): number | undefined {
    return this.tasks.ppidOf(pid);
  }

  // ---- teardown ------------------------------------------------------------------------------

  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.off('uncaughtExceptionMonitor', this.onCrash);
    process.off('exit', this.onCrash);
    const instance = this.instance;
    this.instance = undefined;
    this.reader = undefined;
    if (!instance) return;
    try {
      instance.closeSync();
    } catch (err) {
      process.stderr.write(`WARNING: ${(err as Error).message}\n`);
    }
  }
}

function canonical(v: bigint): number | bigint {
  const w = BigInt.asIntN(64, v);
  return w >= -9007199254740991n && w <= 9007199254740991n ? Number(w) : w;
}
