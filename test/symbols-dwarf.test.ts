// DWARF reader: functions, parameters, types and layouts of a gcc-built fixture, in DWARF 5 and 4,
// compressed, optimised and split-debug variants, checked against the compiler's own offsetof and
// memory layout, nm and readelf.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readElf } from '../src/symbols/elf.js';
import { DwarfError, findDebugFile, functionParams, readDwarf, type DwarfFunction } from '../src/symbols/dwarf.js';
import { entryArgLocation, stapRegisterNames, x86_64Registers } from '../src/symbols/regs-x86_64.js';
import { formatDeclaration, formatType, lookupMember, memberOffset, resolveType, type CType, type EnumType, type RecordType } from '../src/symbols/types.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const SOURCE = join(FIXTURES, 'add.c');

let dir: string;
const bin = (name: string) => join(dir, name);
const run = (cmd: string, args: string[], cwd?: string) =>
  execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
const gcc = (out: string, ...flags: string[]) => run('gcc', [`-I${FIXTURES}`, ...flags, SOURCE, '-o', bin(out)]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tstap-dwarf-'));
  gcc('add-dwarf5', '-g', '-O0');
  gcc('add-dwarf4', '-g', '-gdwarf-4', '-O0');
  gcc('add-gz', '-g', '-O0', '-gz=zlib');
  gcc('add-O2', '-g', '-O2');
  gcc('add-nodebug', '-O0');
  // Split DWARF: skeleton units in the binary, DIEs in .dwo files (DW_FORM_strx/addrx), v5 and GNU v4.
  run('gcc', [`-I${FIXTURES}`, '-g', '-gsplit-dwarf', '-O0', SOURCE, '-o', 'add-split5'], dir);
  run('gcc', [`-I${FIXTURES}`, '-g', '-gdwarf-4', '-gsplit-dwarf', '-O0', SOURCE, '-o', 'add-split4'], dir);
  // Separate debug file + stripped binary linked to it by .gnu_debuglink (same directory).
  copyFileSync(bin('add-dwarf5'), bin('add-full'));
  run('objcopy', ['--only-keep-debug', bin('add-full'), bin('add-full.debug')]);
  run('objcopy', ['--strip-debug', '--strip-unneeded', `--add-gnu-debuglink=${bin('add-full.debug')}`, bin('add-full'), bin('add-split')]);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The compiler's view of struct point, printed by test/fixtures/layout.c. */
function compilerLayout(): { offsets: Map<string, number>; sizes: Map<string, number>; bits: Map<string, Buffer> } {
  run('gcc', ['-O0', `-I${FIXTURES}`, join(FIXTURES, 'layout.c'), '-o', bin('layout-print')]);
  const out = run(bin('layout-print'), []);
  const offsets = new Map<string, number>();
  const sizes = new Map<string, number>();
  const bits = new Map<string, Buffer>();
  for (const line of out.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'offset') offsets.set(f[1]!, Number(f[2]));
    if (f[0] === 'sizeof') sizes.set(f[1]!, Number(f[2]));
    if (f[0] === 'bits') bits.set(f[1]!, Buffer.from(f[2]!, 'hex'));
  }
  return { offsets, sizes, bits };
}

function signature(fn: DwarfFunction): string {
  const params = fn.params.map((p) => formatDeclaration(p.type, p.name));
  if (fn.variadic) params.push('...');
  return `${formatType(fn.returnType)} ${fn.name}(${params.join(', ')})`;
}

function declLineOf(text: string): number {
  const lines = readFileSync(SOURCE, 'utf8').split('\n');
  return lines.findIndex((l) => l.includes(text)) + 1;
}

