/**
 * Dynamic probes: uprobes and kprobes. The entry points pass 2 and the live session use: point
 * resolution (`process("path").function("f")`, `kernel.function("f")`, ...), fetch lowering of
 * the context values handlers read, and the tracefs definitions that arm the points. The work is
 * done in ./dynamic/.
 */
export { resolveUprobePoints } from './dynamic/uprobe-points.js';
export { resolveKprobePoints } from './dynamic/kprobe-points.js';
export {
  DYNAMIC_CALLS, ENTRY_FIELD_PREFIX, PROBE_FUNC_FIELD, PROBE_IP_FIELD, PROBE_RET_IP_FIELD,
  castConstantAddress, lowerCast, lowerDynamicCall, lowerEntry, resolveDynamicVar,
} from './dynamic/lower.js';
export {
  PLAN_GROUP, controlFile, entryEventName, entryProbeDefinition, planLine, planLines, probeDefinition, splitFetch,
} from './dynamic/definition.js';
