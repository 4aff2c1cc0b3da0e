// Dynamic probe point resolution: process("...").function/statement/plt/mark/library on gcc builds
// of test/fixtures/add.c (PIE, non-PIE, stripped), with file offsets checked against readelf and
// nm, binaries found on PATH, libc found through the program's DT_NEEDED; and kernel.function /
// module / kprobe / kernel.statement points against this kernel's function list and kallsyms.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConcretePoint } from '../src/elaborate/program.js';
import { buildFixture, dynamicProbes, KprobeSystem, semanticError } from './support/dynamic.js';
import { missingFeature } from './support/features.js';

type Uprobe = Extract<ConcretePoint, { kind: 'uprobe' }>;
type Kprobe = Extract<ConcretePoint, { kind: 'kprobe' }>;

let dir: string;
const bin = (name: string) => join(dir, name);
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tstap-points-'));
  buildFixture(dir, 'add-pie', ['-g', '-O0', '-fPIE', '-pie']);
  buildFixture(dir, 'add-nopie', ['-g', '-O0', '-fno-pie', '-no-pie']);
  buildFixture(dir, 'add-nog', ['-O0']);
  run('cp', [bin('add-nog'), bin('add-strip')]);
  run('strip', [bin('add-strip')]);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A symbol's value from nm (`nm -D` for dynamic symbols). */
function nmValue(file: string, name: string, dynamic = false): number {
  const line = run('nm', [...(dynamic ? ['-D'] : []), file]).split('\n').find((l) => (l.endsWith(` ${name}`) || l.includes(` ${name}@@`)) && / [TtWi] /.test(l));
  if (!line) throw new Error(`nm: no ${name} in ${file}`);
  return parseInt(line.split(' ')[0]!, 16);
}

/** File offset of a virtual address, from readelf's section table (independent of the ELF reader). */
function readelfOffset(file: string, vaddr: number): number {
  for (const line of run('readelf', ['-SW', file]).split('\n')) {
    const m = /\]\s+(\S+)\s+(PROGBITS|NOTE)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line);
    if (!m) continue;
    const [addr, off, size] = [parseInt(m[3]!, 16), parseInt(m[4]!, 16), parseInt(m[5]!, 16)];
    if (addr !== 0 && vaddr >= addr && vaddr < addr + size) return vaddr - addr + off;
  }
  throw new Error(`readelf: 0x${vaddr.toString(16)} is in no section of ${file}`);
}

const uprobes = (script: string) => dynamicProbes(script).map((p) => ({ pp: p.pp, point: p.point as Uprobe }));