describe('DWARF 5 (gcc 12 default)', () => {
  it('reads compile units', () => {
    const dwarf = readDwarf(readElf(bin('add-dwarf5')));
    const cus = dwarf.compileUnits();
    expect(cus.length).toBe(1);
    expect(cus[0]!.version).toBe(5);
    expect(cus[0]!.name).toBe(SOURCE);
    expect(cus[0]!.producer).toMatch(/^GNU C/);
  });

  it('gives functions with signatures, decl file/line and addresses matching nm', () => {
    const elf = readElf(bin('add-dwarf5'));
    const nm = run('nm', ['-S', bin('add-dwarf5')]);
    const expected: Record<string, string> = {
      add: 'int add(int a, int b)',
      point_sum: 'long int point_sum(struct point *p, long int scale)',
      many_args: 'int many_args(int a, long int b, char c, short int d, unsigned int e, long int f, long int g, int h)',
      local_helper: 'int local_helper(const char *text, unsigned char u8, double d)',
      by_value: 'long int by_value(struct pair p, struct point big, int after)',
      sum_ints: 'int sum_ints(int count, ...)',
      main: 'int main(int argc, char **argv)',
    };
    for (const [name, sig] of Object.entries(expected)) {
      const fn = functionParams(elf, name);
      expect(signature(fn)).toBe(sig);
      const m = new RegExp(`^([0-9a-f]+) ([0-9a-f]+) [Tt] ${name}$`, 'm').exec(nm)!;
      expect(fn.lowPc).toBe(parseInt(m[1]!, 16));
      expect(fn.highPc! - fn.lowPc!).toBe(parseInt(m[2]!, 16));
      expect(fn.declFile).toBe(SOURCE);
      expect(fn.declaration).toBe(false);
    }
    expect(functionParams(elf, 'add').declLine).toBe(declLineOf('int add(int a, int b)'));
    expect(functionParams(elf, 'add').external).toBe(true);
    expect(functionParams(elf, 'local_helper').external).toBe(false);
    expect(readDwarf(elf).functionNames()).toEqual(expect.arrayContaining(Object.keys(expected)));
    expect(() => functionParams(elf, 'no_such_fn')).toThrow(DwarfError);
  });

  it('decodes -O0 locations (DW_OP_fbreg) like readelf', () => {
    const elf = readElf(bin('add-dwarf5'));
    const add = functionParams(elf, 'add');
    expect(add.frameBase).toEqual({ kind: 'frame-cfa' });
    const dump = run('readelf', ['--debug-dump=info', bin('add-dwarf5')]);
    const section = dump.slice(dump.indexOf('DW_AT_name        : add\n'));
    const fbregs = [...section.matchAll(/DW_OP_fbreg: (-?\d+)/g)].slice(0, 2).map((m) => Number(m[1]));
    expect(add.params.map((p) => p.location)).toEqual(fbregs.map((offset) => ({ kind: 'frame-offset', offset })));
  });

  it('assigns SysV entry locations: registers, stack, SSE, small structs, variadic', () => {
    const elf = readElf(bin('add-dwarf5'));
    const loc = (fn: string) => functionParams(elf, fn).params.map((p) => p.entryLocation);
    expect(loc('add')).toEqual([
      { kind: 'register', register: '%di' },
      { kind: 'register', register: '%si' },
    ]);
    expect(loc('many_args')).toEqual([
      ...['%di', '%si', '%dx', '%cx', '%r8', '%r9'].map((register) => ({ kind: 'register', register })),
      { kind: 'stack', register: '%sp', offset: 8 },
      { kind: 'stack', register: '%sp', offset: 16 },
    ]);
    const helper = loc('local_helper');
    expect(helper[0]).toEqual({ kind: 'register', register: '%di' });
    expect(helper[1]).toEqual({ kind: 'register', register: '%si' });
    expect(helper[2]!.kind).toBe('unavailable');
    // struct pair (16 bytes of longs) takes two registers; struct point (104 bytes) goes on the stack.
    expect(loc('by_value')).toEqual([
      { kind: 'registers', registers: ['%di', '%si'] },
      { kind: 'stack', register: '%sp', offset: 8 },
      { kind: 'register', register: '%dx' },
    ]);
    expect(functionParams(elf, 'sum_ints').variadic).toBe(true);
    expect(entryArgLocation(0)).toEqual({ kind: 'register', register: '%di' });
    expect(entryArgLocation(5)).toEqual({ kind: 'register', register: '%r9' });
    expect(entryArgLocation(7)).toEqual({ kind: 'stack', register: '%sp', offset: 16 });
    expect(x86_64Registers.returnValueLocation(functionParams(elf, 'add').returnType)).toEqual({ kind: 'register', register: '%ax' });
    const point = readDwarf(elf).findStruct('point')!;
    expect(x86_64Registers.returnValueLocation(point)).toEqual({ kind: 'indirect', register: '%ax' });
    // A struct returned in memory pushes the hidden result pointer into %rdi.
    expect(x86_64Registers.entryArgLocations([functionParams(elf, 'add').returnType], point)).toEqual([{ kind: 'register', register: '%si' }]);
  });

  it('maps stap register names and DWARF register numbers to tracefs', () => {
    expect(x86_64Registers.stapRegister('rax')).toEqual({ fetcharg: '%ax', width: 64 });
    expect(x86_64Registers.stapRegister('ip')).toEqual({ fetcharg: '%ip', width: 64 });
    expect(x86_64Registers.stapRegister('rip')).toEqual({ fetcharg: '%ip', width: 64 });
    expect(x86_64Registers.stapRegister('flags')).toEqual({ fetcharg: '%flags', width: 64 });
    expect(x86_64Registers.stapRegister('eflags')).toEqual({ fetcharg: '%flags', width: 64 });
    expect(x86_64Registers.stapRegister('eax')).toEqual({ fetcharg: '%ax', width: 32 });
    expect(x86_64Registers.stapRegister('r12')).toEqual({ fetcharg: '%r12', width: 64 });
    expect(x86_64Registers.stapRegister('xmm0')).toBeUndefined();
    expect(stapRegisterNames()).toContain('orig_rax');
    expect(x86_64Registers.dwarfRegister(5)).toBe('%di');
    expect(x86_64Registers.dwarfRegister(4)).toBe('%si');
    expect(x86_64Registers.dwarfRegister(7)).toBe('%sp');
    expect(x86_64Registers.dwarfRegister(17)).toBeUndefined(); // xmm0
  });

  it('lays out struct point exactly as the compiler does', () => {
    const dwarf = readDwarf(readElf(bin('add-dwarf5')));
    const point = dwarf.findStruct('point')!;
    const { offsets, sizes, bits } = compilerLayout();
    expect(point.size).toBe(sizes.get('point'));
    expect(dwarf.findStruct('inner')!.size).toBe(sizes.get('inner'));
    for (const [member, offset] of offsets) expect([member, memberOffset(point, member)]).toEqual([member, offset]);
    // Bitfields: setting all bits of the field in C lit exactly the bits DWARF describes.
    for (const [field, bytes] of bits) {
      const loc = lookupMember(point, field);
      const lit: number[] = [];
      for (let i = 0; i < bytes.length * 8; i++) if (bytes[i >> 3]! & (1 << (i & 7))) lit.push(i);
      expect([field, lit[0], lit.length]).toEqual([field, loc.bitOffset, loc.bitSize]);
    }
  });

  it('models types: base, pointer, const, typedef, arrays with bounds, enums, unions', () => {
    const dwarf = readDwarf(readElf(bin('add-dwarf5')));
    const point = dwarf.findStruct('point')!;
    const member = (name: string): CType => lookupMember(point, name).type;
    expect(formatType(member('name'))).toBe('char[16]');
    const name = resolveType(member('name'));
    expect(name.kind === 'array' && name.count === 16 && name.size === 16).toBe(true);
    expect(formatType(member('label'))).toBe('const char *');
    const grid = resolveType(member('grid'));
    expect(formatType(grid)).toBe('int[2][3]');
    expect(grid.size).toBe(24);
    expect(grid.kind === 'array' && grid.element.kind === 'array' && grid.element.count === 3).toBe(true);
    expect(formatType(member('flags'))).toBe('flags_t');
    const flags = resolveType(member('flags'));
    expect(flags).toMatchObject({ kind: 'int', name: 'unsigned int', size: 4, signed: false });
    const color = dwarf.findType('color', 'enum') as EnumType;
    expect(color.values.map((v) => [v.name, v.value])).toEqual([
      ['RED', 0n],
      ['GREEN', 5n],
      ['BLUE', -2n],
    ]);
    expect(color.signed).toBe(true);
    expect(formatType(member('next'))).toBe('struct point *');
    const next = resolveType(member('next'));
    // Cyclic types resolve lazily to the same object.
    expect(next.kind === 'pointer' && next.target).toBe(point);
    const anon = point.members.find((m) => m.name === '')!;
    expect(resolveType(anon.type).kind).toBe('union');
    expect(formatType(member('as_float'))).toBe('float');
    const charType = resolveType(functionParams(readElf(bin('add-dwarf5')), 'many_args').params[2]!.type);
    expect(charType).toMatchObject({ kind: 'int', name: 'char', size: 1, char: true, signed: true });
    expect(resolveType(lookupMember(point, 'weight').type)).toMatchObject({ kind: 'float', name: 'double', size: 8 });
    expect(() => lookupMember(point, 'nope')).toThrow(/no member named 'nope'/);
    expect(() => lookupMember(point, 'x.y')).toThrow(/not a struct or union/);
  });
});

