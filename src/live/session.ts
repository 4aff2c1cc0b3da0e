/**
 * The live event source: one private tracefs instance per run with the events the probes need (tracepoints, and
 * the dynamic events uprobes, kprobes and event probes are defined as), read on every CPU, decoded into each probe's
 * field order and handed to the runtime in timestamp order with exact context (process, thread, command name from
 * the in-stream task table), lost events reported, and the kernel left as found.
 */
import { endianness } from 'node:os';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  ENTRY_FIELD_PREFIX, entryEventName, entryProbeDefinition, probeDefinition, splitFetch,
} from '../elaborate/dynamic.js';
import type { ConcretePoint, DerivedProbe, Program } from '../elaborate/program.js';
import { walkExpr, walkStmt } from '../elaborate/walk.js';
import type * as A from '../parser/ast.js';
import type { Context, ProbeInfo } from '../runtime/context.js';
import type { EventSource } from '../runtime/runtime.js';
import { limits as formatLimits } from '../runtime/format.js';
import { compileDecoder, type EventFormat, type FieldFormat } from '../tracefs/format.js';
import { cleanupStale, TraceInstance, type ProbeDefinition } from '../tracefs/instance.js';
import { ensureTracefs, hasTracingPrivileges } from '../tracefs/mount.js';
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

/** Decodes a record's fields in a probe's order; `entry` holds a return probe's values captured at entry. */
type FieldDecoder = (data: Buffer, offset: number, length: number, entry?: unknown[]) => unknown[];

/** Decodes the named fields of a record, densely, in the order named. */
type RecordDecoder = (data: Buffer, offset: number, length: number) => unknown[];

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
  processFields?: (data: Buffer, offset: number, length: number) => { pid: number; last: boolean };
  /** A return probe's entry values, per thread, innermost call last (pushed by its companion entry event). */
  entryStacks?: Map<number, unknown[][]>;
  /** A probe on this event reads the kernel stack: its records are followed by ftrace:kernel_stack records. */
  wantsStack?: boolean;
  /** A probe on this event reads the user stack: its records are followed by ftrace:user_stack records. */
  wantsUserStack?: boolean;
}

/** A probe armed through a dynamic event of the session's group, with its companion entry event if it has one. */
interface DynamicProbe { probe: DerivedProbe; main: ProbeDefinition; entry?: ProbeDefinition }

/**
 * The context of one kernel event. The timestamp is kept as (epoch, offset) and made a bigint only
 * when a handler asks for it: most handlers never do, and a bigint per event is measurable.
 */
class EventContext implements Context {
  stack?: bigint[];
  ustack?: bigint[];
  constructor(
    readonly pid: number, readonly tid: number, readonly cpu: number, private readonly epoch: bigint,
    private readonly rel: number, readonly f: unknown[], readonly probe: ProbeInfo, readonly comm: string | undefined,
  ) {}
  get ts(): bigint { return this.epoch + BigInt(this.rel); }
}

/** Handler calls of one event, waiting for its kernel and/or user stack records. */
interface PendingStacks { calls: Array<[string, EventContext]>; kernel: boolean; user: boolean }

/** A record held back by poll(until): its bytes copied out of the reader's reused arena. */
interface HeldRecord { data: Buffer; cpu: number; eventId: number; epoch: bigint; ts: number }

/** Events the task table needs, whether or not a probe uses them. */
const TASK_EVENTS = ['task/task_newtask', 'task/task_rename', 'sched/sched_process_exec', 'sched/sched_process_exit'];
const EMPTY: unknown[] = [];
const LOSS_WARNING_INTERVAL_MS = 1000;
/**
 * Default ring buffer per CPU. The reader alone keeps up with a 2M-call getppid burst at 4 MB, but the whole
 * pipeline is slower for its first ~100 ms (handlers and decoders not yet optimised by V8): measured here, 4 MB
 * lost 1-3.5% of the burst in 2 runs of 6, 8 MB lost nothing in 10 of 10. Start-up time is the same.
 */
export const DEFAULT_LIVE_BUFFER_KB = 8192;
/**
 * How far behind the drain time the reader's ordering watermark stays (records committed late by a writer on
 * another CPU). A drain that must deliver everything stamped before `until` therefore starts no earlier than this
 * after `until`.
 */
const ORDER_SLACK_NS = 20_000;
/** Deepest nesting of entry values kept per thread for a return probe (calls that never return are dropped). */
const MAX_ENTRY_DEPTH = 1024;

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

