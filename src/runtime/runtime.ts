/**
 * Pass 5, the runtime: loads the generated module, runs begin probes, timers and event-driven
 * handlers, then end (or error) probes, with stap's limits and error reporting. Events from the
 * kernel arrive through an EventSource (src/live); timers and `end` are ordered with them.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as L from './long.js';
import * as F from './format.js';
import * as S from './stats.js';
import * as M from './maparray.js';
import { StapError } from './errors.js';
import { Output } from './output.js';
import { makeBuiltins, type BuiltinHost } from './builtins.js';
import { selfContext, type Context, type ProbeInfo } from './context.js';
import type { ConcretePoint } from '../elaborate/program.js';

export interface Limits {
  MAXACTION: number;
  MAXACTION_INTERRUPTIBLE: number;
  MAXMAPENTRIES: number;
  MAXSTRINGLEN: number;
  MAXERRORS: number;
  MAXSKIPPED: number;
  MAXNESTING: number;
  HIST_ELISION: number;
  HIST_WIDTH: number;
}

export const DEFAULT_LIMITS: Limits = {
  MAXACTION: 1000, MAXACTION_INTERRUPTIBLE: 10000, MAXMAPENTRIES: 2048, MAXSTRINGLEN: 512, MAXERRORS: 0,
  MAXSKIPPED: 100, MAXNESTING: 10, HIST_ELISION: 2, HIST_WIDTH: 50,
};

/** What the generated module returns. */
export interface LoadedModule {
  locations: string[];
  resetActions(maxAction: number): void;
  probes: { id: string; pp: string; handler: (c: Context) => void }[];
  globals: Record<string, { type?: string; get(): unknown; set?(v: unknown): void }>;
}

export interface ProbeSpec { id: string; pp: string; point: ConcretePoint; fieldCount: number }

/** A stream of kernel events for the probes that need them (tracepoints, dynamic probes). */
export interface EventSource {
  /** Arm everything; events before this returns are not seen. */
  start(): Promise<void>;
  /** Deliver every event stamped before `until` (or everything available) to `dispatch`, in time order. */
  poll(dispatch: (probeId: string, c: Context) => void, until?: bigint): void;
  /** Drain completely and disarm (called before end probes run). */
  finish(dispatch: (probeId: string, c: Context) => void): void;
  /** Undo everything in the kernel; safe to call twice, synchronous (used on crash paths too). */
  close(): void;
  /** Process table lookups for events. */
  commOf(tid: number): string | undefined;
  ppidOf(pid: number): number | undefined;
  /** Lost-event warnings gathered so far (printed by the runtime). */
  takeWarnings(): string[];
}

export interface RunOptions {
  limits: Limits;
  outputFile?: string;
  targetPid?: number;
  command?: string;
  timeoutSeconds?: number;
  globalsInit: Map<string, string>;
  source?: EventSource;
  hz?: number;
  /** A handler's runtime error ends that handler only, without a message (stap's --suppress-handler-errors). */
  suppressHandlerErrors?: boolean;
  /** Start the -c command, stopped until `resume()`, so that it runs only once every probe is armed. */
  startCommand?: (cmd: string) => Promise<{ pid: number; exited: Promise<void>; resume(): void }>;
}

const NEXT = Symbol('next');

export class Runtime implements BuiltinHost {
  readonly lib;
  readonly limits: Limits;
  readonly histOptions: S.HistFormatOptions;
  readonly NEXT = NEXT;
  at = 0;
  private module!: LoadedModule;
  private readonly output: Output;
  private errors = 0;
  private skipped = 0;
  private exitRequested = false;
  /** Events stamped after this are not handled: the moment exit() was called, or the run was told to end. */
  private exitTs?: bigint;
  private aborted = false;
  private finished = false;
  private target = 0;
  private lastMatchResult: RegExpExecArray | null = null;
  private readonly systemQueue: string[] = [];
  private readonly probesById = new Map<string, { spec: ProbeSpec; handler: (c: Context) => void; info: ProbeInfo }>();
  private wake?: () => void;
  realtimeOffsetNs: bigint;
  hz: number;

  constructor(private readonly specs: ProbeSpec[], private readonly opts: RunOptions) {
    this.limits = opts.limits;
    F.limits.maxStringLen = this.limits.MAXSTRINGLEN;
    this.histOptions = { elision: this.limits.HIST_ELISION, width: this.limits.HIST_WIDTH };
    this.output = new Output(opts.outputFile);
    this.target = opts.targetPid ?? 0;
    this.hz = opts.hz ?? 250;
    const realNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    this.realtimeOffsetNs = realNs - process.hrtime.bigint();
    this.lib = { L, F, S, M, B: makeBuiltins(this) };
  }

