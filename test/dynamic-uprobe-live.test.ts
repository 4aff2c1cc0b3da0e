// Uprobes for real: the definitions lowering produces are armed in a private tracefs instance
// (TraceInstance.defineProbe, as the live session does), the fixture runs, and the kernel's own
// record of each hit must hold the values the script asked for: arguments, member chains,
// strings, return values, USDT arguments with their semaphore set, PLT stubs, malloc in libc.
// Needs uprobe events; everything created is removed, also when a test fails.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFixture, traceRun, type TraceHit } from './support/dynamic.js';
import { missingFeature } from './support/features.js';

const skip = missingFeature('uprobes') ?? missingFeature('gcc');
const SHARED_ADD = join(import.meta.dirname, '../../shared/acceptance/add.c');


let dir: string;

describe.skipIf(!!skip)('uprobes armed from lowered definitions', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tstap-uprobe-live-'));
    buildFixture(dir, 'add-pie', ['-g', '-O0']);
    buildFixture(dir, 'uprobe-add', ['-g', '-O0'], SHARED_ADD);
    buildFixture(dir, 'uprobe-add-nog', ['-O0'], SHARED_ADD);
    writeFileSync(join(dir, 'mallocs.c'),
      '#include <stdlib.h>\n#include <unistd.h>\nint main(void) { for (int i = 0; i < 100; i++) free(malloc(12345)); _exit(0); }\n');
    execFileSync('gcc', ['-O0', '-o', join(dir, 'mallocs'), join(dir, 'mallocs.c')]);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    // Nothing of ours may stay behind in tracefs.
    expect(readdirSync('/sys/kernel/tracing/instances').filter((n) => n.startsWith(`tstap_${process.pid}_`))).toEqual([]);
    expect(readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8')).not.toContain(`tstap_${process.pid}_`);
  });

  it('uprobe.stp: $a, $b at entry and $return at exit, with -g', () => {
    const bin = join(dir, 'uprobe-add');
    const { hits, stdout } = traceRun(`probe process("${bin}").function("add") { printf("handler: arg0 = %d arg1 = %d\\n", $a, $b) }
      probe process("${bin}").function("add").return { printf("ret_handler ret = %d\\n", $return) }`, [bin]);
    expect(stdout).toBe('3\n');
    expect(hits.map((h) => [h.event, h.fields])).toEqual([
      ['probe_0', { a: '1', b: '2' }],
      ['probe_1', { ret: '3' }],
    ]);
  });

  it('uprobe.stp without -g: $arg1, $arg2 and $return', () => {
    const bin = join(dir, 'uprobe-add-nog');
    const { hits } = traceRun(`probe process("${bin}").function("add") { printf("%d %d\\n", $arg1, $arg2) }
      probe process("${bin}").function("add").return { printf("%d\\n", $return) }`, [bin]);
    expect(hits.map((h) => [h.event, h.fields])).toEqual([
      ['probe_0', { arg1: '1', arg2: '2' }],
      ['probe_1', { ret: '3' }],
    ]);
  });

  it('member chains, strings, array elements, and entry values of a return probe', () => {
    const bin = join(dir, 'add-pie');
    const { hits } = traceRun(`probe process("${bin}").function("point_sum") {
        println($p->x, $scale, user_string($p->name), user_string($p->label), $p->in->l, $p->next->next->y, $p->grid[1][2], $p->flag_b, $p->color) }
      probe process("${bin}").function("point_sum").return { println($return, $scale, $p->y) }`, [bin, '3']);
    const byEvent = Object.fromEntries(hits.map((h) => [h.event, h.fields]));
    expect(byEvent['probe_0']).toEqual({
      p_x: '3', scale: '10', p_name_str: 'origin', p_label_str: 'label-text', p_in_l: '1234567', p_next_next_y: '4', p_grid_1_2: '12', p_flag_b: '17', p_color: '-2',
    });
    expect(byEvent['probe_1_entry']).toEqual({ scale: '10', p_y: '4' });
    expect(byEvent['probe_1']).toEqual({ ret: '70' });
    // The entry record comes first, so a per-thread pairing sees it before the return.
    expect(hits.findIndex((h) => h.event === 'probe_1_entry')).toBeLessThan(hits.findIndex((h) => h.event === 'probe_1'));
  });

  it('USDT marks: arguments from the note, and the semaphore is set while the probe is armed', () => {
    const bin = join(dir, 'add-pie');
    const { hits, stdout } = traceRun(`probe process("${bin}").mark("*") { println($arg1) }`, [bin, '5']);
    expect(stdout).toMatch(/^semaphore set\n/);
    expect(hits.map((h) => [h.event, h.fields])).toEqual([
      ['probe_0', { arg1: '5' }],
      ['probe_1', { arg1: '9' }],
    ]);
    // Unarmed, the program sees a zero semaphore.
    expect(execFileSync(bin, ['5'], { encoding: 'utf8' })).not.toMatch(/semaphore set/);
  });

  it('a PLT stub with the callee\'s string argument', () => {
    const bin = join(dir, 'add-pie');
    const { hits } = traceRun(`probe process("${bin}").plt("strlen") { println(user_string($arg1)) }`, [bin]);
    expect(hits.map((h) => h.fields)).toEqual([{ arg1_str: 'origin' }]);
  });

  it('malloc in libc, by name: exactly the fixture\'s 100 calls of 12345 bytes', () => {
    const { hits, pid } = traceRun('probe process("libc.so.6").function("malloc") { if ($arg1 == 12345) n++ }', [join(dir, 'mallocs')]);
    expect(hits.filter((h) => h.pid === pid && h.fields['arg1'] === '12345')).toHaveLength(100);
  });
});
