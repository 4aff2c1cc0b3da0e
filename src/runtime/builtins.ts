/**
 * Implementations of the built-in functions whose signatures src/elaborate/builtins.ts lists.
 * Each takes the handler context first, then the script's arguments, and returns a stap value.
 */
import { cpus } from 'node:os';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { StapError } from './errors.js';
import * as L from './long.js';
import { truncate } from './format.js';
import type { Context } from './context.js';
import type { Long } from './long.js';
import { ERRNO_NAMES } from './errno.js';
import { Kallsyms } from '../symbols/kallsyms.js';
import { readElf, type ElfFile } from '../symbols/elf.js';

/** What the builtins need from the runtime. */
export interface BuiltinHost {
  /** End the run; events stamped after `at` are not handled. */
  requestExit(at?: bigint): void;
  abort(): void;
  warn(msg: string): void;
  write(s: string): void;
  queueSystem(cmd: string): void;
  targetPid(): number;
  commOf(c: Context): string;
  ppidOf(c: Context): number;
  uidOf(c: Context): number;
  lastMatch(): RegExpExecArray | null;
  /** Nanoseconds to add to the monotonic clock to get wall-clock time. */
  realtimeOffsetNs: bigint;
  hz: number;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad(n: number, w: number, c = '0'): string {
  return String(n).padStart(w, c);
}

/** asctime layout: `Thu Jan  1 00:00:00 1970`. */
function asctime(d: Date, utc: boolean): string {
  const get = (u: () => number, l: () => number) => (utc ? u() : l());
  const day = DAYS[get(() => d.getUTCDay(), () => d.getDay())]!;
  const mon = MONTHS[get(() => d.getUTCMonth(), () => d.getMonth())]!;
  return `${day} ${mon} ${pad(get(() => d.getUTCDate(), () => d.getDate()), 2, ' ')} ` +
    `${pad(get(() => d.getUTCHours(), () => d.getHours()), 2)}:${pad(get(() => d.getUTCMinutes(), () => d.getMinutes()), 2)}:` +
    `${pad(get(() => d.getUTCSeconds(), () => d.getSeconds()), 2)} ${get(() => d.getUTCFullYear(), () => d.getFullYear())}`;
}

function num(v: Long): number {
  return typeof v === 'number' ? v : Number(v);
}

/** C-style escapes for text_str: printable ASCII stays, the rest becomes \n, \t, \ooo. */
function textEscape(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 0x0a) out += '\\n';
    else if (ch === 0x09) out += '\\t';
    else if (ch === 0x0d) out += '\\r';
    else if (ch === 0x0b) out += '\\v';
    else if (ch === 0x0c) out += '\\f';
    else if (ch === 0x08) out += '\\b';
    else if (ch === 0x07) out += '\\a';
    else if (ch === 0x22) out += '\\"';
    else if (ch === 0x27) out += "\\'";
    else if (ch === 0x5c) out += '\\\\';
    else if (ch < 0x20 || ch >= 0x7f) out += '\\' + ch.toString(8).padStart(3, '0');
    else out += s[i];
  }
  return out;
}

