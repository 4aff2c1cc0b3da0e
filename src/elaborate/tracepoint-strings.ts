/**
 * User and kernel strings behind tracepoint pointer fields (`user_string($filename)` in a
 * syscall probe). The record carries only the address; where the kernel has event probes
 * (eprobes), the string is fetched in the kernel at the event, before the process can change
 * it: the probe then runs on an eprobe over the tracepoint that fetches every field it reads.
 */
import type * as A from '../parser/ast.js';
import type { DerivedProbe, Fetch } from './program.js';
import type { SystemView } from './system.js';
import { walkStmt } from './walk.js';
import { declaredInteger, normaliseCType } from '../symbols/c-integers.js';

export const STRING_CALLS: ReadonlySet<string> = new Set(['user_string', 'user_string2', 'kernel_string']);

/** `user_string($ptr)` in a tracepoint handler becomes a field fetched by an eprobe, when eprobes exist. */
export function lowerTracepointString(probe: DerivedProbe, call: A.Call, system: SystemView): A.ContextRef | undefined {
  if (probe.point.kind !== 'tracepoint' || call.args.length !== (call.name === 'user_string2' ? 2 : 1)) return undefined;
  const arg = call.args[0]!;
  if (arg.kind !== 'tvar' || arg.components.length) return undefined;
  const field = probe.fields.find(f => f.name === arg.name.slice(1) && !f.fetch);
  if (!field || field.type !== 'long') return undefined;
  let eprobes = false;
  try { eprobes = system.features().eprobes; } catch { return undefined; }
  if (!eprobes) return undefined;
  const fetch = `+0($${field.name}):${call.name === 'kernel_string' ? 'string' : 'ustring'}`;
  const name = `${field.name}__str`;
  let index = probe.fields.findIndex(f => f.name === name);
  if (index < 0) {
    probe.fields.push({ name, type: 'string', fetch });
    index = probe.fields.length - 1;
  }
  return { kind: 'field', index, type: 'string' };
}

/** The fetch type that reads a record field as its declared C type (`s32` for an int in an 8-byte slot). */
function fieldFetchType(ctype: string | undefined): string {
  const d = declaredInteger(ctype ?? '');
  if (!d) return 's64';
  return `${normaliseCType(ctype ?? '').endsWith('*') ? 'x' : d.signed ? 's' : 'u'}${d.size * 8}`;
}

/**
 * After elision: a tracepoint probe that still reads an eprobe-only field gets its eprobe
 * definition, fetching every field in order; otherwise it stays a plain tracepoint.
 */
export function finalizeEprobes(probes: DerivedProbe[]): void {
  for (const p of probes) {
    if (p.point.kind !== 'tracepoint' || !p.fields.some(f => f.fetch)) continue;
    const used = new Set<number>();
    walkStmt(p.body, { expr: e => { if (e.kind === 'tvar' && e.ref?.kind === 'field') used.add(e.ref.index); } });
    if (![...used].some(i => p.fields[i]!.fetch)) continue;
    const fetches: Fetch[] = p.fields.map(f => ({
      name: f.name,
      arg: f.fetch ?? (f.type === 'string' ? `$${f.name}:string` : `$${f.name}:${fieldFetchType(f.ctype)}`),
    }));
    p.point = { ...p.point, eprobe: fetches };
  }
}
