/**
 * A private tracing session: one tracefs instance (own ring buffer, clock, events) plus the dynamic probe events it
 * defined in its own group, all named `tstap_<pid>_<nonce>` so that a crashed run's leftovers can be recognised and
 * removed (`cleanupStale`) without touching live runs. Everything it creates is undone by `close()`/`closeSync()`.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync as closeFd, constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { detectFeatures, type KernelFeatures } from './features.js';
import { parseEventFormat, readEventFormat, readHeaderPage, type EventFormat } from './format.js';
import { ensureTracefs } from './mount.js';
import { EventReader, type EventReaderOptions } from './reader.js';
import { layoutFromHeaderPage } from './ringbuffer.js';

/**
 * Default per-CPU ring buffer size. Measured with a 2,000,000-call getppid burst (16-byte records at ~6M/s, ~90 MB/s
 * on one CPU) drained every 10 ms: 1410 KB (a new instance's kernel default) lost 2-3%, 2048 KB and 4096 KB lost
 * nothing; with one 60 ms event-loop stall 4096 KB lost 10-30% and only 8192 KB lost nothing. 4096 KB is twice the
 * smallest loss-free size at 4 MB of memory per CPU; a stalling script should raise it (-s).
 */
export const DEFAULT_BUFFER_SIZE_KB = 4096;

/** The kernel rejects a filter write of PAGE_SIZE bytes or more; 4096 is the smallest page size. */
export const MAX_FILTER_BYTES = 4095;
/** MAX_EVENT_NAME_LEN in trace.h: event and group names. */
export const MAX_EVENT_NAME_LEN = 64;
/** MAX_ARG_NAME_LEN in trace_probe.h. */
export const MAX_ARG_NAME_LEN = 32;

const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INSTANCE_NAME = /^tstap_(\d+)_([0-9a-f]+)$/;
/** Event system/name path components: what tracefs directories are named (e.g. `sample-trace`). */
const EVENT_COMPONENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export interface ProbeArgument {
  /** Field name in the event record (C identifier, ≤ 32 chars). */
  name: string;
  /** Fetch expression, e.g. `%di`, `$arg1`, `+0(%si)`, `$retval`. */
  fetch: string;
  /** Kernel fetch type, e.g. `u64`, `s32`, `string`, `ustring`, `x64`. */
  type?: string;
}

interface ProbeBase {
  /** Event name within the session's group (C identifier, ≤ 64 chars). */
  event: string;
  args?: ProbeArgument[];
}

export interface UprobeDefinition extends ProbeBase {
  kind: 'uprobe';
  /** Absolute path of the ELF object. */
  path: string;
  /** File offset of the probed instruction. */
  offset: number | bigint;
  /** Probe the function return (uretprobe). */
  return?: boolean;
  /** USDT semaphore file offset. */
  refCtrOffset?: number | bigint;
}

export interface KprobeDefinition extends ProbeBase {
  kind: 'kprobe';
  symbol: string;
  module?: string;
  offset?: number;
  return?: boolean;
  /** kretprobe MAXACTIVE (concurrent instances); 0 or absent = kernel default. */
  maxActive?: number;
}

export interface FprobeDefinition extends ProbeBase {
  kind: 'fprobe';
  symbol: string;
  return?: boolean;
  maxActive?: number;
}

export interface TprobeDefinition extends ProbeBase {
  kind: 'tprobe';
  tracepoint: string;
}

export interface EprobeDefinition extends ProbeBase {
  kind: 'eprobe';
  target: { system: string; event: string };
}

export type ProbeDefinition = UprobeDefinition | KprobeDefinition | FprobeDefinition | TprobeDefinition | EprobeDefinition;

export interface TraceInstanceOptions {
  /** tracefs root; default: found (or mounted) by ensureTracefs(). */
  root?: string;
  /** Per-CPU ring buffer size in KB (stap -s); default DEFAULT_BUFFER_SIZE_KB. */
  bufferSizeKb?: number;
  /** trace_clock; default `mono` (CLOCK_MONOTONIC, needed for cross-CPU ordering across drains). */
  clock?: string;
  /** Register a process 'exit' handler that runs closeSync() (default true). */
  exitCleanup?: boolean;
}

