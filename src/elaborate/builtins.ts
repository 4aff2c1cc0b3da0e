/**
 * The built-in function registry as the type checker sees it: name, parameter types, result
 * type. Implementations live in src/runtime/builtins.ts under the same names (a test checks
 * that every entry here has one). Functions that can be written in the language itself live
 * in tapsets/ instead.
 */
import type { Type } from '../parser/ast.js';

export interface BuiltinSignature {
  params: Type[];
  /** Trailing parameters that may be left out. */
  optional?: number;
  ret: Type;
  /** Needs the context of a kernel or user event (pid(), execname(), ...). */
  context?: boolean;
}

const L: Type = 'long';
const S: Type = 'string';
const V: Type = 'unknown';

export const BUILTINS: Record<string, BuiltinSignature> = {
  // control
  exit: { params: [], ret: V },
  error: { params: [S], ret: V },
  warn: { params: [S], ret: V },
  abort: { params: [], ret: V },
  system: { params: [S], ret: V },
  log: { params: [S], ret: V },
  // strings
  strlen: { params: [S], ret: L },
  substr: { params: [S, L, L], ret: S },
  isinstr: { params: [S, S], ret: L },
  strpos: { params: [S, S], ret: L },
  strtol: { params: [S, L], ret: L },
  str_replace: { params: [S, S, S], ret: S },
  tokenize: { params: [S, S], ret: S },
  text_str: { params: [S], ret: S },
  text_strn: { params: [S, L, L], ret: S },
  stringat: { params: [S, L], ret: L },
  string_quoted: { params: [S], ret: S },
  toupper: { params: [S], ret: S },
  tolower: { params: [S], ret: S },
  isdigit: { params: [S], ret: L },
  matched: { params: [L], ret: S },
  matched_str: { params: [], ret: S },
  ngroups: { params: [], ret: L },
  // numbers
  randint: { params: [L], ret: L },
  abs: { params: [L], ret: L },
  errno_str: { params: [L], ret: S },
  // time
  gettimeofday_s: { params: [], ret: L },
  gettimeofday_ms: { params: [], ret: L },
  gettimeofday_us: { params: [], ret: L },
  gettimeofday_ns: { params: [], ret: L },
  local_clock_s: { params: [], ret: L },
  local_clock_ms: { params: [], ret: L },
  local_clock_us: { params: [], ret: L },
  local_clock_ns: { params: [], ret: L },
  cpu_clock_s: { params: [L], ret: L },
  cpu_clock_ms: { params: [L], ret: L },
  cpu_clock_us: { params: [L], ret: L },
  cpu_clock_ns: { params: [L], ret: L },
  jiffies: { params: [], ret: L },
  HZ: { params: [], ret: L },
  get_cycles: { params: [], ret: L },
  ctime: { params: [L], optional: 1, ret: S },
  tz_ctime: { params: [L], ret: S },
  tz_gmtoff: { params: [], ret: L },
  tz_name: { params: [], ret: S },
  // context
  target: { params: [], ret: L },
  pid: { params: [], ret: L, context: true },
  tid: { params: [], ret: L, context: true },
  ppid: { params: [], ret: L, context: true },
  uid: { params: [], ret: L, context: true },
  euid: { params: [], ret: L, context: true },
  gid: { params: [], ret: L, context: true },
  egid: { params: [], ret: L, context: true },
  cpu: { params: [], ret: L, context: true },
  execname: { params: [], ret: S, context: true },
  pexecname: { params: [], ret: S, context: true },
  pp: { params: [], ret: S },
  pn: { params: [], ret: S },
  probefunc: { params: [], ret: S },
  ppfunc: { params: [], ret: S },
  is_return: { params: [], ret: L },
  num_online_cpus: { params: [], ret: L },
  stp_pid: { params: [], ret: L },
  // tasks: a task is named by its thread id (there are no kernel addresses to hand out)
  task_current: { params: [], ret: L, context: true },
  task_parent: { params: [L], ret: L },
  task_pid: { params: [L], ret: L },
  task_tid: { params: [L], ret: L },
  task_ppid: { params: [L], ret: L },
  task_execname: { params: [L], ret: S },
  task_uid: { params: [L], ret: L },
  task_euid: { params: [L], ret: L },
  task_gid: { params: [L], ret: L },
  task_egid: { params: [L], ret: L },
  task_state: { params: [L], ret: L },
  task_nice: { params: [L], ret: L },
  task_prio: { params: [L], ret: L },
  task_cpu: { params: [L], ret: L },
  pid2task: { params: [L], ret: L },
  pid2execname: { params: [L], ret: S },
  task_utime: { params: [], ret: L, context: true },
  task_stime: { params: [], ret: L, context: true },
  task_utime_tid: { params: [L], ret: L },
  task_stime_tid: { params: [L], ret: L },
  // the event's process, read from /proc when the event is handled
  cmdline_str: { params: [], ret: S, context: true },
  cmdline_arg: { params: [L], ret: S, context: true },
  cmdline_args: { params: [L, L, S], ret: S, context: true },
  // memory of a process in pages, from /proc/PID/statm: the event's process, or the one given
  ...Object.fromEntries(['size', 'rss', 'shr', 'txt', 'data'].flatMap((k): [string, BuiltinSignature][] => [
    [`proc_mem_${k}`, { params: [L], optional: 1, ret: L, context: true }], [`proc_mem_${k}_pid`, { params: [L], ret: L }]])),
  mem_page_size: { params: [], ret: L },
  // kernel symbols, from /proc/kallsyms
  symname: { params: [L], ret: S },
  symdata: { params: [L], ret: S },
  modname: { params: [L], ret: S },
  // user symbols, from the event's process's map and ELF symbols
  usymname: { params: [L], ret: S, context: true },
  usymdata: { params: [L], ret: S, context: true },
  umodname: { params: [L], ret: S, context: true },
  // kernel stacks, captured by the event's stacktrace trigger
  backtrace: { params: [], ret: S, context: true },
  print_backtrace: { params: [], ret: V, context: true },
  sprint_backtrace: { params: [], ret: S, context: true },
  print_stack: { params: [S], ret: V },
  sprint_stack: { params: [S], ret: S },
  // stap's names for the same list of addresses, printed one symbol per line
  print_syms: { params: [S], ret: V },
  sprint_syms: { params: [S], ret: S },
  ubacktrace: { params: [], ret: S, context: true },
  print_ubacktrace: { params: [], ret: V, context: true },
  sprint_ubacktrace: { params: [], ret: S, context: true },
  // networking
  ip_ntop: { params: [L], ret: S },
  format_ipaddr: { params: [L, L], ret: S },
  // devices
  bdevname_devt: { params: [L], ret: S },
  // memory reads of dynamic probes (values fetched in the kernel at the hit)
  kernel_string: { params: [L], ret: S },
  user_string: { params: [L], ret: S },
  user_string_n: { params: [L, L], ret: S },
  user_string2: { params: [L, S], ret: S },
  ...Object.fromEntries(['char', 'short', 'ushort', 'int', 'uint', 'long', 'ulong', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64']
    .map((t): [string, BuiltinSignature] => [`user_${t}`, { params: [L], ret: L, context: true }])),
  kernel_string_n: { params: [L, L], ret: S },
  addr: { params: [], ret: L, context: true },
  uaddr: { params: [], ret: L, context: true },
  user_mode: { params: [], ret: L, context: true },
  print_regs: { params: [], ret: V, context: true },
  register: { params: [S], ret: L, context: true },
  u_register: { params: [S], ret: L, context: true },
};

export function builtinSignature(name: string): BuiltinSignature | undefined {
  return Object.prototype.hasOwnProperty.call(BUILTINS, name) ? BUILTINS[name] : undefined;
}