describe('process(...).function', () => {
  it('places a PIE function at its file offset, entry and return', () => {
    const [entry, ret] = uprobes(`probe process("${bin('add-pie')}").function("add") {} probe process("${bin('add-pie')}").function("add").return {}`);
    const offset = readelfOffset(bin('add-pie'), nmValue(bin('add-pie'), 'add'));
    expect(entry).toEqual({
      pp: `process("${bin('add-pie')}").function("add")`,
      point: { kind: 'uprobe', path: bin('add-pie'), symbol: 'add', offset, isReturn: false, fetches: [] },
    });
    expect(ret!.pp).toBe(`process("${bin('add-pie')}").function("add").return`);
    expect(ret!.point).toMatchObject({ offset, isReturn: true });
  });

  it('maps a non-PIE function through the program headers (vaddr 0x40xxxx, small file offset)', () => {
    const [p] = uprobes(`probe process("${bin('add-nopie')}").function("add") {}`);
    const vaddr = nmValue(bin('add-nopie'), 'add');
    expect(vaddr).toBeGreaterThan(0x400000);
    expect(p!.point.offset).toBe(readelfOffset(bin('add-nopie'), vaddr));
    expect(p!.point.offset).toBeLessThan(0x10000);
  });

  it('probes a binary built without -g, and a stripped one by its dynamic symbols only', () => {
    const [p] = uprobes(`probe process("${bin('add-nog')}").function("point_sum") {}`);
    expect(p!.point.offset).toBe(readelfOffset(bin('add-nog'), nmValue(bin('add-nog'), 'point_sum')));
    expect(semanticError(`probe process("${bin('add-strip')}").function("add") {}`)).toMatch(/no match for function\("add"\) in .*add-strip/);
  });

  it('expands globs over DWARF-described functions, one point per function', () => {
    const names = uprobes(`probe process("${bin('add-pie')}").function("*") {}`).map((p) => p.point.symbol).sort();
    expect(names).toEqual(['add', 'by_value', 'local_helper', 'main', 'many_args', 'point_sum', 'sum_ints']);
    const some = uprobes(`probe process("${bin('add-pie')}").function("[ap]*") {}`).map((p) => p.pp);
    expect(some).toEqual([`process("${bin('add-pie')}").function("add")`, `process("${bin('add-pie')}").function("point_sum")`]);
  });

  it('without DWARF a glob matches the symbol table', () => {
    const names = uprobes(`probe process("${bin('add-nog')}").function("*_*") {}`).map((p) => p.point.symbol);
    expect(names).toEqual(expect.arrayContaining(['point_sum', 'many_args', 'local_helper', 'by_value', 'sum_ints']));
  });

  it('filters by source file with func@file, and keeps .call in pp', () => {
    expect(uprobes(`probe process("${bin('add-pie')}").function("add@add.c").call {}`).map((p) => p.pp))
      .toEqual([`process("${bin('add-pie')}").function("add").call`]);
    expect(semanticError(`probe process("${bin('add-pie')}").function("add@other.c") {}`)).toMatch(/no match/);
    expect(semanticError(`probe process("${bin('add-pie')}").function("add@add.c:12") {}`)).toMatch(/line numbers need DWARF line tables/);
  });

  it('finds a program by name on PATH like a shell, and relative paths from the working directory', () => {
    const saved = process.env['PATH'];
    const cwd = process.cwd();
    try {
      process.env['PATH'] = `/nonexistent:${dir}:${saved ?? ''}`;
      expect(uprobes('probe process("add-pie").function("add") {}')[0]!.point.path).toBe(realpathSync(bin('add-pie')));
      process.chdir(dir);
      expect(uprobes('probe process("./add-nopie").function("add") {}')[0]!.point.path).toBe(realpathSync(bin('add-nopie')));
    } finally {
      process.env['PATH'] = saved;
      process.chdir(cwd);
    }
    expect(semanticError('probe process("no-such-program-xyz").function("f") {}')).toMatch(/cannot find process\("no-such-program-xyz"\)/);
  });

  it('leaves process begin/end and unknown shapes to others', () => {
    expect(semanticError(`probe process("${bin('add-pie')}").syscall {}`)).toMatch(/probe point mismatch/);
    expect(semanticError(`probe process("${bin('add-pie')}").function("add").inline {}`)).toMatch(/\.inline probes need DWARF inline instances/);
  });
});

