// Helpers for the dynamic-probe tests: build the gcc fixtures, and run passes 1-2 on a script,
// optionally pretending the kernel has kprobe events (lowering kernel probes only produces text,
// so it can be checked against this kernel's BTF even though this kernel cannot arm them).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pass1 } from '../../src/pipeline.js';
import { elaborate } from '../../src/elaborate/elaborate.js';
import { SystemView } from '../../src/elaborate/system.js';
import type { DerivedProbe, Program } from '../../src/elaborate/program.js';
import type { Options } from '../../src/options.js';
import { formatSemanticError, SemanticError } from '../../src/diagnostics/diagnostics.js';
import type { KernelFeatures } from '../../src/tracefs/features.js';
import { TraceInstance } from '../../src/tracefs/instance.js';
import { entryProbeDefinition, probeDefinition } from '../../src/elaborate/dynamic.js';
import type { ConcretePoint } from '../../src/elaborate/program.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** This kernel's view, except that kprobe events are reported present. */
export class KprobeSystem extends SystemView {
  override features(): KernelFeatures {
    return { ...super.features(), kprobeEvents: true };
  }
}

/** gcc's build of test/fixtures/add.c (or `source`) into `dir/name`. */
export function buildFixture(dir: string, name: string, flags: string[], source = join(FIXTURES, 'add.c')): string {
  const out = join(dir, name);
  execFileSync('gcc', [`-I${FIXTURES}`, ...flags, source, '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

function options(script: string): Options {
  return {
    scriptText: script, extraScripts: [], args: [], lastPass: 2, verbose: 0, guru: false, includeDirs: [],
    defines: new Map(), globalsInit: new Map(), unoptimized: false, suppressWarnings: true, warningsAsErrors: false,
  };
}

/** Passes 1-2 on `script`; throws the formatted diagnostic on failure. */
export function elaborateScript(script: string, system: SystemView = new SystemView()): Program {
  let errors = '';
  const p1 = pass1(options(script), (s) => { errors += s; });
  if (!p1) throw new Error(errors);
  try {
    return elaborate(p1.user, p1.library, p1.ctx, { unoptimized: false, system }).program;
  } catch (err) {
    if (err instanceof SemanticError) throw new Error(formatSemanticError(err));
    throw err;
  }
}

/** The uprobe/kprobe probes of a script. */
export function dynamicProbes(script: string, system?: SystemView): DerivedProbe[] {
  return elaborateScript(script, system).probes.filter((p) => p.point.kind === 'uprobe' || p.point.kind === 'kprobe');
}

/** The message of the semantic error elaborating `script` raises ('' if none). */
export function semanticError(script: string, system?: SystemView): string {
  try {
    elaborateScript(script, system);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

/** One record of an instance's `trace` file: `  comm-123 [001] ..... 12.5: probe_0: (0x55...) a=1 s="x y"`. */
export interface TraceHit { event: string; pid: number; ip: string; fields: Record<string, string> }

export function parseTrace(text: string): TraceHit[] {
  const hits: TraceHit[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*.+?-(\d+)\s+\[\d+\].*?:\s+(\w+): \(([^)]*)\)(.*)$/.exec(line);
    if (!m) continue;
    const fields: Record<string, string> = {};
    for (const f of m[4]!.matchAll(/ (\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) fields[f[1]!] = f[2]!.startsWith('"') ? f[2]!.slice(1, -1) : f[2]!;
    hits.push({ event: m[2]!, pid: Number(m[1]), ip: m[3]!, fields });
  }
  return hits;
}

/**
 * Arms every dynamic probe of `script` (companion entry probes first) in a private instance, as
 * the live session does, runs `argv`, and returns what the kernel recorded for each hit.
 */
export function traceRun(script: string, argv: string[], bufferSizeKb = 1024): { hits: TraceHit[]; stdout: string; pid: number } {
  const inst = TraceInstance.create({ bufferSizeKb });
  try {
    for (const p of dynamicProbes(script)) {
      const point = p.point as Extract<ConcretePoint, { kind: 'uprobe' | 'kprobe' }>;
      for (const def of [entryProbeDefinition(point, p.id), probeDefinition(point, p.id)]) {
        if (!def) continue;
        const ev = inst.defineProbe(def);
        inst.enableEvent(ev.system, ev.event);
      }
    }
    const child = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    if (child.status !== 0) throw new Error(`${argv.join(' ')} failed: ${child.stderr}`);
    inst.setTracing(false);
    return { hits: parseTrace(readFileSync(`${inst.path}/trace`, 'utf8')), stdout: child.stdout, pid: child.pid! };
  } finally {
    inst.closeSync();
  }
}
