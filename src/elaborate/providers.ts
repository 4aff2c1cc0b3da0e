/**
 * The built-in probe point families: begin/end/error/never, timers, tracepoints, kprobes,
 * uprobes and process lifecycle. Each turns a probe point that no alias matched into concrete
 * points (plus the event fields their handlers can read), or says why it cannot.
 */
import type * as A from '../parser/ast.js';
import { SemanticError } from '../diagnostics/diagnostics.js';
import type { ConcretePoint, EventField } from './program.js';
import type { SystemView } from './system.js';
import { globMatch } from '../glob.js';
import { resolveKprobePoints, resolveUprobePoints } from './dynamic.js';
import type { CDeclaration } from '../symbols/c-declarations.js';
import { TICK_EVENT, tickCondition } from './profile-tick.js';

export interface Concrete {
  point: ConcretePoint;
  pp: string;
  fields: EventField[];
  /** Conditions the point itself needs on each event (e.g. timer.profile's tick filter). */
  conditions?: A.Expr[];
}

type Comps = A.PPComponent[];

const str = (c: A.PPComponent | undefined): string | undefined => (c?.arg?.kind === 'str' ? c.arg.value : undefined);
const num = (c: A.PPComponent | undefined): bigint | undefined => (c?.arg?.kind === 'num' ? c.arg.value : undefined);

function needNum(c: A.PPComponent): bigint {
  const v = num(c);
  if (v === undefined) throw new SemanticError(`expected a number argument for '${c.name}'`, c.tok);
  return v;
}

const TIMER_UNITS: Record<string, bigint> = {
  s: 1_000_000_000n, sec: 1_000_000_000n, ms: 1_000_000n, msec: 1_000_000n, us: 1_000n, usec: 1_000n, ns: 1n, nsec: 1n,
};

function kernelHz(config: () => Map<string, string>): bigint {
  const hz = config().get('CONFIG_HZ');
  return hz && /^\d+$/.test(hz) ? BigInt(hz) : 250n;
}

/** Printed form of components, as pp() shows them. */
export function ppString(comps: Comps): string {
  return comps.map(c => c.name + (c.arg ? `(${c.arg.kind === 'str' ? JSON.stringify(c.arg.value) : c.arg.value})` : '')).join('.');
}

function fieldType(f: { kind: string }): 'long' | 'string' {
  return f.kind === 'string' || f.kind === 'dynString' ? 'string' : 'long';
}

export class Providers {
  /** @param declarations the tapset library's declarations of kernel functions BTF leaves out. */
  constructor(private readonly system: SystemView, private readonly config: () => Map<string, string>,
    private readonly declarations: () => ReadonlyMap<string, CDeclaration> = () => new Map()) {}

  /** Concrete points for `comps`, or undefined when no built-in family has this shape. */
  resolve(comps: Comps): Concrete[] | undefined {
    const head = comps[0]!;
    const names = comps.map(c => c.name);
    const n = names.length;
    switch (head.name) {
      case 'begin': case 'end': case 'error':
        if (n !== 1) return undefined;
        return [{ point: { kind: head.name, priority: num(head) ?? 0n }, pp: ppString(comps), fields: [] }];
      case 'never':
        return n === 1 ? [{ point: { kind: 'never' }, pp: 'never', fields: [] }] : undefined;
      case 'timer': return this.timer(comps);
      case 'kernel':
        if (n === 2 && names[1] === 'trace') return this.tracepoints(comps);
        if (n >= 2 && (names[1] === 'function' || names[1] === 'statement')) return this.kprobe(comps);
        return undefined;
      case 'kprobe': case 'module':
        if (n >= 2) return this.kprobe(comps);
        return undefined;
      case 'process':
        return this.process(comps);
    }
    return undefined;
  }