describe('statement, plt, mark, library', () => {
  it('.statement(ADDR) takes a virtual address', () => {
    const vaddr = nmValue(bin('add-nopie'), 'add') + 4;
    const [p] = uprobes(`probe process("${bin('add-nopie')}").statement(0x${vaddr.toString(16)}) {}`);
    expect(p).toEqual({
      pp: `process("${bin('add-nopie')}").statement(0x${vaddr.toString(16)})`,
      point: { kind: 'uprobe', path: bin('add-nopie'), symbol: 'add+0x4', offset: readelfOffset(bin('add-nopie'), vaddr), isReturn: false, fetches: [] },
    });
  });

  it('.plt("name") is the PLT stub objdump names name@plt, also in a stripped binary', () => {
    for (const name of ['add-pie', 'add-strip']) {
      const stub = /^([0-9a-f]+) <puts@plt>:/m.exec(run('objdump', ['-d', bin(name)]))!;
      const [p] = uprobes(`probe process("${bin(name)}").plt("puts").return {}`);
      expect(p!.pp).toBe(`process("${bin(name)}").plt("puts").return`);
      expect(p!.point).toMatchObject({ symbol: 'puts@plt', offset: readelfOffset(bin(name), parseInt(stub[1]!, 16)), isReturn: true });
    }
    expect(uprobes(`probe process("${bin('add-pie')}").plt {}`).map((p) => p.point.symbol)).toEqual(expect.arrayContaining(['puts@plt', 'printf@plt', 'strlen@plt']));
  });

  it('.mark("name") is the USDT probe with its semaphore as ref_ctr_offset', () => {
    const notes = run('readelf', ['-n', bin('add-pie')]);
    const note = /Name: add_entry\s+Location: 0x([0-9a-f]+), Base: 0x[0-9a-f]+, Semaphore: 0x([0-9a-f]+)/.exec(notes)!;
    const [p] = uprobes(`probe process("${bin('add-pie')}").mark("add_entry") {}`);
    expect(p!.pp).toBe(`process("${bin('add-pie')}").provider("tstap_fixture").mark("add_entry")`);
    expect(p!.point).toMatchObject({
      symbol: 'tstap_fixture:add_entry',
      offset: readelfOffset(bin('add-pie'), parseInt(note[1]!, 16)),
      refCtrOffset: readelfOffset(bin('add-pie'), parseInt(note[2]!, 16)),
    });
    expect(uprobes(`probe process("${bin('add-pie')}").provider("tstap_*").mark("*") {}`).map((q) => q.point.symbol).sort())
      .toEqual(['tstap_fixture:add_entry', 'tstap_fixture:tick']);
    expect(semanticError(`probe process("${bin('add-pie')}").provider("other").mark("tick") {}`)).toMatch(/no match for provider\("other"\)\.mark\("tick"\)/);
  });

  it('.library("libc.so.6") and process("libc.so.6") probe the libc the program loads', () => {
    const ldd = run('ldd', [bin('add-pie')]);
    const libc = realpathSync(/libc\.so\.6 => (\S+)/.exec(ldd)![1]!);
    const [viaProgram] = uprobes(`probe process("${bin('add-pie')}").library("libc.so.6").function("malloc") {}`);
    const [byName] = uprobes('probe process("libc.so.6").function("malloc") {}');
    const [byStem] = uprobes(`probe process("${bin('add-pie')}").library("libc").function("malloc") {}`);
    const offset = readelfOffset(libc, nmValue(libc, 'malloc', true));
    for (const p of [viaProgram, byName, byStem]) {
      expect(p!.pp).toBe(`process("${libc}").function("malloc")`);
      expect(p!.point).toMatchObject({ path: libc, symbol: 'malloc', offset });
    }
    expect(semanticError(`probe process("${bin('add-pie')}").library("libnosuchthing").function("f") {}`)).toMatch(/does not load a library matching "libnosuchthing"/);
  });
});