/** A field of /proc/TID/status (the `index`th number on its line), or undefined when the task is gone. */
function taskStatus(tid: number, field: string, index = 0): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${tid}/status`, 'latin1'));
    const v = m?.[1]?.trim().split(/\s+/)[index];
    return v === undefined ? undefined : Number(v);
  } catch {
    return undefined;
  }
}

/** The fields of /proc/TID/stat after the command name: [0] is the state letter. */
function taskStat(tid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${tid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2).trim().split(' ');
  } catch {
    return undefined;
  }
}

/** Linux task state bits for the /proc state letters. */
const TASK_STATES: Record<string, number> = { R: 0, S: 1, D: 2, T: 4, t: 8, X: 16, Z: 32, P: 64, I: 1026 };

/** An IPv4 address as the kernel stores it (network order, read as a little-endian number). */
function ipv4(addr: Long): string {
  const v = Number(L.toUnsigned64(addr) & 0xffffffffn);
  return `${v & 255}.${(v >>> 8) & 255}.${(v >>> 16) & 255}.${(v >>> 24) & 255}`;
}

let kallsyms: Kallsyms | null | undefined;

function loadKallsyms(): Kallsyms | null {
  if (kallsyms === undefined) {
    try { kallsyms = Kallsyms.load(); } catch { kallsyms = null; }
  }
  return kallsyms;
}

/** The kernel symbol holding `addr` (undefined where /proc/kallsyms hides addresses). */
function kernelSymbol(addr: bigint): { name: string; module: string | undefined } | undefined {
  try {
    const syms = loadKallsyms();
    return syms?.addressesAvailable ? syms.symbolize(addr)?.symbol : undefined;
  } catch {
    return undefined;
  }
}

/** The x86-64 entry of the timer interrupt: in a timer.profile sample's stack, what it interrupted comes after it. */
const TIMER_INTERRUPT_ENTRY = 'asm_sysvec_apic_timer_interrupt';

/**
 * The kernel stack of the event, or for a timer.profile sample the stack of what the tick
 * interrupted (empty when that was user mode: the unwinder stops at the interrupt entry).
 */
function eventStack(c: Context): readonly bigint[] {
  const stack = c.stack ?? [];
  if (c.probe.pp !== 'timer.profile') return stack;
  // user_mode() and addr() often both ask: symbolise the sample's frames once.
  let interrupted = interruptedStacks.get(c);
  if (!interrupted) {
    const entry = stack.findIndex(a => kernelSymbol(a)?.name === TIMER_INTERRUPT_ENTRY);
    interrupted = entry < 0 ? stack : stack.slice(entry + 1);
    interruptedStacks.set(c, interrupted);
  }
  return interrupted;
}

const interruptedStacks = new WeakMap<Context, readonly bigint[]>();

/** ` 0xffffffff811d1dd0 : vfs_read+0x0/0x180 [kernel]` lines, as stap's print_stack prints them. */
function symbolizeStack(addrs: readonly bigint[]): string {
  loadKallsyms();
  let out = '';
  for (const a of addrs) {
    let sym = '';
    try { sym = kallsyms?.addressesAvailable ? kallsyms.format(a) : ''; } catch { sym = ''; }
    if (sym && !sym.includes('[')) sym += ' [kernel]';
    out += ` 0x${a.toString(16).padStart(16, '0')} : ${sym || '0x' + a.toString(16)}\n`;
  }
  return out;
}

const elfs = new Map<string, ElfFile | null>();

/**
 * User frames as ` 0x00007f2b1c0a1e30 : malloc+0x20/0x2a0 [/usr/lib/x86_64-linux-gnu/libc.so.6]`,
 * through the process's memory map and the ELF symbols of each mapped file; a process that is
 * already gone leaves the bare addresses.
 */
function symbolizeUserStack(pid: number, addrs: readonly bigint[]): string {
  let out = '';
  for (const a of addrs) {
    out += ` 0x${a.toString(16).padStart(16, '0')} : ${formatUserSymbol(userSymbol(pid, a), a)}\n`;
  }
  return out;
}

interface UserMapping { start: bigint; end: bigint; offset: bigint; path: string }

/** The file mappings of a process ([] once it is gone). */
function readUserMaps(pid: number): UserMapping[] {
  try {
    return readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n').flatMap(line => {
      const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(\/.*)$/.exec(line);
      return m ? [{ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), offset: BigInt('0x' + m[3]), path: m[4]! }] : [];
    });
  } catch {
    return [];
  }
}

/**
 * Mappings last read per process, so that samples handled just after a process exited still
 * resolve; an address they do not cover reads the map again.
 */
const userMapsCache = new Map<number, UserMapping[]>();
const USER_MAPS_KEPT = 64;

function userMapping(pid: number, a: bigint): UserMapping | undefined {
  const covers = (m: UserMapping) => a >= m.start && a < m.end;
  const known = userMapsCache.get(pid)?.find(covers);
  if (known) return known;
  const fresh = readUserMaps(pid);
  if (fresh.length === 0) return undefined;
  userMapsCache.delete(pid);
  userMapsCache.set(pid, fresh);
  if (userMapsCache.size > USER_MAPS_KEPT) userMapsCache.delete(userMapsCache.keys().next().value as number);
  return fresh.find(covers);
}

/** `malloc+0x20/0x2a0 [/usr/lib/.../libc.so.6]`, `[/path]` without a symbol, the bare address without a mapping. */
function formatUserSymbol(s: ReturnType<typeof userSymbol>, a: bigint): string {
  if (!s) return `0x${a.toString(16)}`;
  return s.name !== undefined ? `${s.name}+0x${s.offset!.toString(16)}/0x${s.size!.toString(16)} [${s.path}]` : `[${s.path}]`;
}

/** The mapped file holding a user address and, where its ELF symbols say, the function and the offset into it. */
function userSymbol(pid: number, a: bigint): { path: string; name?: string; offset?: bigint; size?: bigint } | undefined {
  const map = userMapping(pid, a);
  if (!map) return undefined;
  let elf = elfs.get(map.path);
  if (elf === undefined) {
    try { elf = readElf(map.path); } catch { elf = null; }
    elfs.set(map.path, elf);
  }
  try {
    const vaddr = elf?.fileOffsetToVaddr(Number(a - map.start + map.offset));
    const s = vaddr === undefined ? undefined : elf!.functionContaining(vaddr);
    if (s && vaddr !== undefined) return { path: map.path, name: s.name, offset: BigInt(vaddr - s.value), size: BigInt(s.size) };
  } catch { /* an unreadable ELF: the file is still known */ }
  return { path: map.path };
}

function stackAddresses(hex: string): bigint[] {
  return hex.split(/\s+/).filter(Boolean).map(h => { try { return BigInt(h); } catch { return 0n; } }).filter(a => a !== 0n);
}

/** Open /proc/PID/mem descriptors, most recently used last: events come in runs from one process. */
const memFds = new Map<number, number>();
const MEM_FDS_KEPT = 16;
const stringBuf = Buffer.alloc(512);

function memFd(pid: number): number | undefined {
  let fd = memFds.get(pid);
  if (fd !== undefined) {
    memFds.delete(pid);
    memFds.set(pid, fd);
    return fd;
  }
  try { fd = openSync(`/proc/${pid}/mem`, 'r'); } catch { return undefined; }
  memFds.set(pid, fd);
  if (memFds.size > MEM_FDS_KEPT) {
    const [oldPid, oldFd] = memFds.entries().next().value as [number, number];
    memFds.delete(oldPid);
    closeSync(oldFd);
  }
  return fd;
}

/** A NUL-terminated string of process `pid` at `addr`, or undefined when it cannot be read. */
function tryReadUserString(pid: number, addr: Long, max: number): string | undefined {
  const fd = memFd(pid);
  if (fd === undefined) return undefined;
  try {
    const n = readSync(fd, stringBuf, 0, max, L.toUnsigned64(addr));
    const end = stringBuf.indexOf(0);
    return stringBuf.toString('latin1', 0, end >= 0 && end < n ? end : n);
  } catch {
    // The process is gone (or the address unmapped): forget its descriptor.
    memFds.delete(pid);
    try { closeSync(fd); } catch { /* already closed */ }
    return undefined;
  }
}

/** `size` bytes of process `pid` at `addr` as a little-endian integer, or undefined when they cannot be read. */
function tryReadUserInteger(pid: number, addr: Long, size: number, signed: boolean): bigint | undefined {
  const fd = memFd(pid);
  if (fd === undefined) return undefined;
  try {
    if (readSync(fd, stringBuf, 0, size, L.toUnsigned64(addr)) !== size) return undefined;
  } catch {
    return undefined;
  }
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(stringBuf[i]!);
  return signed ? BigInt.asIntN(size * 8, v) : v;
}

/** user_int(addr) and friends: C integers of the event's process, read when the event is handled. */
const USER_INTEGERS: Record<string, [size: number, signed: boolean]> = {
  user_char: [1, true], user_int8: [1, true], user_uint8: [1, false], user_short: [2, true], user_int16: [2, true],
  user_ushort: [2, false], user_uint16: [2, false], user_int: [4, true], user_int32: [4, true], user_uint: [4, false],
  user_uint32: [4, false], user_long: [8, true], user_int64: [8, true], user_ulong: [8, false], user_uint64: [8, false],
};

function userIntegerReaders(): Record<string, (c: Context, addr: Long) => Long> {
  return Object.fromEntries(Object.entries(USER_INTEGERS).map(([name, [size, signed]]) => [name, (c: Context, addr: Long): Long => {
    const v = tryReadUserInteger(c.pid, addr, size, signed);
    if (v === undefined) throw new StapError(`${name}: read fault at 0x${L.toUnsigned64(addr).toString(16)} [man error::fault]`);
    return L.fromBigInt(v);
  }]));
}

/** /proc/PID/statm in pages: size, rss, shared, text, lib (unused since 2.6), data; zeros once the process is gone. */
function statm(pid: number): bigint[] {
  try {
    return readFileSync(`/proc/${pid}/statm`, 'latin1').trim().split(/\s+/).map((v) => BigInt(v));
  } catch {
    return [0n, 0n, 0n, 0n, 0n, 0n, 0n];
  }
}

const STATM_FIELDS: Record<string, number> = { size: 0, rss: 1, shr: 2, txt: 3, data: 5 };

/** proc_mem_size([pid]) and friends, and the proc_mem_size_pid(pid) spellings. */
function procMemReaders(): Record<string, (c: Context, pid?: Long) => Long> {
  const out: Record<string, (c: Context, pid?: Long) => Long> = {};
  for (const [k, i] of Object.entries(STATM_FIELDS)) {
    out[`proc_mem_${k}`] = (c: Context, pid?: Long): Long => L.fromBigInt(statm(pid === undefined ? c.pid : num(pid))[i] ?? 0n);
    out[`proc_mem_${k}_pid`] = (_c: Context, pid?: Long): Long => L.fromBigInt(statm(num(pid ?? 0))[i] ?? 0n);
  }
  return out;
}

/** The command line of process `pid`, its arguments as /proc has them ([] once it is gone). */
function cmdline(pid: number): string[] {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    return raw.split('\0').slice(0, raw.endsWith('\0') ? -1 : undefined);
  } catch {
    return [];
  }
}

/** utime or stime of a task in nanoseconds (stap's cputime on Linux 4.11 and later), from /proc at USER_HZ 100. */
function taskCpuTime(tid: number, which: 'utime' | 'stime'): Long {
  const ticks = Number(taskStat(tid)?.[which === 'utime' ? 11 : 12] ?? 0);
  return L.fromBigInt(BigInt(ticks) * 10_000_000n);
}

function readUserString(pid: number, addr: Long, max: number): string {
  const s = tryReadUserString(pid, addr, max);
  if (s === undefined) throw new StapError(`user string copy fault -14 at 0x${L.toUnsigned64(addr).toString(16)} [man error::fault]`);
  return s;
}

export function makeBuiltins(host: BuiltinHost) {
  const devNames = new Map<string, string>();
  let tokenizeRest = '';
  const mono = (c: Context) => c.ts;
  const real = (c: Context) => c.ts + host.realtimeOffsetNs;
  const div = (v: bigint, d: bigint): Long => L.fromBigInt(v / d);
  const printStack = (_c: Context, stk: string) => { host.write(symbolizeStack(stackAddresses(stk))); return 0; };
  const sprintStack = (_c: Context, stk: string): string => truncate(symbolizeStack(stackAddresses(stk)));
  return {
    exit: (c: Context) => { host.requestExit(c.ts); return 0; },
    error: (_c: Context, msg: string) => { throw new StapError(msg); },
    warn: (_c: Context, msg: string) => { host.warn(msg); return 0; },
    abort: (_c: Context) => { host.abort(); return 0; },
    system: (_c: Context, cmd: string) => { host.queueSystem(cmd); return 0; },
    log: (_c: Context, msg: string) => { host.write(msg + '\n'); return 0; },

    strlen: (_c: Context, s: string): Long => s.length,
    substr: (_c: Context, s: string, start: Long, len: Long): string => {
      const st = num(start);
      const n = num(len);
      if (st < 0 || n < 0 || st >= s.length) return '';
      return s.substr(st, n);
    },
    isinstr: (_c: Context, s1: string, s2: string): Long => (s1.includes(s2) ? 1 : 0),
    strpos: (_c: Context, s1: string, s2: string): Long => s1.indexOf(s2),
    strtol: (_c: Context, s: string, base: Long): Long => {
      const b = num(base);
      const m = /^\s*([+-]?)(0[xX])?([0-9a-zA-Z]*)/.exec(s)!;
      let radix = b;
      let digits = m[3]!;
      if ((b === 16 || b === 0) && m[2]) radix = 16;
      else if (b === 0) radix = digits.startsWith('0') && digits.length > 1 ? 8 : 10;
      let v = 0n;
      for (const ch of digits) {
        const d = parseInt(ch, 36);
        if (Number.isNaN(d) || d >= radix) break;
        v = v * BigInt(radix) + BigInt(d);
      }
      if (m[1] === '-') v = -v;
      digits = '';
      return L.fromBigInt(BigInt.asIntN(64, v));
    },
    str_replace: (_c: Context, s: string, from: string, to: string): string => (from ? truncate(s.split(from).join(to)) : s),
    tokenize: (_c: Context, s: string, delim: string): string => {
      if (s !== '') tokenizeRest = s;
      while (tokenizeRest.length && delim.includes(tokenizeRest[0]!)) tokenizeRest = tokenizeRest.slice(1);
      let i = 0;
      while (i < tokenizeRest.length && !delim.includes(tokenizeRest[i]!)) i++;
      const tok = tokenizeRest.slice(0, i);
      tokenizeRest = tokenizeRest.slice(i + (i < tokenizeRest.length ? 1 : 0));
      return tok;
    },
    text_str: (_c: Context, s: string): string => truncate(textEscape(s)),
    text_strn: (_c: Context, s: string, len: Long, quoted: Long): string => {
      const n = num(len);
      let t = textEscape(n > 0 ? s.slice(0, n) : s);
      if (num(quoted)) t = `"${t}"${n > 0 && s.length > n ? '...' : ''}`;
      return truncate(t);
    },
    stringat: (_c: Context, s: string, pos: Long): Long => {
      const p = num(pos);
      if (p < 0 || p >= s.length) throw new StapError('string index out of range');
      return s.charCodeAt(p);
    },
    string_quoted: (_c: Context, s: string): string => truncate(`"${textEscape(s)}"`),
    toupper: (_c: Context, s: string): string => s.toUpperCase(),
    tolower: (_c: Context, s: string): string => s.toLowerCase(),
    isdigit: (_c: Context, s: string): Long => (s.length > 0 && s[0]! >= '0' && s[0]! <= '9' ? 1 : 0),
    matched: (_c: Context, n: Long): string => {
      const m = host.lastMatch();
      const i = num(n);
      if (!m || i < 0 || i >= m.length) throw new StapError(`There is no match ${i}`);
      return m[i] ?? '';
    },
    matched_str: (_c: Context): string => host.lastMatch()?.[0] ?? '',
    ngroups: (_c: Context): Long => { const m = host.lastMatch(); return m ? m.length : 0; },

    randint: (_c: Context, n: Long): Long => {
      const lim = num(n);
      if (lim <= 0 || lim > 0xffffffff) throw new StapError('randint: invalid range');
      return Math.floor(Math.random() * lim);
    },
    abs: (_c: Context, v: Long): Long => (L.lt(v, 0) ? L.neg(v) : v),
    errno_str: (_c: Context, e: Long): string => {
      const n = Math.abs(num(e));
      return ERRNO_NAMES[n] ?? `${n}`;
    },

    gettimeofday_s: (c: Context): Long => div(real(c), 1_000_000_000n),
    gettimeofday_ms: (c: Context): Long => div(real(c), 1_000_000n),
    gettimeofday_us: (c: Context): Long => div(real(c), 1_000n),
    gettimeofday_ns: (c: Context): Long => L.fromBigInt(real(c)),
    local_clock_s: (c: Context): Long => div(mono(c), 1_000_000_000n),
    local_clock_ms: (c: Context): Long => div(mono(c), 1_000_000n),
    local_clock_us: (c: Context): Long => div(mono(c), 1_000n),
    local_clock_ns: (c: Context): Long => L.fromBigInt(mono(c)),
    cpu_clock_s: (c: Context, _cpu: Long): Long => div(mono(c), 1_000_000_000n),
    cpu_clock_ms: (c: Context, _cpu: Long): Long => div(mono(c), 1_000_000n),
    cpu_clock_us: (c: Context, _cpu: Long): Long => div(mono(c), 1_000n),
    cpu_clock_ns: (c: Context, _cpu: Long): Long => L.fromBigInt(mono(c)),
    jiffies: (c: Context): Long => div(mono(c) * BigInt(host.hz), 1_000_000_000n),
    HZ: (_c: Context): Long => host.hz,
    get_cycles: (_c: Context): Long => L.fromBigInt(process.hrtime.bigint()),
    ctime: (c: Context, secs?: Long): string => {
      const s = secs === undefined ? Number(real(c) / 1_000_000_000n) : num(secs);
      const d = new Date(s * 1000);
      if (Number.isNaN(d.getTime())) return '<invalid time>';
      return asctime(d, true);
    },
    tz_ctime: (_c: Context, secs: Long): string => {
      const d = new Date(num(secs) * 1000);
      const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find(p => p.type === 'timeZoneName')?.value ?? '';
      return `${asctime(d, false)} ${zone}`;
    },
    tz_gmtoff: (_c: Context): Long => new Date().getTimezoneOffset() * 60,
    tz_name: (_c: Context): string => new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(new Date()).find(p => p.type === 'timeZoneName')?.value ?? '',

    target: (_c: Context): Long => host.targetPid(),
    pid: (c: Context): Long => c.pid,
    tid: (c: Context): Long => c.tid,
    ppid: (c: Context): Long => host.ppidOf(c),
    uid: (c: Context): Long => host.uidOf(c),
    euid: (c: Context): Long => host.uidOf(c),
    gid: (_c: Context): Long => process.getgid?.() ?? 0,
    egid: (_c: Context): Long => process.getegid?.() ?? 0,
    cpu: (c: Context): Long => c.cpu,
    execname: (c: Context): string => host.commOf(c),
    pexecname: (c: Context): string => host.commOf({ ...c, pid: host.ppidOf(c), tid: host.ppidOf(c), comm: undefined }),
    pp: (c: Context): string => c.probe.pp,
    pn: (c: Context): string => c.probe.pp,
    probefunc: (c: Context): string => /function\("([^"@]*)/.exec(c.probe.pp)?.[1] ?? '',
    ppfunc: (c: Context): string => /function\("([^"@]*)/.exec(c.probe.pp)?.[1] ?? '',
    is_return: (c: Context): Long => (/\.return$/.test(c.probe.pp) ? 1 : 0),
    num_online_cpus: (_c: Context): Long => cpus().length,
    stp_pid: (_c: Context): Long => process.pid,

    task_current: (c: Context): Long => c.tid,
    task_parent: (c: Context, t: Long): Long => taskStatus(num(t), 'PPid') ?? host.ppidOf({ ...c, pid: num(t), tid: num(t), comm: undefined }),
    task_pid: (c: Context, t: Long): Long => (num(t) === c.tid ? c.pid : taskStatus(num(t), 'Tgid') ?? num(t)),
    task_tid: (_c: Context, t: Long): Long => t,
    task_ppid: (c: Context, t: Long): Long => {
      const tgid = num(t) === c.tid ? c.pid : taskStatus(num(t), 'Tgid') ?? num(t);
      return host.ppidOf({ ...c, pid: tgid, tid: tgid, comm: undefined });
    },
    task_execname: (c: Context, t: Long): string => (num(t) === c.tid ? host.commOf(c) : host.commOf({ ...c, pid: num(t), tid: num(t), comm: undefined })),
    task_uid: (_c: Context, t: Long): Long => taskStatus(num(t), 'Uid') ?? 0,
    task_euid: (_c: Context, t: Long): Long => taskStatus(num(t), 'Uid', 1) ?? 0,
    task_gid: (_c: Context, t: Long): Long => taskStatus(num(t), 'Gid') ?? 0,
    task_egid: (_c: Context, t: Long): Long => taskStatus(num(t), 'Gid', 1) ?? 0,
    task_state: (_c: Context, t: Long): Long => TASK_STATES[taskStat(num(t))?.[0] ?? ''] ?? 0,
    task_nice: (_c: Context, t: Long): Long => Number(taskStat(num(t))?.[16] ?? 0),
    task_prio: (_c: Context, t: Long): Long => Number(taskStat(num(t))?.[15] ?? 0),
    task_cpu: (_c: Context, t: Long): Long => Number(taskStat(num(t))?.[36] ?? 0),
    pid2task: (_c: Context, pid: Long): Long => pid,
    pid2execname: (c: Context, pid: Long): string => host.commOf({ ...c, pid: num(pid), tid: num(pid), comm: undefined }),
    backtrace: (c: Context): string => truncate(eventStack(c).map(a => `0x${a.toString(16)}`).join(' ')),
    print_backtrace: (c: Context) => { host.write(symbolizeStack(eventStack(c))); return 0; },
    sprint_backtrace: (c: Context): string => truncate(symbolizeStack(eventStack(c))),
    ubacktrace: (c: Context): string => truncate((c.ustack ?? []).map(a => `0x${a.toString(16)}`).join(' ')),
    print_ubacktrace: (c: Context) => { host.write(symbolizeUserStack(c.pid, c.ustack ?? [])); return 0; },
    sprint_ubacktrace: (c: Context): string => truncate(symbolizeUserStack(c.pid, c.ustack ?? [])),
    print_stack: printStack,
    sprint_stack: sprintStack,
    // stap's other names for the same: one symbol per line for a list of addresses
    print_syms: printStack,
    sprint_syms: sprintStack,
    ip_ntop: (_c: Context, addr: Long): string => ipv4(addr),
    format_ipaddr: (_c: Context, addr: Long, family: Long): string => (num(family) === 2 ? ipv4(addr) : `0x${L.toUnsigned64(addr).toString(16)}`),
    bdevname_devt: (_c: Context, dev: Long): string => {
      // The kernel's dev_t is major << 20 | minor; sysfs knows the disk's name.
      const d = num(dev);
      const key = `${Math.floor(d / 1048576)}:${d % 1048576}`;
      let name = devNames.get(key);
      if (name === undefined) {
        try { name = /^DEVNAME=(.*)$/m.exec(readFileSync(`/sys/dev/block/${key}/uevent`, 'latin1'))?.[1] ?? key; } catch { name = key; }
        devNames.set(key, name);
      }
      return name;
    },
    kernel_string: (_c: Context, addr: Long): string => { throw new StapError(`kernel_string: cannot read kernel memory at 0x${L.toUnsigned64(addr).toString(16)} after the event; only values fetched by the probe are available`); },
    // Without a kernel-side fetch, user memory is read from /proc/PID/mem as soon as the event
    // is handled: right for memory the process does not change meanwhile (paths, argv).
    user_string: (c: Context, addr: Long): string => readUserString(c.pid, addr, 511),
    user_string_n: (c: Context, addr: Long, n: Long): string => readUserString(c.pid, addr, Math.max(0, Math.min(num(n), 511))),
    user_string2: (c: Context, addr: Long, err: string): string => tryReadUserString(c.pid, addr, 511) ?? err,
    kernel_string_n: (_c: Context, addr: Long, _n: Long): string => { throw new StapError(`kernel_string_n: cannot read kernel memory at 0x${L.toUnsigned64(addr).toString(16)} after the event`); },
    // A timer.profile sample's address is the interrupted kernel instruction (0 when it interrupted user mode).
    addr: (c: Context): Long => {
      if (c.probe.pp !== 'timer.profile') throw new StapError('addr() is only available in kprobe, uprobe and timer.profile handlers');
      return L.fromBigInt(BigInt.asIntN(64, eventStack(c)[0] ?? 0n));
    },
    user_mode: (c: Context): Long => (c.probe.pp === 'timer.profile' ? (eventStack(c).length === 0 ? 1 : 0) : c.probe.pp.startsWith('process') ? 1 : 0),
    // A timer.profile sample that interrupted user mode: the user instruction, first in the user stack.
    uaddr: (c: Context): Long => {
      if (c.probe.pp !== 'timer.profile') throw new StapError('uaddr() is only available in uprobe and timer.profile handlers');
      return eventStack(c).length === 0 ? L.fromBigInt(BigInt.asIntN(64, c.ustack?.[0] ?? 0n)) : 0;
    },
    usymname: (c: Context, addr: Long): string => userSymbol(c.pid, L.toUnsigned64(addr))?.name ?? `0x${L.toUnsigned64(addr).toString(16)}`,
    usymdata: (c: Context, addr: Long): string => formatUserSymbol(userSymbol(c.pid, L.toUnsigned64(addr)), L.toUnsigned64(addr)),
    umodname: (c: Context, addr: Long): string => {
      const s = userSymbol(c.pid, L.toUnsigned64(addr));
      if (!s) throw new StapError(`umodname: 0x${L.toUnsigned64(addr).toString(16)} is in no file mapped by process ${c.pid}`);
      return s.path;
    },
    register: (_c: Context, name: string): Long => { throw new StapError(`register("${name}") is only available in kprobe and uprobe handlers`); },
    u_register: (_c: Context, name: string): Long => { throw new StapError(`u_register("${name}") is only available in uprobe handlers`); },
    print_regs: (): Long => { throw new StapError('print_regs() is only available in kprobe and uprobe handlers'); },
    ...userIntegerReaders(),
    ...procMemReaders(),
    mem_page_size: (): Long => 4096,
    cmdline_str: (c: Context): string => truncate(cmdline(c.pid).join(' ')),
    cmdline_arg: (c: Context, n: Long): string => cmdline(c.pid)[num(n)] ?? '',
    cmdline_args: (c: Context, from: Long, to: Long, delim: string): string =>
      truncate(cmdline(c.pid).slice(num(from), num(to) < 0 ? undefined : num(to) + 1).join(delim)),
    modname: (_c: Context, addr: Long): string => {
      const sym = kernelSymbol(L.toUnsigned64(addr));
      if (!sym) throw new StapError(`modname: no kernel symbol at 0x${L.toUnsigned64(addr).toString(16)}`);
      return sym.module ?? 'kernel';
    },
    symname: (_c: Context, addr: Long): string => kernelSymbol(L.toUnsigned64(addr))?.name ?? `0x${L.toUnsigned64(addr).toString(16)}`,
    symdata: (_c: Context, addr: Long): string => {
      const a = L.toUnsigned64(addr);
      const sym = kernelSymbol(a) && kallsyms?.format(a);
      return sym ? (sym.includes('[') ? sym : `${sym} [kernel]`) : `0x${a.toString(16)}`;
    },
    task_utime: (c: Context): Long => taskCpuTime(c.tid, 'utime'),
    task_stime: (c: Context): Long => taskCpuTime(c.tid, 'stime'),
    task_utime_tid: (_c: Context, t: Long): Long => taskCpuTime(num(t), 'utime'),
    task_stime_tid: (_c: Context, t: Long): Long => taskCpuTime(num(t), 'stime'),
  };
}

export type Builtins = ReturnType<typeof makeBuiltins>;
