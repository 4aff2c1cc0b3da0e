/**
 * The probe plan: what each derived probe becomes at run time, in the kernel (tracefs event
 * enables, dynamic probe definitions, filters) or in the runtime (begin/end, timers). Printed
 * by -p3 after the generated module, and handed to pass 5.
 */
import type { DerivedProbe, Program } from '../elaborate/program.js';
import type { ProbeSpec } from '../runtime/runtime.js';

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
    case 'kprobe': return `tracefs: kprobe_events ${pt.isReturn ? 'r' : 'p'} ${pt.module ? pt.module + ':' : ''}${pt.symbol}`;
    case 'uprobe': return `tracefs: uprobe_events ${pt.isReturn ? 'r' : 'p'} ${pt.path}:0x${pt.offset.toString(16)}`;
    case 'process': return `tracefs: enable events/sched/sched_process_${pt.event === 'begin' ? 'exec' : 'exit'}${pt.path ? ` for ${pt.path}` : ''}`;
  }
}

export function printPlan(program: Program): string {
  let o = '// ---- probe plan\n';
  for (const p of program.probes) o += `// ${p.id} ${p.pp}: ${describe(p)}\n`;
  return o;
}