  // ---- services for generated code -----------------------------------------------------------

  out(s: string): void { this.output.write(s); }
  cat(a: string, b: string): string { return F.truncate(a + b); }
  trunc(s: string): string { return F.truncate(s); }
  regexMatch(re: RegExp, s: string): boolean {
    const m = re.exec(s);
    if (m) this.lastMatchResult = m;
    return m !== null;
  }
  actionLimit(loc: number): never {
    this.at = loc;
    throw new StapError('MAXACTION exceeded', false);
  }
  nestingLimit(loc: number): never {
    this.at = loc;
    throw new StapError('MAXNESTING exceeded', false);
  }
  catchable(e: unknown): e is StapError {
    return e instanceof StapError && e.catchable;
  }

  // ---- BuiltinHost ----------------------------------------------------------------------------

  requestExit(at?: bigint): void {
    const when = at ?? process.hrtime.bigint();
    if (this.exitTs === undefined || when < this.exitTs) this.exitTs = when;
    this.exitRequested = true;
    this.wake?.();
  }
  abort(): void { this.aborted = true; this.requestExit(); }
  warn(msg: string): void { this.output.flush(); process.stderr.write(`WARNING: ${msg}\n`); }
  write(s: string): void { this.output.write(s); }
  queueSystem(cmd: string): void { this.systemQueue.push(cmd); }
  targetPid(): number { return this.target; }
  lastMatch(): RegExpExecArray | null { return this.lastMatchResult; }
  commOf(c: Context): string {
    if (c.comm !== undefined) return c.comm;
    const fromStream = this.opts.source?.commOf(c.tid);
    if (fromStream !== undefined) return fromStream;
    try { return readFileSync(`/proc/${c.tid}/comm`, 'latin1').replace(/\n$/, ''); } catch { return ''; }
  }
  ppidOf(c: Context): number {
    if (c.pid === process.pid) return process.ppid;
    const fromStream = this.opts.source?.ppidOf(c.pid);
    if (fromStream !== undefined) return fromStream;
    try { return Number(/^PPid:\s*(\d+)/m.exec(readFileSync(`/proc/${c.pid}/status`, 'latin1'))?.[1] ?? 0); } catch { return 0; }
  }
  uidOf(c: Context): number {
    if (c.uid !== undefined) return c.uid;
    if (c.pid === process.pid) return process.getuid?.() ?? 0;
    try { return Number(/^Uid:\s*(\d+)/m.exec(readFileSync(`/proc/${c.pid}/status`, 'latin1'))?.[1] ?? 0); } catch { return 0; }
  }

  // ---- running handlers -----------------------------------------------------------------------

  /** Run one handler with stap's error handling. */
  fire(probeId: string, c: Context): void {
    // After exit, only events stamped before it are still handled (the final drain delivers them).
    if (this.exitTs !== undefined && !this.finished && c.ts > this.exitTs) return;
    const p = this.probesById.get(probeId);
    if (!p) return;
    this.module.resetActions(this.limits.MAXACTION);
    try {
      p.handler(c);
    } catch (e) {
      this.handlerError(e, c.ts);
    }
    if (this.systemQueue.length) this.runSystem();
  }

  private handlerError(e: unknown, at?: bigint): void {
    if (!(e instanceof StapError)) throw e;
    if (this.opts.suppressHandlerErrors) return;
    this.errors++;
    this.output.flush();
    const near = this.module.locations[this.at];
    process.stderr.write(`ERROR: ${e.message}${near ? ` near ${near}` : ''}\n`);
    // Too many errors end the run at the failing event: later events are not handled.
    if (this.errors > this.limits.MAXERRORS) this.requestExit(at);
    this.wake?.();
  }

  private runSystem(): void {
    this.output.flush();
    for (const cmd of this.systemQueue.splice(0)) spawnSync('/bin/sh', ['-c', cmd], { stdio: 'inherit' });
  }

  private runPhase(kind: 'begin' | 'end' | 'error'): void {
    const list = this.specs
      .map((s, i) => ({ s, i }))
      .filter(x => x.s.point.kind === kind)
      .sort((a, b) => {
        const pa = (a.s.point as { priority: bigint }).priority;
        const pb = (b.s.point as { priority: bigint }).priority;
        return pa < pb ? -1 : pa > pb ? 1 : a.i - b.i;
      });
    for (const { s } of list) {
      if (kind === 'begin' && this.exitRequested) break;
      const p = this.probesById.get(s.id)!;
      const c = selfContext(p.info);
      this.module.resetActions(this.limits.MAXACTION_INTERRUPTIBLE);
      try {
        p.handler(c);
      } catch (e) {
        this.handlerError(e);
      }
      if (this.systemQueue.length) this.runSystem();
    }
  }