interface DefinedProbe {
  event: string;
  kind: ProbeDefinition['kind'];
  /** The definition as written. */
  line: string;
  /** The control file the definition went to; removal goes to the same one. */
  file: string;
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? '';
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}` : String((e as Error)?.message ?? e);
}

/** One write(2) of `text` to an existing control file. `append` is mandatory for *_events files (no truncation). */
function writeControl(path: string, text: string, append = false): void {
  const fd = openSync(path, append ? constants.O_WRONLY | constants.O_APPEND : constants.O_WRONLY);
  try {
    writeSync(fd, text);
  } finally {
    closeFd(fd);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Splits error_log text into entries; each starts with a `[ timestamp]` line. */
export function parseErrorLog(text: string): string[] {
  const entries: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\[\s*\d+\.\d+\]/.test(line)) entries.push(line);
    else if (entries.length > 0 && line.trim() !== '') entries[entries.length - 1] += `\n${line}`;
  }
  return entries;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function validateEventComponent(what: string, value: string): void {
  if (!EVENT_COMPONENT.test(value) || value.length > 128) {
    throw new Error(`invalid trace event ${what} '${value}'`);
  }
}

/**
 * Checks a filter string before it reaches the kernel: one line (newlines would be taken as the end of the write by
 * some kernels and are never valid in the grammar), no NUL, under PAGE_SIZE bytes.
 */
export function validateFilter(filter: string): void {
  if (/[\n\r\0]/.test(filter)) throw new Error('event filter must be a single line without NUL bytes');
  const bytes = Buffer.byteLength(filter);
  if (bytes === 0) throw new Error('event filter is empty (use clearFilter to remove a filter)');
  if (bytes > MAX_FILTER_BYTES) throw new Error(`event filter is ${bytes} bytes; the kernel accepts at most ${MAX_FILTER_BYTES}`);
}

function validateName(what: string, value: string, max: number): void {
  if (!C_IDENTIFIER.test(value)) throw new Error(`${what} '${value}' must be a C identifier`);
  if (value.length > max) throw new Error(`${what} '${value}' is longer than ${max} characters`);
}

function validateToken(what: string, value: string): void {
  if (value === '' || /[\s\0]/.test(value)) throw new Error(`${what} '${value}' must be non-empty without whitespace`);
}

function hex(value: number | bigint): string {
  if (typeof value === 'number' && (!Number.isSafeInteger(value) || value < 0)) throw new Error(`invalid offset ${value}`);
  if (typeof value === 'bigint' && value < 0n) throw new Error(`invalid offset ${value}`);
  return `0x${value.toString(16)}`;
}

function formatArgs(args: ProbeArgument[] | undefined): string {
  if (!args || args.length === 0) return '';
  if (args.length > 128) throw new Error(`a probe event takes at most 128 arguments (got ${args.length})`);
  const seen = new Set<string>();
  return args.map((a) => {
    validateName('probe argument name', a.name, MAX_ARG_NAME_LEN);
    if (a.name.startsWith('common_') || seen.has(a.name)) throw new Error(`probe argument name '${a.name}' is reserved or repeated`);
    seen.add(a.name);
    validateToken('fetch argument', a.fetch);
    if (a.type !== undefined) validateToken('fetch type', a.type);
    return ` ${a.name}=${a.fetch}${a.type ? `:${a.type}` : ''}`;
  }).join('');
}

/** The definition line for `def` in `group` (validated), as written to kprobe_events/uprobe_events/dynamic_events. */
export function formatProbeDefinition(def: ProbeDefinition, group: string): string {
  validateName('probe group', group, MAX_EVENT_NAME_LEN);
  validateName('probe event name', def.event, MAX_EVENT_NAME_LEN);
  const target = `${group}/${def.event}`;
  const args = formatArgs(def.args);
  switch (def.kind) {
    case 'uprobe': {
      if (!def.path.startsWith('/')) throw new Error(`uprobe path '${def.path}' must be absolute`);
      if (/[\s\0]/.test(def.path)) throw new Error(`uprobe path '${def.path}' contains whitespace, which the kernel cannot parse`);
      const ref = def.refCtrOffset !== undefined ? `(${hex(def.refCtrOffset)})` : '';
      return `${def.return ? 'r' : 'p'}:${target} ${def.path}:${hex(def.offset)}${ref}${args}`;
    }
    case 'kprobe': {
      if (!/^[A-Za-z_.][A-Za-z0-9_.$]*$/.test(def.symbol)) throw new Error(`invalid kernel symbol '${def.symbol}'`);
      if (def.module !== undefined && !/^[A-Za-z0-9_-]+$/.test(def.module)) throw new Error(`invalid module name '${def.module}'`);
      const place = `${def.module ? `${def.module}:` : ''}${def.symbol}${def.offset ? `+${def.offset >>> 0}` : ''}`;
      if (def.return) {
        if (def.offset) throw new Error('a kretprobe must be on a function entry (offset 0)');
        const maxActive = def.maxActive ? String(def.maxActive >>> 0) : '';
        return `r${maxActive}:${target} ${place}${args}`;
      }
      if (def.maxActive) throw new Error('maxactive applies to return probes only');
      return `p:${target} ${place}${args}`;
    }
    case 'fprobe': {
      if (!/^[A-Za-z_.][A-Za-z0-9_.$]*$/.test(def.symbol)) throw new Error(`invalid kernel symbol '${def.symbol}'`);
      const maxActive = def.return && def.maxActive ? String(def.maxActive >>> 0) : '';
      return `f${maxActive}:${target} ${def.symbol}${def.return ? '%return' : ''}${args}`;
    }
    case 'tprobe':
      validateName('tracepoint', def.tracepoint, 128);
      return `t:${target} ${def.tracepoint}${args}`;
    case 'eprobe':
      validateEventComponent('system', def.target.system);
      validateEventComponent('name', def.target.event);
      return `e:${target} ${def.target.system}.${def.target.event}${args}`;
  }
}

const BUSY_RETRY_MS = 50;
const BUSY_RETRIES = 40;

/** Runs one teardown step: '' when done, 'busy' to retry after a pause, else the failure text. */
function runStep(step: () => void, attempt: number): string {
  try {
    step();
    return '';
  } catch (err) {
    if (errnoOf(err) === 'EBUSY' && attempt < BUSY_RETRIES) return 'busy';
    return (err as Error).message;
  }
}

let exitHandlers: Set<TraceInstance> | undefined;

function registerExitCleanup(instance: TraceInstance): void {
  if (!exitHandlers) {
    exitHandlers = new Set();
    const handlers = exitHandlers;
    process.once('exit', () => {
      for (const inst of handlers) {
        try {
          inst.closeSync();
        } catch {
          // Exiting anyway; the next run's cleanupStale() will remove what is left.
        }
      }
    });
  }
  exitHandlers.add(instance);
}

export class TraceInstance {
  readonly root: string;
  /** `tstap_<pid>_<nonce>`: the instance directory name and the dynamic event group. */
  readonly name: string;
  readonly path: string;
  readonly group: string;
  readonly clock: string;
  readonly bufferSizeKb: number;
  private readonly enabled = new Set<string>();
  private readonly filtered = new Set<string>();
  private readonly probes: DefinedProbe[] = [];
  private readonly readers = new Set<EventReader>();
  private features?: KernelFeatures;
  private state: 'open' | 'closing' | 'closed' = 'open';

  private constructor(root: string, name: string, clock: string, bufferSizeKb: number) {
    this.root = root;
    this.name = name;
    this.group = name;
    this.path = join(root, 'instances', name);
    this.clock = clock;
    this.bufferSizeKb = bufferSizeKb;
  }

  /** Creates the instance directory and configures clock, buffer size and overwrite=0 (so drops are counted). */
  static create(options: TraceInstanceOptions = {}): TraceInstance {
    const root = options.root ?? ensureTracefs();
    const clock = options.clock ?? 'mono';
    const bufferSizeKb = options.bufferSizeKb ?? DEFAULT_BUFFER_SIZE_KB;
    if (!Number.isInteger(bufferSizeKb) || bufferSizeKb < 4) throw new Error(`invalid ring buffer size ${bufferSizeKb} KB`);
    if (!existsSync(join(root, 'instances'))) throw new Error(`${root} has no instances/ directory: kernel too old for private tracing buffers`);
    let instance: TraceInstance | undefined;
    for (let attempt = 0; !instance; attempt++) {
      const name = `tstap_${process.pid}_${randomBytes(4).toString('hex')}`;
      try {
        mkdirSync(join(root, 'instances', name));
        instance = new TraceInstance(root, name, clock, bufferSizeKb);
      } catch (err) {
        if (errnoOf(err) === 'EEXIST' && attempt < 4) continue;
        throw new Error(`cannot create tracing instance ${join(root, 'instances', name)}: ${describe(err)}`);
      }
    }
    try {
      instance.configure();
    } catch (err) {
      instance.closeSync();
      throw err;
    }
    if (options.exitCleanup ?? true) registerExitCleanup(instance);
    return instance;
  }

  private configure(): void {
    const clocks = readText(join(this.path, 'trace_clock')).replace(/[[\]]/g, '').trim().split(/\s+/);
    if (!clocks.includes(this.clock)) throw new Error(`trace clock '${this.clock}' is not offered by this kernel (have: ${clocks.join(' ')})`);
    writeControl(join(this.path, 'trace_clock'), this.clock);
    try {
      writeControl(join(this.path, 'buffer_size_kb'), String(this.bufferSizeKb));
    } catch (err) {
      throw new Error(`cannot allocate a ${this.bufferSizeKb} KB per-CPU trace buffer (${describe(err)}); use a smaller -s`);
    }
    // Overwrite off: a full buffer drops new events and counts them in per_cpu/cpuN/stats "dropped events".
    writeControl(join(this.path, 'options', 'overwrite'), '0');
    writeControl(join(this.path, 'tracing_on'), '1');
  }

  private ensureOpen(): void {
    if (this.state !== 'open') throw new Error(`tracing instance ${this.name} is closed`);
  }

  kernelFeatures(): KernelFeatures {
    this.features ??= detectFeatures(this.root);
    return this.features;
  }

  private eventDir(system: string, event: string): string {
    validateEventComponent('system', system);
    validateEventComponent('name', event);
    return join(this.path, 'events', system, event);
  }

  /** Root error_log entries (dynamic event parse errors go there). */
  readErrorLog(): string[] {
    return parseErrorLog(readText(join(this.root, 'error_log')));
  }

  private newErrors(before: string[]): string[] {
    const seen = new Set(before);
    return this.readErrorLog().filter((e) => !seen.has(e));
  }

  enableEvent(system: string, event: string): void {
    this.ensureOpen();
    const dir = this.eventDir(system, event);
    const before = this.readErrorLog();
    try {
      writeControl(join(dir, 'enable'), '1');
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new Error(`no such trace event ${system}:${event} (${dir} does not exist)`);
      const probe = system === this.group ? this.probes.find((p) => p.event === event) : undefined;
      const log = this.newErrors(before);
      // Uprobe places are only checked when the probe is registered, i.e. now, and the kernel logs nothing.
      const hint = probe?.kind === 'uprobe'
        ? '; for a uprobe this means the offset is beyond the end of the file or cannot be probed'
        : '';
      throw new Error(`the kernel refused to enable ${system}:${event} (${describe(err)})${probe ? ` defined as '${probe.line}'` : ''}${hint}${log.length ? `\nkernel error_log:\n${log.join('\n')}` : ''}`);
    }
    this.enabled.add(`${system}/${event}`);
  }

  disableEvent(system: string, event: string): void {
    const dir = this.eventDir(system, event);
    writeControl(join(dir, 'enable'), '0');
    this.enabled.delete(`${system}/${event}`);
  }

  /** Sets an event filter in this instance; a rejected filter's error names the kernel's parse_error. */
  setFilter(system: string, event: string, filter: string): void {
    this.ensureOpen();
    validateFilter(filter);
    const file = join(this.eventDir(system, event), 'filter');
    try {
      writeControl(file, filter);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new Error(`no such trace event ${system}:${event}`);
      // On a parse error the filter file shows the text, a caret and "parse_error: <reason>".
      const explanation = readText(file).trimEnd();
      throw new Error(`the kernel rejected the filter for ${system}:${event} (${describe(err)}): ${filter}${explanation ? `\n${explanation}` : ''}`);
    }
    this.filtered.add(`${system}/${event}`);
  }

  clearFilter(system: string, event: string): void {
    writeControl(join(this.eventDir(system, event), 'filter'), '0');
    this.filtered.delete(`${system}/${event}`);
  }

  /** Which control file takes a definition of this kind, or an error naming what the kernel lacks. */
  private definitionFile(kind: ProbeDefinition['kind']): string {
    const f = this.kernelFeatures();
    const dyn = join(this.root, 'dynamic_events');
    switch (kind) {
      case 'uprobe':
        if (f.uprobeEvents) return join(this.root, 'uprobe_events');
        throw new Error(`this kernel has no uprobe events (${this.root}/uprobe_events is missing: CONFIG_UPROBE_EVENTS)`);
      case 'kprobe':
        if (f.kprobeEvents) return join(this.root, 'kprobe_events');
        throw new Error(`this kernel has no kprobe events (${this.root}/kprobe_events is missing: CONFIG_KPROBE_EVENTS)`);
      case 'fprobe':
      case 'tprobe':
        if (f.dynamicEvents && (kind === 'fprobe' ? f.fprobeEvents : f.tprobeEvents)) return dyn;
        throw new Error(`this kernel has no ${kind} events (${this.root}/README does not list '${kind[0]}[:' definitions: CONFIG_FPROBE_EVENTS)`);
      case 'eprobe':
        if (f.dynamicEvents && f.eprobes) return dyn;
        throw new Error(`this kernel has no event probes (${this.root}/README does not list 'e[:' definitions: CONFIG_EPROBE_EVENTS)`);
    }
  }

  /**
   * Defines a dynamic event in this session's group and returns the system/name to enable. A rejected definition's
   * error carries the kernel's error_log entry (message and caret under the failing token).
   */
  defineProbe(def: ProbeDefinition): { system: string; event: string } {
    this.ensureOpen();
    const line = formatProbeDefinition(def, this.group);
    if (this.probes.some((p) => p.event === def.event)) throw new Error(`probe event ${this.group}/${def.event} is already defined`);
    const file = this.definitionFile(def.kind);
    const before = this.readErrorLog();
    try {
      writeControl(file, `${line}\n`, true);
    } catch (err) {
      const log = this.newErrors(before);
      throw new Error(`the kernel rejected the ${def.kind} definition '${line}' (${describe(err)})${log.length ? `\nkernel error_log:\n${log.join('\n')}` : ''}`);
    }
    this.probes.push({ event: def.event, kind: def.kind, line, file });
    return { system: this.group, event: def.event };
  }

  /** Removes one probe defined by this session (disabling it here first). */
  removeProbe(event: string): void {
    const idx = this.probes.findIndex((p) => p.event === event);
    if (idx < 0) throw new Error(`probe event ${this.group}/${event} was not defined by this session`);
    if (this.enabled.has(`${this.group}/${event}`)) this.disableEvent(this.group, event);
    writeControl(this.probes[idx].file, `-:${this.group}/${event}\n`, true);
    this.probes.splice(idx, 1);
  }

  /** Parsed `format` of an event, as seen from this instance. */
  eventFormat(system: string, event: string): EventFormat {
    this.eventDir(system, event);
    return readEventFormat(this.path, system, event, readHeaderPage(this.path).commitSize);
  }

  setTracing(on: boolean): void {
    writeControl(join(this.path, 'tracing_on'), on ? '1' : '0');
  }

  /** Opens the per-CPU binary stream of this instance. The instance closes it on close(). */
  openReader(options: Partial<Omit<EventReaderOptions, 'instancePath' | 'layout'>> = {}): EventReader {
    this.ensureOpen();
    const header = readHeaderPage(this.path);
    const bufferPages = Math.ceil((this.bufferSizeKb * 1024) / header.subbufSize);
    const reader = new EventReader({
      instancePath: this.path,
      layout: layoutFromHeaderPage(header),
      clockIsMonotonic: this.clock === 'mono',
      // One drain never reads more than a full buffer per CPU, so a flood cannot starve the event loop.
      maxPagesPerCpu: bufferPages,
      commonTypeOffset: this.commonTypeOffset(),
      ...options,
    });
    this.readers.add(reader);
    return reader;
  }

  /** common_type's offset from any event format (all events share the common fields). */
  private commonTypeOffset(): number {
    const eventsDir = join(this.path, 'events');
    for (const system of readdirSync(eventsDir)) {
      const sysDir = join(eventsDir, system);
      let entries: string[];
      try {
        entries = readdirSync(sysDir);
      } catch {
        continue;
      }
      for (const ev of entries) {
        const text = readText(join(sysDir, ev, 'format'));
        if (!text) continue;
        const field = parseEventFormat(text, system).commonFields.find((f) => f.name === 'common_type');
        if (field) return field.offset;
      }
    }
    return 0;
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Undoes everything in order: stop tracing, disable events, clear filters, close readers, remove probes, rmdir
   * the instance; EBUSY (a file still open somewhere) is retried for about two seconds, waiting asynchronously.
   * Throws after trying every step if something could not be removed.
   */
  async close(): Promise<void> {
    const { retry, failures } = this.teardownSteps();
    for (const step of retry) {
      for (let attempt = 0; ; attempt++) {
        const outcome = runStep(step, attempt);
        if (outcome === 'busy') { await sleep(BUSY_RETRY_MS); continue; }
        if (outcome) failures.push(outcome);
        break;
      }
    }
    this.finish(failures);
  }

  /** close() for process 'exit' handlers and crash paths: the same steps, sleeping synchronously on EBUSY. */
  closeSync(): void {
    const { retry, failures } = this.teardownSteps();
    for (const step of retry) {
      for (let attempt = 0; ; attempt++) {
        const outcome = runStep(step, attempt);
        if (outcome === 'busy') { sleepSync(BUSY_RETRY_MS); continue; }
        if (outcome) failures.push(outcome);
        break;
      }
    }
    this.finish(failures);
  }

  /**
   * Runs the immediate teardown steps (stop tracing, disable events, clear filters, close readers) and returns the
   * steps that may need retrying on EBUSY, in order: remove each probe, then rmdir the instance.
   */
  private teardownSteps(): { retry: Array<() => void>; failures: string[] } {
    const failures: string[] = [];
    if (this.state === 'closed') return { retry: [], failures };
    this.state = 'closing';
    exitHandlers?.delete(this);
    const attempt = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') failures.push(`${what}: ${describe(err)}`);
      }
    };
    attempt('tracing_on', () => writeControl(join(this.path, 'tracing_on'), '0'));
    for (const key of this.enabled) attempt(`disable ${key}`, () => writeControl(join(this.path, 'events', key, 'enable'), '0'));
    this.enabled.clear();
    for (const key of this.filtered) attempt(`clear filter ${key}`, () => writeControl(join(this.path, 'events', key, 'filter'), '0'));
    this.filtered.clear();
    for (const reader of this.readers) attempt('close reader', () => reader.close());
    this.readers.clear();
    const retry: Array<() => void> = [];
    for (const probe of [...this.probes].reverse()) {
      retry.push(() => {
        try {
          writeControl(probe.file, `-:${this.group}/${probe.event}\n`, true);
        } catch (err) {
          if (errnoOf(err) !== 'ENOENT') throw Object.assign(new Error(`remove probe ${this.group}/${probe.event}: ${describe(err)}`), { code: errnoOf(err) });
        }
        const idx = this.probes.indexOf(probe);
        if (idx >= 0) this.probes.splice(idx, 1);
      });
    }
    retry.push(() => {
      try {
        rmdirSync(this.path);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw Object.assign(new Error(`rmdir ${this.path}: ${describe(err)}`), { code: errnoOf(err) });
      }
    });
    return { retry, failures };
  }

  private finish(failures: string[]): void {
    this.state = 'closed';
    if (failures.length > 0) {
      throw new Error(`tracing instance ${this.name} was not fully removed: ${failures.join('; ')}`);
    }
  }
}

export interface StaleCleanupReport {
  /** Instances removed (names). */
  instances: string[];
  /** Dynamic events removed (`group/event`). */
  events: string[];
  /** What could not be removed, with the reason. */
  errors: string[];
}

/** Whether `pid` is a running (non-zombie) process. EPERM means it exists but belongs to someone else. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
  const stat = readText(`/proc/${pid}/stat`);
  const state = /\)\s+(\S)/.exec(stat)?.[1];
  return state !== 'Z' && state !== 'X';
}

/** Dynamic event listing lines (`p:GROUP/EVENT …`) → group/event pairs. */
export function parseDynamicEvents(text: string): Array<{ group: string; event: string; line: string }> {
  const out: Array<{ group: string; event: string; line: string }> = [];
  for (const line of text.split('\n')) {
    const m = /^[a-z]\d*:([^/\s]+)\/(\S+)/.exec(line);
    if (m) out.push({ group: m[1], event: m[2], line });
  }
  return out;
}

/**
 * Removes instances and probe groups named `tstap_<pid>_<nonce>` whose pid is no longer running (a run killed
 * with -9). Live runs' resources, including this process's, are never touched.
 */
export function cleanupStale(root: string): StaleCleanupReport {
  const report: StaleCleanupReport = { instances: [], events: [], errors: [] };
  const isStale = (name: string) => {
    const m = INSTANCE_NAME.exec(name);
    if (!m) return false;
    const pid = Number(m[1]);
    return pid !== process.pid && !isProcessAlive(pid);
  };
  const instancesDir = join(root, 'instances');
  let names: string[] = [];
  try {
    names = readdirSync(instancesDir);
  } catch {
    // No instances directory: nothing of ours can exist there.
  }
  for (const name of names.filter(isStale)) {
    const dir = join(instancesDir, name);
    try {
      // Disabling first lets the probes below be removed even if rmdir has to be retried.
      writeControl(join(dir, 'tracing_on'), '0');
      writeControl(join(dir, 'events', 'enable'), '0');
    } catch (err) {
      report.errors.push(`${name}: disable events: ${describe(err)}`);
    }
    let removed = false;
    for (let attempt = 0; attempt < 20 && !removed; attempt++) {
      try {
        rmdirSync(dir);
        removed = true;
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') { removed = true; break; }
        if (errnoOf(err) !== 'EBUSY' || attempt === 19) {
          report.errors.push(`${name}: rmdir: ${describe(err)}`);
          break;
        }
        sleepSync(50);
      }
    }
    if (removed) report.instances.push(name);
  }
  // Probe groups of dead runs (also when their instance was already gone).
  const listings = ['dynamic_events', 'uprobe_events', 'kprobe_events'].map((f) => join(root, f)).filter((f) => existsSync(f));
  const done = new Set<string>();
  for (const file of listings) {
    for (const { group, event } of parseDynamicEvents(readText(file))) {
      const key = `${group}/${event}`;
      if (done.has(key) || !isStale(group)) continue;
      done.add(key);
      try {
        writeControl(file, `-:${key}\n`, true);
        report.events.push(key);
      } catch (err) {
        report.errors.push(`${key}: remove: ${describe(err)} (still enabled in another instance?)`);
      }
    }
  }
  return report;
}