const kernelSkip = missingFeature('root');
describe.skipIf(!!kernelSkip)('kernel.function, module, kprobe, kernel.statement', () => {
  const kprobes = (script: string) => dynamicProbes(script, new KprobeSystem()).map((p) => ({ pp: p.pp, point: p.point as Kprobe }));
  const kallsyms = () => readFileSync('/proc/kallsyms', 'utf8');

  it('kernel.function("f") with .call, .return and .maxactive(N)', () => {
    const [entry, call, ret] = kprobes('probe kernel.function("vfs_read") {} probe kernel.function("vfs_read").call {} probe kernel.function("vfs_read").return.maxactive(32) {}');
    expect(entry).toEqual({ pp: 'kernel.function("vfs_read")', point: { kind: 'kprobe', symbol: 'vfs_read', isReturn: false, fetches: [] } });
    expect(call!.pp).toBe('kernel.function("vfs_read").call');
    expect(ret).toEqual({ pp: 'kernel.function("vfs_read").return.maxactive(32)', point: { kind: 'kprobe', symbol: 'vfs_read', isReturn: true, maxactive: 32, fetches: [] } });
    expect(kprobes('probe kprobe.function("vfs_read").return {}')[0]).toEqual({ pp: 'kprobe.function("vfs_read").return', point: { kind: 'kprobe', symbol: 'vfs_read', isReturn: true, fetches: [] } });
  });

  it('a function the compiler cloned is probed at its clone, named as written', () => {
    const clone = /^[0-9a-f]+ [tT] (do_execveat_common\.[a-z]+\.\d+)$/m.exec(kallsyms());
    if (!clone) return; // this kernel kept the function whole; the exact-name case is covered above
    const [p] = kprobes('probe kernel.function("do_execveat_common") {}');
    expect(p).toEqual({ pp: 'kernel.function("do_execveat_common")', point: { kind: 'kprobe', symbol: clone[1], isReturn: false, fetches: [] } });
  });

  it('sys_NAME, as scripts older than syscall wrappers write it, is the wrapper __x64_sys_NAME', () => {
    if (!/ __x64_sys_sync$/m.test(kallsyms()) || / sys_sync$/m.test(kallsyms())) return; // no wrappers on this kernel
    expect(kprobes('probe kernel.function("sys_sync") {}')).toEqual([
      { pp: 'kernel.function("__x64_sys_sync")', point: { kind: 'kprobe', symbol: '__x64_sys_sync', isReturn: false, fetches: [] } }]);
  });

  it('globs match the kernel\'s functions, never ftrace padding or .cold parts', () => {
    const points = kprobes('probe kernel.function("vfs_rea*") {}');
    const names = points.map((p) => p.point.symbol);
    expect(names).toContain('vfs_read');
    expect(names.every((n) => n.startsWith('vfs_rea') && !n.startsWith('__pfx_') && !n.includes('.cold'))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
  });

  it('unknown functions and shapes are clear errors', () => {
    const sys = new KprobeSystem();
    expect(semanticError('probe kernel.function("vfs_raed") {}', sys)).toMatch(/no function 'vfs_raed' in the kernel \(similar: .*vfs_read/);
    expect(semanticError('probe kernel.function("vfs_read").maxactive(3) {}', sys)).toMatch(/maxactive applies to \.return probes only/);
    expect(semanticError('probe kernel.function("vfs_read@fs/read_write.c") {}', sys)).toMatch(/needs the kernel's DWARF/);
    expect(semanticError('probe kernel.statement("vfs_read@fs/read_write.c:100") {}', sys)).toMatch(/needs DWARF line tables/);
  });

  it('kernel.statement(ADDR) is symbolised through kallsyms', () => {
    const line = /^([0-9a-f]+) [tT] vfs_read$/m.exec(kallsyms())!;
    const address = BigInt(`0x${line[1]}`) + 4n;
    const [p] = kprobes(`probe kernel.statement(0x${address.toString(16)}).absolute {}`);
    expect(p).toEqual({ pp: `kernel.statement(0x${address.toString(16)}).absolute`, point: { kind: 'kprobe', symbol: 'vfs_read', offset: 4, isReturn: false, fetches: [] } });
  });

  it('module("m").function("f") probes a loaded module\'s function', () => {
    const m = /^[0-9a-f]+ [tT] ([A-Za-z_]\w+)\t\[(\w+)\]$/m.exec(kallsyms());
    if (!m) return; // no modules loaded on this kernel
    const [p] = kprobes(`probe module("${m[2]}").function("${m[1]}") {}`);
    expect(p).toEqual({ pp: `module("${m[2]}").function("${m[1]}")`, point: { kind: 'kprobe', symbol: m[1], module: m[2], isReturn: false, fetches: [] } });
  });
});