describe('other encodings of the same program', () => {
  function summary(path: string): unknown {
    const elf = readElf(path);
    const dwarf = readDwarf(elf);
    const fns = ['add', 'point_sum', 'many_args', 'local_helper', 'by_value', 'sum_ints', 'main'].map((n) => {
      const f = functionParams(elf, n);
      return { sig: signature(f), entry: f.params.map((p) => p.entryLocation), declLine: f.declLine, declFile: f.declFile };
    });
    const point = dwarf.findStruct('point') as RecordType;
    const layout = point.members.map((m) => [m.name, formatType(m.type), m.bitOffset, m.bitSize]);
    return { fns, layout, size: point.size };
  }

  it('DWARF 4 gives the same functions and layouts as DWARF 5', () => {
    const dwarf4 = readDwarf(readElf(bin('add-dwarf4')));
    expect(dwarf4.compileUnits()[0]!.version).toBe(4);
    // gcc writes DWARF 4 bitfields with DW_AT_bit_offset (from the MSB), DWARF 5 with DW_AT_data_bit_offset.
    expect(run('readelf', ['--debug-dump=info', bin('add-dwarf4')])).toContain('DW_AT_bit_offset');
    expect(summary(bin('add-dwarf4'))).toEqual(summary(bin('add-dwarf5')));
  });

  it('reads zlib-compressed debug sections (-gz)', () => {
    const elf = readElf(bin('add-gz'));
    expect(elf.section('.debug_info')!.flags & 0x800).toBe(0x800);
    expect(summary(bin('add-gz'))).toEqual(summary(bin('add-dwarf5')));
  });

  it('finds a separate debug file through .gnu_debuglink', () => {
    const split = readElf(bin('add-split'));
    expect(split.section('.debug_info')).toBeUndefined();
    expect(findDebugFile(split)).toBe(bin('add-full.debug'));
    expect(summary(bin('add-split'))).toEqual(summary(bin('add-dwarf5')));
  });

  it('reads split DWARF (.dwo) with indexed strings and addresses', () => {
    const dwo = run('readelf', ['--debug-dump=info', bin('add-split5-add.dwo')]);
    expect(dwo).toContain('DW_UT_split_compile');
    expect(dwo).toMatch(/DW_AT_low_pc\s+: \(index: 0x[0-9a-f]+\)/);
    const split5 = readDwarf(readElf(bin('add-split5')));
    expect(split5.hasSplitUnits).toBe(true);
    expect(split5.compileUnits().map((c) => [c.name, c.version])).toEqual([[SOURCE, 5]]);
    expect(summary(bin('add-split5'))).toEqual(summary(bin('add-dwarf5')));
    expect(summary(bin('add-split4'))).toEqual(summary(bin('add-dwarf4')));
    // Addresses come through the skeleton's .debug_addr: they must match nm for this binary.
    const nm = run('nm', [bin('add-split5')]);
    const add = /^([0-9a-f]+) T add$/m.exec(nm)!;
    expect(functionParams(readElf(bin('add-split5')), 'add').lowPc).toBe(parseInt(add[1]!, 16));
    // Without the .dwo files nothing can be found, and the error says why.
    rmSync(bin('add-split5-add.dwo'));
    expect(() => functionParams(readElf(bin('add-split5')), 'add')).toThrow(/split into \.dwo files/);
  });

  it('explains missing debug info', () => {
    expect(() => readDwarf(readElf(bin('add-nodebug')))).toThrow(/has no DWARF debug info/);
  });

  it('-O2: register locations, location lists and constant-propagated clones', () => {
    const elf = readElf(bin('add-O2'));
    const add = functionParams(elf, 'add');
    expect(add.params.map((p) => p.location)).toEqual([
      { kind: 'register', dwarfRegister: 5, register: '%di' },
      { kind: 'register', dwarfRegister: 4, register: '%si' },
    ]);
    // gcc clones local_helper with u8 and d folded in: only `text` is still passed.
    const helper = functionParams(elf, 'local_helper');
    expect(helper.params.map((p) => p.name)).toEqual(['text', 'u8', 'd']);
    expect(helper.params[0]!.entryLocation).toEqual({ kind: 'register', register: '%di' });
    expect(helper.params[1]!.location).toEqual({ kind: 'constant', value: 200 });
    expect(helper.params[1]!.entryLocation.kind).toBe('unavailable');
    expect(helper.params[2]!.location).toEqual({ kind: 'constant', bytes: Buffer.from(new Float64Array([1.5]).buffer).toString('hex') });
    const clone = run('nm', [bin('add-O2')]).match(/^([0-9a-f]+) t local_helper\.\w+\.\d+$/m)!;
    expect(helper.lowPc).toBe(parseInt(clone[1]!, 16));
    expect(functionParams(elf, 'main').params[0]!.location.kind).toBe('location-list');
  });
});