  private applyGlobalsInit(): string | undefined {
    for (const [name, value] of this.opts.globalsInit) {
      const g = this.module.globals[name];
      if (!g || !g.set) return `-G ${name}: no such scalar global`;
      if (g.type === 'long') {
        const v = L.parseLong(value);
        if (v === undefined) return `-G ${name}: '${value}' is not a number`;
        g.set(v);
      } else g.set(value);
    }
    return undefined;
  }

  /** Load the generated module source and run the script to its end. Returns the exit status. */
  async run(source: string): Promise<number> {
    const factory = new Function('rt', source) as (rt: Runtime) => LoadedModule;
    this.module = factory(this);
    for (const mp of this.module.probes) {
      const spec = this.specs.find(s => s.id === mp.id)!;
      this.probesById.set(mp.id, { spec, handler: mp.handler, info: { id: mp.id, pp: mp.pp } });
    }
    const initError = this.applyGlobalsInit();
    if (initError) {
      process.stderr.write(`ERROR: ${initError}\n`);
      return 1;
    }
    const source_ = this.opts.source;
    const timers: NodeJS.Timeout[] = [];
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    const onSignal = () => this.requestExit();
    for (const s of signals) process.on(s, onSignal);
    try {
      const dispatch = (id: string, c: Context) => this.fire(id, c);
      // stap forks the -c command first (so target() is known in begin probes) and lets it run
      // only once every probe is armed.
      const child = this.opts.command && this.opts.startCommand ? await this.opts.startCommand(this.opts.command) : undefined;
      if (child) {
        this.target = child.pid;
        void child.exited.then(() => this.requestExit());
      }
      if (source_) await source_.start();
      this.runPhase('begin');
      child?.resume();
      if (!this.exitRequested) {
        const done = new Promise<void>(resolve => { this.wake = () => { if (this.exitRequested) resolve(); }; });
        if (this.exitRequested) this.wake!();
        // Timers: each fires at start + k*period (+ random), after the events stamped before it.
        for (const s of this.specs) {
          if (s.point.kind !== 'timer') continue;
          const period = Number(s.point.periodNs) / 1e6;
          const rand = Number(s.point.randomizeNs) / 1e6;
          const id = s.id;
          let due = performance.now();
          const arm = () => {
            due += period + (rand ? (Math.random() * 2 - 1) * rand : 0);
            const fireAt = (): void => {
              if (this.exitRequested) return;
              // libuv's timers run off a cached loop clock and can fire a little early.
              const early = due - performance.now();
              if (early > 0) { timers.push(setTimeout(fireAt, early)); return; }
              const now = process.hrtime.bigint();
              if (source_) source_.poll(dispatch, now);
              const p = this.probesById.get(id)!;
              this.fire(id, { ...selfContext(p.info), ts: now });
              this.output.flush();
              if (!this.exitRequested) arm();
            };
            timers.push(setTimeout(fireAt, Math.max(0, due - performance.now())));
          };
          arm();
        }
        if (source_) {
          const poll = setInterval(() => {
            source_.poll(dispatch);
            for (const w of source_.takeWarnings()) { this.output.flush(); process.stderr.write(`WARNING: ${w}\n`); }
            this.output.flush();
          }, 10);
          timers.push(poll);
        } else {
          timers.push(setInterval(() => this.output.flush(), 100));
        }
        if (this.opts.timeoutSeconds !== undefined) timers.push(setTimeout(() => this.requestExit(), this.opts.timeoutSeconds * 1000));
        await done;
      }
      for (const t of timers) clearTimeout(t);
      if (source_) {
        source_.finish(dispatch);
        for (const w of source_.takeWarnings()) { this.output.flush(); process.stderr.write(`WARNING: ${w}\n`); }
      }
      this.finished = true;
      if (!this.aborted) {
        const hasError = this.specs.some(s => s.point.kind === 'error');
        this.runPhase(this.errors > 0 && hasError ? 'error' : 'end');
      }
    } finally {
      for (const s of signals) process.off(s, onSignal);
      this.output.close();
      source_?.close();
    }
    if (this.errors > 0) {
      process.stderr.write(`WARNING: Number of errors: ${this.errors}, skipped probes: ${this.skipped}\n`);
      process.stderr.write('Pass 5: run failed.  [man error::pass5]\n');
      return 1;
    }
    return 0;
  }
}
