/**
 * What stap's non-DWARF syscall habits need when the probes are syscall tracepoints: `int_arg(N)`,
 * `pointer_arg(N)` and friends in a `sys_enter_NAME` probe read the Nth argument field, and
 * `@entry(expr)` in a `sys_exit_NAME` probe is evaluated by a companion probe on `sys_enter_NAME`,
 * kept per thread, and read back at the return. The resolver does the binding; this module says
 * what to build.
 */
import type * as A from '../parser/ast.js';
import { SemanticError } from '../diagnostics/diagnostics.js';
import type { DerivedProbe } from './program.js';

/** The enter tracepoint (`syscalls:sys_enter_NAME`) matching a syscall exit probe, or undefined. */
export function syscallEntryEvent(probe: DerivedProbe): string | undefined {
  const p = probe.point;
  if (p.kind !== 'tracepoint') return undefined;
  if (p.system === 'syscalls' && p.event.startsWith('sys_exit_')) return `syscalls:sys_enter_${p.event.slice('sys_exit_'.length)}`;
  if (p.system === 'raw_syscalls' && p.event === 'sys_exit') return 'raw_syscalls:sys_enter';
  return undefined;
}

/** The probe point `kernel.trace("EVENT")`, written where `tok` is. */
export function tracepointPoint(event: string, tok: A.Expr['tok']): A.ProbePoint {
  return {
    components: [{ name: 'kernel', tok }, { name: 'trace', arg: { kind: 'str', value: event, tok }, tok }],
    optional: false, sufficient: false, tok,
  };
}

/** `name[tid()] = value` and `name[tid()]`: a per-thread slot of a synthetic global. */
export function perThreadStore(name: string, value: A.Expr, tok: A.Expr['tok']): A.Stmt {
  return { kind: 'expr', tok, expr: { kind: 'assign', op: '=', left: perThreadSlot(name, tok), right: value, tok } };
}

export function perThreadSlot(name: string, tok: A.Expr['tok']): A.ArrayIndex {
  return { kind: 'index', base: { kind: 'sym', name, tok }, indexes: [{ kind: 'call', name: 'tid', args: [], tok }], tok };
}

/** C integer views of an argument register: size and signedness of stap's `int_arg(N)` family. */
const ARG_CALLS: Record<string, [bits: 32 | 64, signed: boolean]> = {
  int_arg: [32, true], s32_arg: [32, true], uint_arg: [32, false], u32_arg: [32, false],
  long_arg: [64, true], s64_arg: [64, true], ulong_arg: [64, false], u64_arg: [64, false], pointer_arg: [64, false],
};

/**
 * `int_arg(N)` and friends in a `syscalls:sys_enter_NAME` probe: the Nth argument field, as the C
 * type the function names (`int_arg` of an `unsigned int fd` is sign-extended from 32 bits).
 * Undefined for other calls and other probes.
 */
export function syscallArgument(probe: DerivedProbe, call: A.Call): A.Expr | undefined {
  const conversion = ARG_CALLS[call.name];
  const p = probe.point;
  if (!conversion || p.kind !== 'tracepoint' || p.system !== 'syscalls') return undefined;
  if (p.event.startsWith('sys_exit_')) {
    throw new SemanticError(`${call.name}(): a system call's arguments are fetched at its entry; in a return probe write @entry(${call.name}(N)) or use retval`, call.tok);
  }
  if (!p.event.startsWith('sys_enter_')) return undefined;
  const n = call.args.length === 1 && call.args[0]!.kind === 'num' ? Number(call.args[0]!.value) : 0;
  const args = probe.fields.filter((f) => !f.name.startsWith('__') && !f.name.startsWith('common_') && !f.fetch);
  if (n < 1) throw new SemanticError(`${call.name}() needs a constant argument number from 1`, call.tok);
  const field = args[n - 1];
  if (!field) throw new SemanticError(`${call.name}(${n}): ${p.event.slice('sys_enter_'.length)} takes ${args.length} argument${args.length === 1 ? '' : 's'}`, call.tok);
  const tok = call.tok;
  const num = (value: bigint): A.NumberLit => ({ kind: 'num', value, tok });
  const value: A.TargetVar = { kind: 'tvar', name: `$${field.name}`, components: [], addressOf: false, tok };
  const [bits, signed] = conversion;
  if (bits === 64) return value;
  const low: A.Expr = { kind: 'binary', op: '&', left: value, right: num(0xffffffffn), tok };
  if (!signed) return low;
  // Sign-extend from 32 bits: (x ^ 0x80000000) - 0x80000000.
  return { kind: 'binary', op: '-', left: { kind: 'binary', op: '^', left: low, right: num(0x80000000n), tok }, right: num(0x80000000n), tok };
}
