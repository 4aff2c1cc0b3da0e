/**
 * Dynamic probe definitions: a resolved uprobe/kprobe point (with the fetch arguments lowering
 * added) as the `ProbeDefinition` that `TraceInstance.defineProbe` arms, plus the companion entry
 * probe a return probe needs when it reads entry values, and the `uprobe_events`/`kprobe_events`
 * lines `-p3` shows.
 */
import {
  formatProbeDefinition, type KprobeDefinition, type ProbeArgument, type ProbeDefinition, type UprobeDefinition,
} from '../../tracefs/instance.js';
import type { ConcretePoint, Fetch } from '../program.js';
import { ENTRY_FIELD_PREFIX } from './lower.js';

type DynamicPoint = Extract<ConcretePoint, { kind: 'uprobe' | 'kprobe' }>;

/** The group `-p3` shows; a live session defines its probes in its own `tstap_<pid>_<nonce>` group. */
export const PLAN_GROUP = 'tstap';

/** Event name of the companion entry probe of return probe `probeId`. */
export function entryEventName(probeId: string): string {
  return `${probeId}_entry`;
}

/** `+0(%si):string` → fetch `+0(%si)`, type `string`; the type is what follows the last colon. */
export function splitFetch(fetch: Fetch): ProbeArgument {
  const colon = fetch.arg.lastIndexOf(':');
  if (colon <= 0) return { name: fetch.name, fetch: fetch.arg };
  return { name: fetch.name, fetch: fetch.arg.slice(0, colon), type: fetch.arg.slice(colon + 1) };
}

function place(point: DynamicPoint, event: string, args: ProbeArgument[], isReturn: boolean): ProbeDefinition {
  if (point.kind === 'uprobe') {
    const def: UprobeDefinition = { kind: 'uprobe', event, path: point.path, offset: point.offset, args };
    if (isReturn) def.return = true;
    if (point.refCtrOffset !== undefined) def.refCtrOffset = point.refCtrOffset;
    return def;
  }
  const def: KprobeDefinition = { kind: 'kprobe', event, symbol: point.symbol, args };
  if (point.module !== undefined) def.module = point.module;
  if (point.offset) def.offset = point.offset;
  if (isReturn) {
    def.return = true;
    if (point.maxactive) def.maxActive = point.maxactive;
  }
  return def;
}

/** The definition that arms `point` as event `probeId` (entry-captured fetches go to the companion). */
export function probeDefinition(point: DynamicPoint, probeId: string): ProbeDefinition {
  const args = point.fetches.filter((f) => !f.name.startsWith(ENTRY_FIELD_PREFIX)).map(splitFetch);
  return place(point, probeId, args, point.isReturn);
}

/**
 * For a return probe that reads values at entry (`@entry(...)`, parameters): an entry probe on the
 * same function fetching them, as event `entryEventName(probeId)`. Its field `X` is the return
 * record's field `__entry_X`. Undefined when the probe needs none.
 */
export function entryProbeDefinition(point: DynamicPoint, probeId: string): ProbeDefinition | undefined {
  if (!point.isReturn) return undefined;
  const entry = point.fetches.filter((f) => f.name.startsWith(ENTRY_FIELD_PREFIX));
  if (entry.length === 0) return undefined;
  const args = entry.map((f) => splitFetch({ name: f.name.slice(ENTRY_FIELD_PREFIX.length), arg: f.arg }));
  return place(point, entryEventName(probeId), args, false);
}

/** The control-file lines that define the probe (the companion entry probe first), as `-p3` prints them. */
export function planLines(point: DynamicPoint, probeId: string, group: string = PLAN_GROUP): string[] {
  const lines: string[] = [];
  const entry = entryProbeDefinition(point, probeId);
  if (entry) lines.push(formatProbeDefinition(entry, group));
  lines.push(formatProbeDefinition(probeDefinition(point, probeId), group));
  return lines;
}

/** `planLines` joined by newlines: `p:tstap/probe_0 do_sys_openat2 dfd=%di:s32`. */
export function planLine(point: DynamicPoint, probeId: string, group: string = PLAN_GROUP): string {
  return planLines(point, probeId, group).join('\n');
}

/** Which control file takes the definition, for the plan's wording. */
export function controlFile(point: DynamicPoint): 'uprobe_events' | 'kprobe_events' {
  return point.kind === 'uprobe' ? 'uprobe_events' : 'kprobe_events';
}
