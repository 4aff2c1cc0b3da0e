/**
 * Dynamic probes: uprobes and kprobes. Resolves `process("path").function("f")`,
 * `kernel.function("f")`, `kprobe.function("f")` and friends to concrete points, and lowers
 * every `$var`, `$var->member`, `$return`, `register()`, `kernel_string($p)` ... that a handler
 * reads into a tracefs fetch argument of the probe definition.
 */
import type * as A from '../parser/ast.js';
import { SemanticError } from '../diagnostics/diagnostics.js';
import type { DerivedProbe } from './program.js';
import type { Concrete } from './providers.js';
import type { SystemView } from './system.js';

/** Builtins that read probe context and are lowered to fetch arguments in dynamic probes. */
export const DYNAMIC_CALLS: ReadonlySet<string> = new Set([
  'kernel_string', 'user_string', 'kernel_string_n', 'user_string_n', 'register', 'u_register', 'addr', 'uaddr',
]);

export function resolveKprobePoints(comps: A.PPComponent[], system: SystemView): Concrete[] {
  void system;
  throw new SemanticError('kprobe-based probe points are not supported by this build of tstap yet', comps[0]!.tok);
}

export function resolveUprobePoints(comps: A.PPComponent[], system: SystemView): Concrete[] | undefined {
  void system;
  if (comps.length >= 2 && comps[1]!.name === 'function') {
    throw new SemanticError('process(...).function probes are not supported by this build of tstap yet', comps[1]!.tok);
  }
  return undefined;
}

export function resolveDynamicVar(probe: DerivedProbe, e: A.TargetVar): A.ContextRef {
  throw new SemanticError(`context variable '${e.name}' in ${probe.pp} is not supported by this build of tstap yet`, e.tok);
}

export function lowerDynamicCall(probe: DerivedProbe, call: A.Call): A.ContextRef | undefined {
  void probe; void call;
  return undefined;
}
