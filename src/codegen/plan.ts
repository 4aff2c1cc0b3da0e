/**
 * The probe plan: what each derived probe becomes at run time, in the kernel (tracefs event
 * enables, dynamic probe definitions, filters) or in the runtime (begin/end, timers). Printed
 * by -p3 after the generated module, and handed to pass 5.
 */
import type { DerivedProbe, Program } from '../elaborate/program.js';
import type { ProbeSpec } from '../runtime/runtime.js';
import { controlFile, planLines } from '../elaborate/dynamic.js';

export function probeSpecs(program: Program): ProbeSpec[] {
  return program.probes.map(p => ({ id: p.id, pp: p.pp, point: p.point, fieldCount: p.fields.length }));
}

function describe(p: DerivedProbe): string {
  const pt = p.point;
  switch (pt.kind) {
    case 'begin': case 'end': case 'error': return `runtime: ${pt.kind} (priority ${pt.priority})`;
    case 'never': return 'never runs';
    case 'timer': return `runtime: timer every ${pt.periodNs} ns${pt.randomizeNs ? ` (±${pt.randomizeNs} ns)` : ''}`;
    case 'tracepoint':
      if (pt.eprobe) return `tracefs: dynamic_events e:<group>/${p.id} ${pt.system}.${pt.event} ${pt.eprobe.map(f => `${f.name}=${f.arg}`).join(' ')}`;
      return `tracefs: enable events/${pt.system}/${pt.event} (fields: ${p.fields.map(f => f.name).join(' ') || 'none'})`;
    case 'kprobe': case 'uprobe':
      return `tracefs: ${controlFile(pt)}\n${planLines(pt, p.id).map(l => `//   ${l}`).join('\n')}`;
    case 'process': return `tracefs: enable events/sched/sched_process_${pt.event === 'begin' ? 'exec' : 'exit'}${pt.path ? ` for ${pt.path}` : ''}`;
  }
}

export function printPlan(program: Program): string {
  let o = '// ---- probe plan\n';
  for (const p of program.probes) o += `// ${p.id} ${p.pp}: ${describe(p)}${p.wantsStack ? ' + stacktrace trigger' : ''}${p.wantsUserStack ? ' + userstacktrace option' : ''}\n`;
  return o;
}