/** The probes of a program that need kernel events (tracepoints, process probes, dynamic probes). */
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
  /** ftrace:kernel_stack: the record the stacktrace trigger writes after an event, and where its fields are. */
  private stackEvent?: { id: number; sizeOffset: number; callerOffset: number };
  /** ftrace:user_stack: the record the userstacktrace option writes after every event of the instance. */
  private userStackEvent?: { id: number; callerOffset: number };
  /** Per CPU: handler calls waiting for the stack records that follow their event. */
  private pendingStack: Array<PendingStacks | undefined> = [];
  /** Trigger files this run wrote `stacktrace` to, undone before the instance goes. */
  private stackTriggers: string[] = [];
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
  /** The entry-value stacks of every return probe with a companion entry event. */
  private readonly entryStacks: Array<Map<number, unknown[][]>> = [];
  private lastTid = -1;
  private lastPid = 0;
  private lastComm: string | undefined;
  /** Records handed to handlers or the task table. */
  delivered = 0;
  private startedAt = 0;

  constructor(private readonly probes: DerivedProbe[], private readonly opts: LiveOptions) {
    const mb = opts.bufferMB;
    if (mb !== undefined && !(Number.isFinite(mb) && mb > 0)) throw new LiveError(`-s ${mb}: the buffer size must be a positive number of MB`);
    this.bufferSizeKb = mb === undefined ? DEFAULT_LIVE_BUFFER_KB : Math.max(4, Math.round(mb * 1024));
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
    if (!hasTracingPrivileges()) {
      throw new LiveError('tstap needs root (CAP_SYS_ADMIN and CAP_DAC_OVERRIDE) to arm kernel probes through tracefs');
    }
    const root = ensureTracefs();
    const stale = cleanupStale(root);
    if (stale.instances.length || stale.events.length) {
      this.log(`removed leftovers of dead runs: ${[...stale.instances, ...stale.events].join(' ')}`);
    }
    for (const e of stale.errors) this.warnings.push(`could not remove a dead run's tracing leftovers: ${e}`);
    // The `local` trace clock (sched_clock) costs ~23 ns less per event in the kernel than `mono`
    // (measured: 2M syscall events in 250 ms against 296 ms); it is calibrated against CLOCK_MONOTONIC
    // below so that timestamps, timers and end still share one timeline. `mono` is the fallback.
    let instance: TraceInstance;
    try {
      instance = TraceInstance.create({ root, bufferSizeKb: this.bufferSizeKb, clock: 'local' });
    } catch {
      instance = TraceInstance.create({ root, bufferSizeKb: this.bufferSizeKb });
    }
    this.instance = instance;
    process.on('uncaughtExceptionMonitor', this.onCrash);
    process.on('exit', this.onCrash);
    this.log(`instance ${instance.path}, ${this.bufferSizeKb} KB per CPU, clock ${instance.clock}`);

    // Every event the probes use, and the task events; a probe event may also be a task event.
    const byEvent = new Map<string, DerivedProbe[]>();
    const processProbes: DerivedProbe[] = [];
    const dynamic: DynamicProbe[] = [];
    for (const p of this.probes) {
      const point = p.point;
      if (point.kind === 'tracepoint' && point.eprobe) {
        // Fields the record lacks (user strings behind pointers) are fetched by an event probe on the tracepoint.
        const main: ProbeDefinition = { kind: 'eprobe', event: p.id, target: { system: point.system, event: point.event }, args: point.eprobe.map(splitFetch) };
        dynamic.push({ probe: p, main });
      } else if (point.kind === 'tracepoint') {
        const key = `${point.system}/${point.event}`;
        byEvent.set(key, [...(byEvent.get(key) ?? []), p]);
      } else if (point.kind === 'uprobe' || point.kind === 'kprobe') {
        dynamic.push({ probe: p, main: probeDefinition(point, p.id), entry: entryProbeDefinition(point, p.id) });
      } else if (point.kind === 'process') {
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
    // Dynamic events (uprobes, kprobes, event probes), defined in the session's group; a return probe that reads
    // entry values gets a companion entry event whose records wait on a per-thread stack for their return.
    const entryKeys: string[] = [];
    for (const d of dynamic) {
      let entryNames: string[] | undefined;
      let stacks: Map<number, unknown[][]> | undefined;
      if (d.entry) {
        const key = this.define(instance, d.probe, d.entry);
        const r = route(key, true)!;
        const names = r.format.fields.map((f) => f.name);
        const read = this.recordDecoder(r.format, names);
        const perThread = new Map<number, unknown[][]>();
        r.helper = (data, offset, length, tid) => {
          let stack = perThread.get(tid);
          if (!stack) perThread.set(tid, (stack = []));
          if (stack.length >= MAX_ENTRY_DEPTH) stack.shift();
          stack.push(read(data, offset, length));
        };
        this.entryStacks.push(perThread);
        entryKeys.push(key);
        entryNames = names;
        stacks = perThread;
      }
      const key = this.define(instance, d.probe, d.main);
      const r = route(key, true)!;
      r.entryStacks = stacks;
      r.probes.push({ id: d.probe.id, info: { id: d.probe.id, pp: d.probe.pp }, decode: this.fieldDecoder(r.format, d.probe, entryNames) });
      byEvent.set(key, [d.probe]);
    }
    // Every event shares the common fields; common_pid is the thread id.
    const pidField = [...routes.values()][0]?.format.commonFields.find((f) => f.name === 'common_pid');
    if (!pidField || pidField.size !== 4) throw new LiveError('trace events have no 4-byte common_pid field');
    this.pidOffset = pidField.offset;

    this.reader = instance.openReader({ orderSlackNs: ORDER_SLACK_NS, clockIsMonotonic: true });
    if (instance.clock !== 'mono') {
      const offset = this.calibrate(instance, this.reader);
      if (offset === undefined) throw new LiveError(`could not calibrate the '${instance.clock}' trace clock against CLOCK_MONOTONIC`);
      this.reader.setTraceOffset(offset);
      this.log(`trace clock ${instance.clock} = CLOCK_MONOTONIC ${offset >= 0n ? '-' : '+'} ${offset >= 0n ? offset : -offset} ns`);
    }
    // Task events first, then the snapshot of /proc, then the probes: every probe event is stamped after the
    // snapshot, and every change to a task after it arrives as an event before the probe events it affects.
    const taskKeys = TASK_EVENTS.filter((k) => routes.has(k));
    for (const key of taskKeys) instance.enableEvent(...split(key));
    const seedStart = performance.now();
    this.tasks.seedFromProc();
    this.log(`task table: ${this.tasks.size} threads from /proc in ${(performance.now() - seedStart).toFixed(1)} ms`);
    // Companion entry events before their return probes: every return then had its entry recorded.
    for (const key of entryKeys) instance.enableEvent(...split(key));
    // Stacks for the probes that print them: the stacktrace trigger writes a kernel_stack record after each event.
    const stackKeys = [...byEvent].filter(([, probes]) => probes.some(p => p.wantsStack)).map(([key]) => key);
    if (stackKeys.length) {
      const fmt = instance.eventFormat('ftrace', 'kernel_stack');
      const size = fmt.fields.find(f => f.name === 'size');
      const caller = fmt.fields.find(f => f.name === 'caller');
      if (!size || !caller) throw new LiveError('ftrace:kernel_stack has no size/caller fields: cannot capture kernel stacks');
      this.stackEvent = { id: fmt.id, sizeOffset: size.offset, callerOffset: caller.offset };
      for (const key of stackKeys) {
        const file = join(instance.path, 'events', key, 'trigger');
        try {
          writeFileSync(file, 'stacktrace');
        } catch (err) {
          throw new LiveError(`the kernel refused a stacktrace trigger on ${key.replace('/', ':')} (${(err as Error).message}): print_backtrace() needs CONFIG_STACKTRACE`);
        }
        this.stackTriggers.push(file);
        routes.get(key)!.wantsStack = true;
      }
    }
    // User stacks: the instance's userstacktrace option writes a user_stack record after every event.
    const userStackKeys = [...byEvent].filter(([, probes]) => probes.some(p => p.wantsUserStack)).map(([key]) => key);
    if (userStackKeys.length) {
      const fmt = instance.eventFormat('ftrace', 'user_stack');
      const caller = fmt.fields.find(f => f.name === 'caller');
      if (!caller) throw new LiveError('ftrace:user_stack has no caller field: cannot capture user stacks');
      this.userStackEvent = { id: fmt.id, callerOffset: caller.offset };
      try {
        writeFileSync(join(instance.path, 'options', 'userstacktrace'), '1');
      } catch (err) {
        throw new LiveError(`the kernel refused the userstacktrace option (${(err as Error).message}): print_ubacktrace() needs CONFIG_USER_STACKTRACE_SUPPORT`);
      }
      for (const key of userStackKeys) routes.get(key)!.wantsUserStack = true;
    }
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

  /** Defines a dynamic event for `probe`; the key of the event to route and enable. */
  private define(instance: TraceInstance, probe: DerivedProbe, def: ProbeDefinition): string {
    try {
      const ev = instance.defineProbe(def);
      this.log(`defined ${ev.system}/${ev.event} for ${probe.pp}`);
      return `${ev.system}/${ev.event}`;
    } catch (err) {
      throw new LiveError(`${probe.pp}: ${(err as Error).message}`);
    }
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
        return { pid: v.pid as number, last: true };
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
        return { pid, last };
      };
      exit.helper = (data, offset, length, _tid, at) => {
        const f = exit.processFields!(data, offset, length);
        this.tasks.exit(f.pid, f.last, at);
        // A thread that exits returns from nothing it entered.
        for (const stacks of this.entryStacks) stacks.delete(f.pid);
      };
    }
    for (const p of processProbes) {
      const point = p.point as Extract<ConcretePoint, { kind: 'process' }>;
      const target = point.event === 'begin' ? exec! : exit!;
      (point.event === 'begin' ? target.begin : target.end).push({ id: p.id, info: { id: p.id, pp: p.pp }, path: point.path });
    }
  }

  /**
   * Decodes `names` of a record with C-type casts, MAXSTRINGLEN and arrays-as-first-element applied, into a fresh
   * dense array.
   */
  private recordDecoder(format: EventFormat, names: string[]): RecordDecoder {
    if (names.length === 0) return () => [];
    const plans = new Map<string, FieldPlan>(format.fields.map((f) => [f.name, planField(f, this.littleEndian)]));
    const decodeFields: FieldFormat[] = format.fields.map((f) => plans.get(f.name)!.decode);
    const adjusted: EventFormat = { ...format, fields: decodeFields, allFields: [...format.commonFields, ...decodeFields] };
    const compiled = compileDecoder(adjusted, { fields: names, stringEncoding: 'latin1' });
    const n = names.length;
    const strings: number[] = [];
    const arrays: number[] = [];
    names.forEach((name, k) => {
      const plan = plans.get(name)!;
      if (plan.firstElement) arrays.push(k);
      else if (plan.decode.kind === 'string' || plan.decode.kind === 'dynString') strings.push(k);
    });
    if (strings.length === 0 && arrays.length === 0) {
      return (data, offset, length) => {
        const f = new Array(n);
        compiled.decodeInto(data, offset, f, length);
        return f;
      };
    }
    return (data, offset, length) => {
      const f = new Array(n);
      compiled.decodeInto(data, offset, f, length);
      const max = formatLimits.maxStringLen;
      for (const k of strings) {
        const s = f[k] as string;
        if (s.length >= max) f[k] = s.slice(0, max - 1);
      }
      for (const k of arrays) {
        const a = f[k] as Array<number | bigint>;
        const v = a.length ? a[0]! : 0;
        f[k] = typeof v === 'bigint' ? canonical(v) : v;
      }
      return f;
    };
  }

  /**
   * The decoder of the fields a probe's handler reads, at their indexes in the probe's field list. `entryNames`:
   * the fields of a return probe's companion entry event, whose `X` the probe reads as `__entry_X`.
   */
  private fieldDecoder(format: EventFormat, probe: DerivedProbe, entryNames?: string[]): FieldDecoder {
    const used = usedFieldIndexes(probe);
    if (used.length === 0) return () => EMPTY;
    const inRecord: number[] = [];
    const fromEntry: Array<[index: number, entryIndex: number]> = [];
    for (const i of used) {
      const name = probe.fields[i]!.name;
      const entryIndex = name.startsWith(ENTRY_FIELD_PREFIX) ? entryNames?.indexOf(name.slice(ENTRY_FIELD_PREFIX.length)) ?? -1 : -1;
      if (format.fields.some((f) => f.name === name)) inRecord.push(i);
      else if (entryIndex >= 0) fromEntry.push([i, entryIndex]);
      else throw new LiveError(`${probe.pp}: the event ${format.system}:${format.name} has no field '${name}'`);
    }
    const read = this.recordDecoder(format, inRecord.map((i) => probe.fields[i]!.name));
    if (fromEntry.length === 0 && inRecord.every((index, k) => index === k)) return read;
    const n = Math.max(...used) + 1;
    // An entry the stream never showed (the call began before the probe was armed) reads as zero or "".
    const missing = fromEntry.map(([i]) => (probe.fields[i]!.type === 'string' ? '' : 0));
    return (data, offset, length, entry) => {
      const values = read(data, offset, length);
      const f = new Array(n);
      for (let k = 0; k < inRecord.length; k++) f[inRecord[k]!] = values[k];
      for (let k = 0; k < fromEntry.length; k++) {
        const [i, e] = fromEntry[k]!;
        f[i] = entry ? entry[e] : missing[k];
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
    if (until !== undefined) {
      // A timer is due at `until`: wait out the watermark's slack (20 µs) so the drain releases every record
      // stamped before it.
      const ready = until + BigInt(ORDER_SLACK_NS);
      while (process.hrtime.bigint() < ready) { /* spin: shorter than any sleep */ }
    }
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
    for (let cpu = 0; cpu < this.pendingStack.length; cpu++) this.flushStack(cpu);
    this.noteLosses(batch.lost, true);
    if (this.opts.verbose >= 2) {
      const secs = (performance.now() - this.startedAt) / 1000;
      this.log(`${this.delivered} events in ${secs.toFixed(2)} s (${Math.round(this.delivered / Math.max(secs, 1e-3))}/s)`);
    }
  }

  /** The return addresses of a kernel_stack or user_stack record (zeros end a user stack). */
  private readStack(data: Buffer, offset: number, length: number, callerOffset: number, count: number): bigint[] {
    const n = Math.max(0, Math.min(count, Math.floor((length - callerOffset) / 8)));
    const stack: bigint[] = [];
    for (let i = 0; i < n; i++) {
      const at = offset + callerOffset + 8 * i;
      const a = this.littleEndian ? data.readBigUInt64LE(at) : data.readBigUInt64BE(at);
      if (a === 0n) continue;
      stack.push(a);
    }
    return stack;
  }

  /**
   * CLOCK_MONOTONIC minus the instance's trace clock: a marker written to trace_marker is stamped on
   * the trace clock between two reads of CLOCK_MONOTONIC; of three, the tightest bracket wins
   * (a few microseconds). sched_clock and CLOCK_MONOTONIC drift apart by well under a
   * microsecond per second here, so one calibration at start serves a run.
   */
  private calibrate(instance: TraceInstance, reader: EventReader): bigint | undefined {
    const printId = instance.eventFormat('ftrace', 'print').id;
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    let best: { span: bigint; offset: bigint } | undefined;
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      writeFileSync(join(instance.path, 'trace_marker'), `tstap clock calibration ${i}`);
      const t1 = process.hrtime.bigint();
      let stamp: bigint | undefined;
      for (let tries = 0; tries < 200 && stamp === undefined; tries++) {
        const batch = reader.drain();
        for (let k = 0; k < batch.count; k++) if (batch.eventId[k] === printId) stamp = batch.timestamp(k);
        if (stamp === undefined) Atomics.wait(sleeper, 0, 0, 1);
      }
      if (stamp === undefined) return undefined;
      const offset = (t0 + t1) / 2n - stamp;
      if (!best || t1 - t0 < best.span) best = { span: t1 - t0, offset };
    }
    return best?.offset;
  }

  /** A kernel_stack or user_stack record: the stack of the event just before it on this CPU. */
  private attachStack(data: Buffer, offset: number, length: number, cpu: number, user: boolean): void {
    const waiting = this.pendingStack[cpu];
    if (!waiting) return;
    if (user) {
      if (!waiting.user) return;
      const stack = this.readStack(data, offset, length, this.userStackEvent!.callerOffset, 64);
      for (const [, ctx] of waiting.calls) ctx.ustack = stack;
      waiting.user = false;
    } else {
      if (!waiting.kernel) return;
      const se = this.stackEvent!;
      // `size` counts the entries (ftrace's entry->size = nr_entries), not bytes.
      const entries = this.littleEndian ? data.readInt32LE(offset + se.sizeOffset) : data.readInt32BE(offset + se.sizeOffset);
      const stack = this.readStack(data, offset, length, se.callerOffset, entries);
      for (const [, ctx] of waiting.calls) ctx.stack = stack;
      waiting.kernel = false;
    }
    if (!waiting.kernel && !waiting.user) this.flushStack(cpu);
  }

  private flushStack(cpu: number): void {
    const waiting = this.pendingStack[cpu];
    this.pendingStack[cpu] = undefined;
    if (waiting) for (const [id, ctx] of waiting.calls) this.dispatch(id, ctx);
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
    if (this.stackEvent || this.userStackEvent) {
      if (eventId === this.stackEvent?.id) { this.attachStack(data, offset, length, cpu, false); return; }
      if (eventId === this.userStackEvent?.id) { this.attachStack(data, offset, length, cpu, true); return; }
      // Any other record on this CPU means the waiting event got no (more) stack records.
      if (this.pendingStack[cpu]) this.flushStack(cpu);
    }
    const r = this.routes[eventId];
    if (!r) return;
    this.delivered++;
    const tid = this.littleEndian ? data.readInt32LE(offset + this.pidOffset) : data.readInt32BE(offset + this.pidOffset);
    if (r.helper) {
      this.now = Number(epoch) + rel;
      this.lastTid = -1;
      r.helper(data, offset, length, tid, this.now);
    }
    const probes = r.probes;
    const hasProcess = r.begin.length > 0 || r.end.length > 0;
    if (probes.length === 0 && !hasProcess) return;
    // Bursts come from one thread at a time: remember the last one (any task event invalidates it).
    if (tid !== this.lastTid || tid === 0) {
      this.lastTid = tid;
      this.lastPid = this.tasks.tgidOf(tid);
      this.lastComm = tid === 0 ? `swapper/${cpu}` : this.tasks.commOf(tid);
    }
    const pid = this.lastPid;
    const comm = this.lastComm;
    const entry = r.entryStacks ? r.entryStacks.get(tid)?.pop() : undefined;
    // stap never runs a return probe for a call whose entry it did not see (e.g. armed mid-call).
    if (r.entryStacks && entry === undefined && !hasProcess) return;
    if (r.wantsStack || r.wantsUserStack) {
      // Dispatched when the stack records that follow on this CPU arrive.
      this.pendingStack[cpu] = {
        calls: probes.map(p => [p.id, new EventContext(pid, tid, cpu, epoch, rel, p.decode(data, offset, length, entry), p.info, comm)]),
        kernel: !!r.wantsStack,
        user: !!r.wantsUserStack,
      };
    } else {
      for (let k = 0; k < probes.length; k++) {
        const p = probes[k]!;
        this.dispatch(p.id, new EventContext(pid, tid, cpu, epoch, rel, p.decode(data, offset, length, entry), p.info, comm));
      }
    }
    if (hasProcess) this.processProbes(r, data, offset, length, tid, pid, cpu, epoch + BigInt(rel), comm);
  }

  private processProbes(r: EventRoute, data: Buffer, offset: number, length: number, tid: number, pid: number, cpu: number, ts: bigint, comm: string | undefined): void {
    const f = r.processFields!(data, offset, length);
    if (r.begin.length) {
      // The task table has just recorded the exec'd file (a relative name resolved against the working directory).
      const exe = this.tasks.exeOf(pid);
      for (const p of r.begin) {
        if (p.path !== undefined && !this.tasks.sameFile(exe, p.path)) continue;
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
        const size = this.bufferSizeKb % 1024 === 0 ? `${this.bufferSizeKb / 1024} MB` : `${this.bufferSizeKb} KB`;
        this.warnings.push(`${sum} of ${of} events lost in all (${perCpu}) with ${size} per CPU; raise -s`);
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
    // A trigger left on a dynamic event would keep it busy: undo them first.
    for (const file of this.stackTriggers) {
      try { writeFileSync(file, '!stacktrace'); } catch { /* the event is going anyway */ }
    }
    try {
      instance.closeSync();
    } catch (err) {
      process.stderr.write(`WARNING: ${(err as Error).message}\n`);
    }
  }
}

/** Indexes of the event fields a probe's conditions and body read (`$name`, `$$vars`), ascending. */
export function usedFieldIndexes(probe: Pick<DerivedProbe, 'body' | 'conditions'>): number[] {
  const used = new Set<number>();
  const visitor = {
    expr(e: A.Expr): void {
      if (e.kind !== 'tvar' || !e.ref) return;
      if (e.ref.kind === 'field') used.add(e.ref.index);
      else if (e.ref.kind === 'pretty') for (const f of e.ref.fields) used.add(f.index);
    },
  };
  for (const c of probe.conditions) walkExpr(c, visitor);
  walkStmt(probe.body, visitor);
  return [...used].sort((a, b) => a - b);
}

function canonical(v: bigint): number | bigint {
  const w = BigInt.asIntN(64, v);
  return w >= -9007199254740991n && w <= 9007199254740991n ? Number(w) : w;
}
