// Probe definitions from resolved points: the ProbeDefinition TraceInstance.defineProbe arms, the
// companion entry probe of return probes that read entry values, and the -p3 definition lines.
import { describe, it, expect } from 'vitest';
import type { ConcretePoint } from '../src/elaborate/program.js';
import {
  entryEventName, entryProbeDefinition, planLine, planLines, probeDefinition, splitFetch,
} from '../src/elaborate/dynamic.js';

type Point = Extract<ConcretePoint, { kind: 'uprobe' | 'kprobe' }>;

const uprobe = (over: Partial<Extract<Point, { kind: 'uprobe' }>> = {}): Point =>
  ({ kind: 'uprobe', path: '/opt/app/bin/add', symbol: 'add', offset: 0x1139, isReturn: false, fetches: [], ...over });
const kprobe = (over: Partial<Extract<Point, { kind: 'kprobe' }>> = {}): Point =>
  ({ kind: 'kprobe', symbol: 'do_sys_openat2', isReturn: false, fetches: [], ...over });

describe('splitFetch', () => {
  it('splits the type off at the last colon', () => {
    expect(splitFetch({ name: 'p', arg: '+0(+24(%di)):string' })).toEqual({ name: 'p', fetch: '+0(+24(%di))', type: 'string' });
    expect(splitFetch({ name: 'f', arg: '+56(%di):b5@3/8' })).toEqual({ name: 'f', fetch: '+56(%di)', type: 'b5@3/8' });
    expect(splitFetch({ name: 'g', arg: '@+0x4010:s32' })).toEqual({ name: 'g', fetch: '@+0x4010', type: 's32' });
    expect(splitFetch({ name: 'r', arg: '%ax' })).toEqual({ name: 'r', fetch: '%ax' });
  });
});

describe('probeDefinition', () => {
  it('a uprobe at a file offset, with its fetch arguments and USDT semaphore', () => {
    const point = uprobe({ refCtrOffset: 0x303a, fetches: [{ name: 'a', arg: '%di:s32' }, { name: 'b', arg: '%si:s32' }] });
    expect(probeDefinition(point, 'probe_3')).toEqual({
      kind: 'uprobe', event: 'probe_3', path: '/opt/app/bin/add', offset: 0x1139, refCtrOffset: 0x303a,
      args: [{ name: 'a', fetch: '%di', type: 's32' }, { name: 'b', fetch: '%si', type: 's32' }],
    });
    expect(planLine(point, 'probe_3')).toBe('p:tstap/probe_3 /opt/app/bin/add:0x1139(0x303a) a=%di:s32 b=%si:s32');
  });

  it('kprobes: module, offset, return with maxactive', () => {
    expect(planLine(kprobe({ fetches: [{ name: 'dfd', arg: '%di:s32' }] }), 'probe_0')).toBe('p:tstap/probe_0 do_sys_openat2 dfd=%di:s32');
    expect(planLine(kprobe({ symbol: 'ext4_sync_fs', module: 'ext4' }), 'probe_1', 'tstap_42_ab')).toBe('p:tstap_42_ab/probe_1 ext4:ext4_sync_fs');
    expect(planLine(kprobe({ symbol: 'vfs_read', offset: 4 }), 'probe_2')).toBe('p:tstap/probe_2 vfs_read+4');
    expect(probeDefinition(kprobe({ isReturn: true, maxactive: 20 }), 'probe_4')).toEqual({
      kind: 'kprobe', event: 'probe_4', symbol: 'do_sys_openat2', return: true, maxActive: 20, args: [],
    });
    expect(planLine(kprobe({ isReturn: true, maxactive: 20, fetches: [{ name: 'ret', arg: '%ax:s64' }] }), 'probe_4'))
      .toBe('r20:tstap/probe_4 do_sys_openat2 ret=%ax:s64');
  });

  it('a return probe with entry values gets a companion entry probe defined first', () => {
    const point = kprobe({
      isReturn: true,
      fetches: [{ name: 'ret', arg: '%ax:s64' }, { name: '__entry_dfd', arg: '%di:s32' }, { name: '__entry_filename_str', arg: '+0(%si):ustring' }],
    });
    expect(probeDefinition(point, 'probe_5')).toEqual({
      kind: 'kprobe', event: 'probe_5', symbol: 'do_sys_openat2', return: true, args: [{ name: 'ret', fetch: '%ax', type: 's64' }],
    });
    expect(entryEventName('probe_5')).toBe('probe_5_entry');
    expect(entryProbeDefinition(point, 'probe_5')).toEqual({
      kind: 'kprobe', event: 'probe_5_entry', symbol: 'do_sys_openat2',
      args: [{ name: 'dfd', fetch: '%di', type: 's32' }, { name: 'filename_str', fetch: '+0(%si)', type: 'ustring' }],
    });
    expect(planLines(point, 'probe_5')).toEqual([
      'p:tstap/probe_5_entry do_sys_openat2 dfd=%di:s32 filename_str=+0(%si):ustring',
      'r:tstap/probe_5 do_sys_openat2 ret=%ax:s64',
    ]);
    expect(entryProbeDefinition(kprobe({ fetches: [{ name: 'x', arg: '%di:s32' }] }), 'probe_6')).toBeUndefined();
    expect(entryProbeDefinition(kprobe({ isReturn: true }), 'probe_7')).toBeUndefined();
  });

  it('a uretprobe and its entry companion probe the same offset', () => {
    const point = uprobe({ isReturn: true, fetches: [{ name: '__entry_a', arg: '%di:s32' }] });
    expect(planLines(point, 'probe_1')).toEqual([
      'p:tstap/probe_1_entry /opt/app/bin/add:0x1139 a=%di:s32',
      'r:tstap/probe_1 /opt/app/bin/add:0x1139',
    ]);
  });

  it('what the kernel would reject is refused before it gets there', () => {
    expect(() => planLine(uprobe({ path: 'relative/add' }), 'probe_0')).toThrow(/must be absolute/);
    expect(() => planLine(uprobe({ path: '/tmp/with space/add' }), 'probe_0')).toThrow(/contains whitespace/);
  });
});
