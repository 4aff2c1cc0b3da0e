/**
 * Kernel tracing feature discovery: what this kernel's tracefs supports, read from its own `README` syntax summary
 * and from the files that exist — never from the kernel version, which backports and configs make meaningless.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Features whose only evidence is the README syntax summary (kernel/trace/trace.c readme_msg). */
export interface ReadmeFeatures {
  /** `f[:…]` fprobe definitions in dynamic_events (6.5+). */
  fprobeEvents: boolean;
  /** `t[:…]` tracepoint probe definitions (6.5+). */
  tprobeEvents: boolean;
  /** `e[:…]` event probes on existing events (5.15+). */
  eprobes: boolean;
  /** `s:` synthetic event definitions mentioned in README (hist-trigger builds). */
  syntheticEventsSyntax: boolean;
  /** BTF function arguments by name (`<argname>` in the fetcharg list; CONFIG_PROBE_EVENTS_BTF_ARGS). */
  btfArgs: boolean;
  /** BTF struct member access `<argname>->field` (`<argname>[->field` in README). */
  btfMemberAccess: boolean;
  /** `$arg<N>` fetch args at function entry (CONFIG_HAVE_FUNCTION_ARG_ACCESS_API). */
  argN: boolean;
  /** kretprobe/fexit may fetch `$arg<N>` as well as `$retval` ("kernel return probes support: $retval, $arg<N>"). */
  kretprobeArgs: boolean;
  /** `$comm` fetch arg. */
  commFetch: boolean;
  /** `$current` fetch arg (task_struct pointer). */
  currentFetch: boolean;
  /** `ustring` type: NUL-terminated user-space string. */
  ustring: boolean;
  /** `symstr` type: "sym+off/size" as a string. */
  symstr: boolean;
  /** `b<width>@<offset>/<container>` bitfield type. */
  bitfieldType: boolean;
  /** `<type>[<N>]` array types. */
  arrayType: boolean;
  /** `%pd`/`%pD` dentry/file name types. */
  dentryNameType: boolean;
  /** `+u<offset>(…)` user-memory dereference. */
  userDeref: boolean;
  /** `%return` suffix for return probes on p/f definitions (5.10+). */
  returnSuffix: boolean;
  /** `(ref_ctr_offset)` after a uprobe place: USDT semaphores (`place (uprobe): …[(ref_ctr_offset)]`). */
  refCtrOffset: boolean;
  /** `r[maxactive]` on kretprobes. */
  maxactive: boolean;
  /** Event hist triggers (`hist:keys=…` in the trigger help). */
  histTriggers: boolean;
  /** Event triggers (`trigger` file help for events/<system>/<event>/). */
  eventTriggers: boolean;
}

export interface KernelFeatures extends ReadmeFeatures {
  /** The tracefs root these features were read from. */
  root: string;
  /** `kprobe_events` exists (CONFIG_KPROBE_EVENTS). */
  kprobeEvents: boolean;
  /** `uprobe_events` exists (CONFIG_UPROBE_EVENTS). */
  uprobeEvents: boolean;
  /** `dynamic_events` exists (5.0+): one file for every dynamic event kind. */
  dynamicEvents: boolean;
  /** `synthetic_events` exists. */
  syntheticEvents: boolean;
  /** `instances/` exists: private ring buffers. */
  instances: boolean;
  /** `error_log` exists: parse errors are explained there. */
  errorLog: boolean;
  /** `buffer_subbuf_size_kb` exists (6.8+): sub-buffers may be larger than a page. */
  subbufSize: boolean;
  /** `timestamp_mode` exists. */
  timestampMode: boolean;
  /** `set_event_pid` exists. */
  setEventPid: boolean;
  /** `per_cpu/cpu0/stats` exists: per-CPU overrun/dropped counters. */
  perCpuStats: boolean;
  /** `syscall_user_buf_size` exists (6.19+): syscall events carry user strings in `__<arg>_val` fields. */
  syscallUserStrings: boolean;
  /** /sys/kernel/btf/vmlinux exists: kernel BTF type information. */
  btf: boolean;
  /** Clocks listed in `trace_clock` (e.g. local, global, mono, boot). */
  traceClocks: string[];
  /** The currently selected clock (bracketed in `trace_clock`). */
  currentClock: string;
  /** `mono` is available: CLOCK_MONOTONIC, comparable with process.hrtime. */
  monoClock: boolean;
  /** The README text itself, for diagnostics. */
  readme: string;
}

/** Reads the README-only features. */
export function parseReadmeFeatures(readme: string): ReadmeFeatures {
  const has = (s: string) => readme.includes(s);
  return {
    fprobeEvents: /(^|\s)f(\[:|\[maxactive\])/m.test(readme),
    tprobeEvents: /(^|\s)t\[:/m.test(readme),
    eprobes: /(^|\s)e\[:/m.test(readme),
    syntheticEventsSyntax: has('s:[synthetic/]'),
    btfArgs: has('<argname>'),
    btfMemberAccess: has('<argname>[->field'),
    argN: has('$arg<N>'),
    kretprobeArgs: /return probes support:[^\n]*\$arg<N>/.test(readme),
    commFetch: has('$comm'),
    currentFetch: has('$current'),
    ustring: /\bustring\b/.test(readme),
    symstr: /\bsymstr\b/.test(readme),
    bitfieldType: has('b<bit-width>@'),
    arrayType: has('<array-size>'),
    dentryNameType: has('%pd/%pD'),
    userDeref: has('[u]<offset>'),
    returnSuffix: has('%return'),
    refCtrOffset: has('(ref_ctr_offset)'),
    maxactive: has('r[maxactive]'),
    histTriggers: has('hist:keys'),
    eventTriggers: /^\s*trigger\s+- If set/m.test(readme),
  };
}

/** Parses `trace_clock`: "[local] global counter …" → all names and the bracketed current one. */
export function parseTraceClock(text: string): { clocks: string[]; current: string } {
  const clocks: string[] = [];
  let current = '';
  for (const word of text.trim().split(/\s+/)) {
    if (!word) continue;
    const m = /^\[(.*)\]$/.exec(word);
    if (m) current = m[1];
    clocks.push(m ? m[1] : word);
  }
  return { clocks, current };
}

export function detectFeatures(root: string, btfPath = '/sys/kernel/btf/vmlinux'): KernelFeatures {
  const file = (name: string) => existsSync(join(root, name));
  let readme = '';
  try {
    readme = readFileSync(join(root, 'README'), 'utf8');
  } catch {
    // Without README the syntax-level features read as absent, which is the safe answer.
  }
  let clock = { clocks: [] as string[], current: '' };
  try {
    clock = parseTraceClock(readFileSync(join(root, 'trace_clock'), 'utf8'));
  } catch {
    // No trace_clock: leave the list empty.
  }
  return {
    root,
    ...parseReadmeFeatures(readme),
    kprobeEvents: file('kprobe_events'),
    uprobeEvents: file('uprobe_events'),
    dynamicEvents: file('dynamic_events'),
    syntheticEvents: file('synthetic_events'),
    instances: file('instances'),
    errorLog: file('error_log'),
    subbufSize: file('buffer_subbuf_size_kb'),
    timestampMode: file('timestamp_mode'),
    setEventPid: file('set_event_pid'),
    perCpuStats: file('per_cpu/cpu0/stats'),
    syscallUserStrings: file('syscall_user_buf_size'),
    btf: existsSync(btfPath),
    traceClocks: clock.clocks,
    currentClock: clock.current,
    monoClock: clock.clocks.includes('mono'),
    readme,
  };
}