  private timer(comps: Comps): Concrete[] | undefined {
    const unit = comps[1];
    if (!unit) return undefined;
    let period: bigint;
    if (unit.name in TIMER_UNITS) period = needNum(unit) * TIMER_UNITS[unit.name]!;
    else if (unit.name === 'jiffies') period = needNum(unit) * (1_000_000_000n / kernelHz(this.config));
    else if (unit.name === 'hz') period = 1_000_000_000n / needNum(unit);
    else if (unit.name === 'profile') return comps.length === 2 ? [this.profileTick(unit)] : undefined;
    else return undefined;
    let randomize = 0n;
    const rest = comps.slice(2);
    if (rest.length === 1 && rest[0]!.name === 'randomize' && unit.name !== 'hz') {
      randomize = needNum(rest[0]!) * (unit.name in TIMER_UNITS ? TIMER_UNITS[unit.name]! : 1_000_000_000n / kernelHz(this.config));
    } else if (rest.length) return undefined;
    if (period <= 0n) throw new SemanticError('timer period must be positive', unit.tok);
    return [{ point: { kind: 'timer', periodNs: period, randomizeNs: randomize }, pp: ppString(comps), fields: [] }];
  }

  /** timer.profile: the scheduler tick's hrtimer event, filtered to the tick handler (see profile-tick.ts). */
  private profileTick(unit: A.PPComponent): Concrete {
    const { system, event } = TICK_EVENT;
    let fmt;
    try {
      fmt = this.system.format(system, event);
    } catch (e) {
      throw new SemanticError(`timer.profile samples the scheduler tick through ${system}:${event}, which this kernel does not offer: ${(e as Error).message}`, unit.tok);
    }
    return {
      point: { kind: 'tracepoint', system, event, profile: true },
      pp: 'timer.profile',
      fields: fmt.fields.map(f => ({ name: f.name, type: fieldType(f), ctype: f.type })),
      conditions: [tickCondition(unit.tok)],
    };
  }

  private tracepoints(comps: Comps): Concrete[] {
    const c = comps[1]!;
    const spec = str(c);
    if (spec === undefined) throw new SemanticError('kernel.trace needs a string argument', c.tok);
    const colon = spec.indexOf(':');
    const sysPat = colon >= 0 ? spec.slice(0, colon) : '*';
    const evPat = colon >= 0 ? spec.slice(colon + 1) : spec;
    let events: Map<string, string[]>;
    try {
      events = this.system.events();
    } catch (e) {
      throw new SemanticError(`cannot list tracepoints: ${(e as Error).message}`, c.tok);
    }
    const out: Concrete[] = [];
    for (const [sys, list] of events) {
      if (!globMatch(sysPat, sys)) continue;
      // Dynamic events of other tools are not tracepoints.
      if (sys.startsWith('tstap_') || sys === 'kprobes' || sys === 'uprobes') continue;
      for (const ev of list) {
        if (!globMatch(evPat, ev)) continue;
        const fmt = this.system.format(sys, ev);
        out.push({
          point: { kind: 'tracepoint', system: sys, event: ev },
          pp: `kernel.trace("${sys}:${ev}")`,
          fields: fmt.fields.map(f => ({ name: f.name, type: fieldType(f), ctype: f.type })),
        });
      }
    }
    return out;
  }

  private kprobe(comps: Comps): Concrete[] {
    const f = this.system.features();
    if (!f.kprobeEvents) {
      throw new SemanticError(
        'this kernel has no kprobe events (CONFIG_KPROBE_EVENTS: no kprobe_events in tracefs), so kernel.function and kprobe probes cannot be placed; ' +
        'use a tracepoint instead (tstap -l \'kernel.trace("*")\' lists them), or make the probe optional with \'?\'',
        comps[0]!.tok);
    }
    return resolveKprobePoints(comps, this.declarations);
  }

  private process(comps: Comps): Concrete[] | undefined {
    const names = comps.map(c => c.name);
    const path = str(comps[0]);
    if (names.length === 2 && (names[1] === 'begin' || names[1] === 'end')) {
      return [{ point: { kind: 'process', event: names[1], path }, pp: ppString(comps), fields: [] }];
    }
    return resolveUprobePoints(comps, this.system);
  }
}
