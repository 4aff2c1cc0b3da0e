// Fetch lowering: the tracefs fetch arguments and event fields that $vars, member chains, $return,
// $argN, $$parms, register(), addr(), user_string()/kernel_string(), @cast and @entry become, on gcc
// builds of test/fixtures/add.c (DWARF, no -g, stripped) and on this kernel's BTF; and the errors
// for what tracefs cannot fetch.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as A from '../src/parser/ast.js';
import type { DerivedProbe } from '../src/elaborate/program.js';
import { lowerCast, lowerEntry, planLines } from '../src/elaborate/dynamic.js';
import { loadKernelBtf } from '../src/symbols/btf.js';
import { parseDeclarations } from '../src/symbols/c-declarations.js';
import { kernelFunctionValues, kernelRegisterMap } from '../src/elaborate/dynamic/site.js';
import { builtinTapsetDir } from '../src/elaborate/library.js';
import { memberOffset } from '../src/symbols/types.js';
import { walkStmt } from '../src/elaborate/walk.js';
import { buildFixture, dynamicProbes, elaborateScript, FIXTURES, KprobeSystem, semanticError } from './support/dynamic.js';
import { missingFeature } from './support/features.js';

let dir: string;
let pie: string;
let nog: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tstap-lower-'));
  pie = buildFixture(dir, 'add-pie', ['-g', '-O0']);
  nog = buildFixture(dir, 'add-nog', ['-O0']);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Definition lines of every dynamic probe, without the path prefix for readability. */
function defs(script: string, system?: KprobeSystem): string[] {
  return dynamicProbes(script, system).flatMap((p) => planLines(p.point as never, p.id)).map((l) => l.replace(`${dir}/`, ''));
}

const TAPSETS = builtinTapsetDir();
const fieldsOf = (p: DerivedProbe) => p.fields.map((f) => `${f.name}:${f.type}`);

/** gcc's own offsetof() of struct point members, printed by test/fixtures/layout.c. */
function compilerLayout(): Map<string, number> {
  const exe = buildFixture(dir, 'layout', ['-O0'], join(FIXTURES, 'layout.c'));
  const offsets = new Map<string, number>();
  for (const line of execFileSync(exe, { encoding: 'utf8' }).split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'offset') offsets.set(f[1]!, Number(f[2]));
  }
  return offsets;
}

describe('user functions with DWARF', () => {
  it('parameters, member chains through pointers, embedded structs, arrays and strings', () => {
    expect(defs(`probe process("${pie}").function("point_sum") {
      printf("%d %d %s %s %d %d %d %d\\n", $p->x, $scale, user_string($p->name), user_string($p->label),
             $p->in->l, $p->next->next->y, $p->grid[1][2], $p->as_int) }`)).toEqual([
      'p:tstap/probe_0 add-pie:0x118e p_x=+0(%di):s32 scale=%si:s64 p_name_str=+8(%di):string p_label_str=+0(+24(%di)):string ' +
        'p_in_l=+40(%di):s64 p_next_next_y=+4(+48(+48(%di))):s32 p_grid_1_2=+84(%di):s32 p_as_int=+60(%di):s32',
    ]);
  });

  it('a char array is a string as a value; a char pointer is a number until read with user_string()', () => {
    const [p] = dynamicProbes(`probe process("${pie}").function("point_sum") { println($p->name, $p->label, user_string($p->label)) }`);
    expect(fieldsOf(p!)).toEqual(['p_name:string', 'p_label:long', 'p_label_str:string']);
    expect(planLines(p!.point as never, p!.id)[0]).toMatch(/ p_name=\+8\(%di\):string p_label=\+24\(%di\):x64 p_label_str=\+0\(\+24\(%di\)\):string$/);
  });

  it('stack-passed arguments, structs passed in memory, bitfields, enums and typedefs', () => {
    const layout = compilerLayout();
    expect(defs(`probe process("${pie}").function("many_args") { println($g, $h, $c, $d, $e) }
                 probe process("${pie}").function("by_value") { println($big->x, $big->in->l, $after) }
                 probe process("${pie}").function("point_sum") { println($p->flag_a, $p->flag_b, $p->color, $p->flags) }`)).toEqual([
      expect.stringMatching(/^p:tstap\/probe_0 add-pie:0x[0-9a-f]+ g=\+8\(%sp\):s64 h=\+16\(%sp\):s32 c=%dx:s8 d=%cx:s16 e=%r8:u32$/),
      expect.stringMatching(new RegExp(`^p:tstap/probe_1 add-pie:0x[0-9a-f]+ big_x=\\+8\\(%sp\\):s32 big_in_l=\\+${8 + layout.get('in.l')!}\\(%sp\\):s64 after=%dx:s32$`)),
      `p:tstap/probe_2 add-pie:0x118e p_flag_a=+56(%di):b3@0/8 p_flag_b=+56(%di):b5@3/8 p_color=+${layout.get('color')}(%di):s32 p_flags=+${layout.get('flags')}(%di):u32`,
    ]);
  });

  it('the same value read twice is fetched once', () => {
    const [p] = dynamicProbes(`probe process("${pie}").function("add") { println($a + $a, $arg1, $b) }`);
    expect(p!.point).toMatchObject({ fetches: [{ name: 'a', arg: '%di:s32' }, { name: 'b', arg: '%si:s32' }] });
    expect(fieldsOf(p!)).toEqual(['a:long', 'b:long']);
  });

  it('$return, and parameters in a return probe are captured at entry by a companion probe', () => {
    const [p] = dynamicProbes(`probe process("${pie}").function("point_sum").return { println($return, $scale, $p->y, $$parms) }`);
    expect(fieldsOf(p!)).toEqual(['ret:long', '__entry_scale:long', '__entry_p_y:long', '__entry_p:long']);
    expect(planLines(p!.point as never, p!.id).map((l) => l.replace(`${dir}/`, ''))).toEqual([
      'p:tstap/probe_0_entry add-pie:0x118e scale=%si:s64 p_y=+4(%di):s32 p=%di:x64',
      'r:tstap/probe_0 add-pie:0x118e ret=%ax:s64',
    ]);
  });

  it('$$parms, $$vars, $$locals and $$return are pretty strings of fetched fields', () => {
    const program = elaborateScript(`probe process("${pie}").function("add").return { println($$parms, $$vars, $$locals, $$return) }`);
    const refs: A.ContextRef[] = [];
    walkStmt(program.probes[0]!.body, { expr: (e) => { if (e.kind === 'tvar' && e.ref) refs.push(e.ref); } });
    expect(refs).toEqual([
      { kind: 'pretty', format: 'a=0x%x b=0x%x', fields: [{ index: 0, type: 'long' }, { index: 1, type: 'long' }] },
      { kind: 'pretty', format: 'a=0x%x b=0x%x', fields: [{ index: 0, type: 'long' }, { index: 1, type: 'long' }] },
      { kind: 'pretty', format: '', fields: [] },
      { kind: 'pretty', format: 'return=0x%x', fields: [{ index: 2, type: 'long' }] },
    ]);
    expect(fieldsOf(program.probes[0]!)).toEqual(['__entry_a:long', '__entry_b:long', 'ret:long']);
  });

  it('register(), u_register(), addr(), uaddr() and the int_arg() family', () => {
    const [p] = dynamicProbes(`probe process("${pie}").function("add") {
      println(register("eax"), u_register("rdi"), register("ip"), addr(), uaddr(), int_arg(1), ulong_arg(2)) }`);
    expect(fieldsOf(p!)).toEqual(['reg_eax:long', 'ureg_rdi:long', '__probe_ip:long', 'int_arg_1:long', 'ulong_arg_2:long']);
    expect(p!.point).toMatchObject({ fetches: [
      { name: 'reg_eax', arg: '%ax:s32' }, { name: 'ureg_rdi', arg: '%di:u64' }, { name: 'int_arg_1', arg: '%di:s32' }, { name: 'ulong_arg_2', arg: '%si:u64' },
    ] });
    const [r] = dynamicProbes(`probe process("${pie}").function("add").return { println(addr(), returnval()) }`);
    expect(fieldsOf(r!)).toEqual(['__probe_ret_ip:long', 'ret:long']);
  });

  it('user_string_n(p, n) reads the string and cuts it in the handler', () => {
    const program = elaborateScript(`probe process("${pie}").function("point_sum") { println(user_string_n($p->label, 4)) }`);
    const calls: A.Call[] = [];
    walkStmt(program.probes[0]!.body, { expr: (e) => { if (e.kind === 'call') calls.push(e); } });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ name: 'substr', target: { kind: 'builtin', name: 'substr' } });
    expect(calls[0]!.args.map((a) => a.kind)).toEqual(['tvar', 'num', 'num']);
    expect(program.probes[0]!.point).toMatchObject({ fetches: [{ name: 'p_label_str', arg: '+0(+24(%di)):string' }] });
  });

  it('@cast reads a pointer as a DWARF type of the probed binary', () => {
    const program = elaborateScript(`probe process("${pie}").function("add") { println(1) }`);
    const probe = program.probes[0]!;
    const tok = probe.tok;
    const cast: A.Cast = {
      kind: 'cast', name: '@cast', typeName: 'struct point', tok, addressOf: false,
      operand: { kind: 'call', name: 'register', args: [{ kind: 'str', value: 'rdi', tok }], tok },
      components: [{ kind: 'member', name: 'in', tok }, { kind: 'member', name: 'l', tok }],
    };
    expect(lowerCast(probe, cast)).toEqual({ kind: 'field', index: 0, type: 'long' });
    expect(probe.point).toMatchObject({ fetches: [{ name: 'point_in_l', arg: '+40(%di):s64' }] });
  });

  it('what tracefs cannot fetch is a semantic error naming it', () => {
    const at = (body: string, fn = 'point_sum') => semanticError(`probe process("${pie}").function("${fn}") { ${body} }`);
    expect(at('println($p->delta)')).toMatch(/cannot fetch \$p->delta in function point_sum .*: it is a signed bitfield, and tracefs reads bitfields unsigned/);
    expect(at('println($p->weight)')).toMatch(/: \$p->weight is floating point \(double\); tracefs cannot fetch floating-point values/);
    expect(at('println($p->grid[1])')).toMatch(/it is an array \(int\[3\]\); index one element/);
    expect(at('println($p->nosuch)')).toMatch(/struct point has no member 'nosuch'/);
    expect(at('i = 1; println($p->grid[i][0])')).toMatch(/an index must be a constant number/);
    expect(at('println(&$p->y)')).toMatch(/^semantic error: cannot fetch &\$p->y in function point_sum .*: its address is 4 bytes past a fetched pointer, and tracefs cannot add/);
    expect(at('println($nosuch)')).toMatch(/unable to find context variable '\$nosuch' in function point_sum .* \(alternatives: \$p \$scale\)/);
    expect(at('println($return)')).toMatch(/'\$return' is only available in \.return probes/);
    expect(at('println($d)', 'local_helper')).toMatch(/passed in an SSE \(xmm\) register, which tracefs cannot read/);
    expect(at('println($p->a)', 'by_value')).toMatch(/the value is split over registers %di, %si; tracefs cannot fetch it as one value/);
    expect(at('println(kernel_string($p->label))')).toMatch(/kernel_string\(\) reads kernel memory, which a uprobe cannot fetch/);
    expect(at('s = 1; println(user_string(s))')).toMatch(/user_string\(\): tracefs reads memory only at addresses the probe itself fetches/);
    expect(at('println(register("xmm0"))')).toMatch(/register\("xmm0"\): no such register on x86_64/);
    expect(at('r = "ax"; println(register(r))')).toMatch(/register\(\) needs a register name as a literal string/);
  });

  it('$p$ and $p$$ pretty-print a struct as stap does, one level or every level, from members fetched at the hit', () => {
    const [p] = dynamicProbes(`probe process("${pie}").function("point_sum") { println($p$, $p$$, $$parms$, $p->in$) }`);
    const refs: A.ContextRef[] = [];
    walkStmt(p!.body, { expr: (e) => { if (e.kind === 'tvar' && e.ref) refs.push(e.ref); } });
    const one = '{.x=%i, .y=%i, .name=[...], .label="%s", .in={...}, .next=%p, .flag_a=%u, .flag_b=%u, .delta=?, <union>={...}, .grid=[...], .flags=%u, .color=%i, .weight=?}';
    expect(refs).toEqual([
      // A signed bitfield and doubles cannot be fetched by tracefs: '?', as stap prints what it cannot read.
      { kind: 'pretty', format: one, fields: [0, 1, 2, 3, 4, 5, 6, 7].map((index) => ({ index, type: index === 2 ? 'string' : 'long' })) },
      { kind: 'pretty', format: '{.x=%i, .y=%i, .name="%s", .label="%s", .in={.s=%i, .l=%i}, .next=%p, .flag_a=%u, .flag_b=%u, .delta=?, ' +
        '<union>={.as_int=%i, .as_float=?}, .grid=[[%i, ...], ...], .flags=%u, .color=%i, .weight=?}',
        fields: [0, 1, 8, 2, 9, 10, 3, 4, 5, 11, 12, 6, 7].map((index) => ({ index, type: index === 2 || index === 8 ? 'string' : 'long' })) },
      { kind: 'pretty', format: `p=${one} scale=%i`, fields: [0, 1, 2, 3, 4, 5, 6, 7, 13].map((index) => ({ index, type: index === 2 ? 'string' : 'long' })) },
      { kind: 'pretty', format: '{.s=%i, .l=%i}', fields: [{ index: 9, type: 'long' }, { index: 10, type: 'long' }] },
    ]);
    expect(p!.point).toMatchObject({ fetches: [
      { name: 'p_x', arg: '+0(%di):s32' }, { name: 'p_y', arg: '+4(%di):s32' }, { name: 'p_label', arg: '+0(+24(%di)):string' },
      { name: 'p_next', arg: '+48(%di):x64' }, { name: 'p_flag_a', arg: '+56(%di):b3@0/8' }, { name: 'p_flag_b', arg: '+56(%di):b5@3/8' },
      { name: 'p_flags', arg: '+88(%di):u32' }, { name: 'p_color', arg: '+92(%di):s32' }, { name: 'p_name', arg: '+8(%di):string' },
      { name: 'p_in_s', arg: '+32(%di):s16' }, { name: 'p_in_l', arg: '+40(%di):s64' }, { name: 'p_as_int', arg: '+60(%di):s32' },
      { name: 'p_grid_0_0', arg: '+64(%di):s32' }, { name: 'scale', arg: '%si:s64' },
    ] });
    expect(semanticError(`probe process("${pie}").function("point_sum") { println(&$p$) }`)).toMatch(/cannot take the address of a pretty-printed value/);
    // A parameter tracefs cannot fetch (a double, in an xmm register) is left out, as stap leaves out what it cannot print.
    const [helper] = dynamicProbes(`probe process("${pie}").function("local_helper") { println($$parms, $$parms$) }`);
    const helperRefs: A.ContextRef[] = [];
    walkStmt(helper!.body, { expr: (e) => { if (e.kind === 'tvar' && e.ref) helperRefs.push(e.ref); } });
    expect(helperRefs.map((r) => r.kind === 'pretty' && r.format)).toEqual(['text=0x%x u8=0x%x', 'text="%s" u8=\'%#c\'']);
  });
});

describe('user code without debug info, and USDT marks', () => {
  it('$argN are the ABI registers as longs; $return is the return register', () => {
    expect(defs(`probe process("${nog}").function("add") { printf("%d %d\\n", $arg1, $arg2) }
                 probe process("${nog}").function("add").return { printf("%d %d\\n", $return, $arg1) }`)).toEqual([
      expect.stringMatching(/^p:tstap\/probe_0 add-nog:0x[0-9a-f]+ arg1=%di:s64 arg2=%si:s64$/),
      expect.stringMatching(/^p:tstap\/probe_1_entry add-nog:0x[0-9a-f]+ arg1=%di:s64$/),
      expect.stringMatching(/^r:tstap\/probe_1 add-nog:0x[0-9a-f]+ ret=%ax:s64$/),
    ]);
    expect(semanticError(`probe process("${nog}").function("add") { println($a) }`))
      .toMatch(/unable to find context variable '\$a' in function add .*has no DWARF debug info.*read arguments by position instead \(\$arg1, \$arg2/);
  });

  it('USDT arguments come from the note\'s operands; $$parms lists them', () => {
    const [add, tick] = dynamicProbes(`probe process("${pie}").mark("add_entry") { println($arg1, $arg2, $$parms) }
                                       probe process("${pie}").mark("tick") { println($arg1) }`);
    expect(add!.point).toMatchObject({ fetches: [{ name: 'arg1', arg: '-4(%bp):s32' }, { name: 'arg2', arg: '-8(%bp):s32' }] });
    expect(tick!.point).toMatchObject({ fetches: [{ name: 'arg1', arg: '-20(%bp):s32' }] });
    expect(semanticError(`probe process("${pie}").mark("tick") { println($arg2) }`)).toMatch(/\$arg2: USDT probe has 1 argument/);
  });
});

const needRoot = missingFeature('root');
describe.skipIf(!!needRoot)('kernel functions with BTF', () => {
  const sys = () => new KprobeSystem();
  const btf = () => loadKernelBtf();

  it('do_sys_openat2: int and pointer arguments, a user string, a struct member', () => {
    const flags = memberOffset(btf().findStruct('open_how')!, 'flags');
    expect(defs('probe kernel.function("do_sys_openat2") { printf("%d %s %d\\n", $dfd, user_string($filename), $how->flags) }', sys())).toEqual([
      `p:tstap/probe_0 do_sys_openat2 dfd=%di:s32 filename_str=+0(%si):ustring how_flags=+${flags}(%dx):u64`,
    ]);
  });

  it('the kernel_string($file->f_path->dentry->d_name->name) chain, with offsets from BTF', () => {
    const file = btf().findStruct('file')!;
    const dentry = btf().findStruct('dentry')!;
    const path = memberOffset(file, 'f_path.dentry');
    const name = memberOffset(dentry, 'd_name.name');
    expect(defs('probe kernel.function("vfs_read") { println(kernel_string($file->f_path->dentry->d_name->name)) }', sys())).toEqual([
      `p:tstap/probe_0 vfs_read d_name_name_str=+0(+${name}(+${path}(%di))):string`,
    ]);
  });

  it('fork-regs: addr() and register("ip") are the probe address the record carries; flags is fetched', () => {
    const [p] = dynamicProbes('probe kernel.function("kernel_clone") { printf("0x%x %x 0x%x\\n", addr(), register("ip"), register("flags")) }', sys());
    expect(fieldsOf(p!)).toEqual(['__probe_ip:long', 'reg_flags:long']);
    expect(planLines(p!.point as never, p!.id)).toEqual(['p:tstap/probe_0 kernel_clone reg_flags=%flags:s64']);
  });

  it('kretprobe: $return typed from BTF, maxactive, @entry($dfd) through the companion entry probe', () => {
    const [p] = dynamicProbes('probe kernel.function("do_sys_openat2").return.maxactive(16) { println($return) }', sys());
    const tok = p!.tok;
    const entry: A.Entry = { kind: 'entry', tok, operand: { kind: 'tvar', name: '$dfd', components: [], addressOf: false, tok } };
    lowerEntry(p!, entry);
    expect(entry).toMatchObject({ kind: 'tvar', name: '$dfd', ref: { kind: 'field', index: 1, type: 'long' }, type: 'long' });
    const ret = btf().findFunc('do_sys_openat2')!.returnType;
    const size = (ret as { size?: number }).size ?? (ret as { target: { size: number } }).target.size;
    expect(planLines(p!.point as never, p!.id)).toEqual([
      'p:tstap/probe_0_entry do_sys_openat2 dfd=%di:s32',
      `r16:tstap/probe_0 do_sys_openat2 ret=%ax:s${size * 8}`,
    ]);
    // Everything inside @entry() is read at entry, registers included.
    const sum: A.Entry = {
      kind: 'entry', tok,
      operand: { kind: 'binary', op: '+', tok, left: { kind: 'call', name: 'register', args: [{ kind: 'str', value: 'si', tok }], tok }, right: { kind: 'call', name: 'addr', args: [], tok } },
    };
    lowerEntry(p!, sum);
    expect(sum).toMatchObject({ kind: 'binary', left: { kind: 'tvar', ref: { kind: 'field' } }, right: { kind: 'tvar', ref: { kind: 'field' } } });
    // addr() at entry is the function's address, which the return record carries as __probe_func.
    expect(fieldsOf(p!)).toEqual(['ret:long', '__entry_dfd:long', '__entry_reg_si:long', '__probe_func:long']);
    expect(planLines(p!.point as never, p!.id)[0]).toBe('p:tstap/probe_0_entry do_sys_openat2 dfd=%di:s32 reg_si=%si:s64');
  });

  it('@entry outside a return probe, and $return inside @entry, are errors', () => {
    const [p] = dynamicProbes('probe kernel.function("do_sys_openat2") { x = 1 }', sys());
    const tok = p!.tok;
    expect(() => lowerEntry(p!, { kind: 'entry', tok, operand: { kind: 'tvar', name: '$dfd', components: [], addressOf: false, tok } }))
      .toThrow(/@entry\(\) is only meaningful in \.return probes/);
    const [r] = dynamicProbes('probe kernel.function("do_sys_openat2").return { x = 1 }', sys());
    expect(() => lowerEntry(r!, { kind: 'entry', tok, operand: { kind: 'tvar', name: '$return', components: [], addressOf: false, tok } }))
      .toThrow(/@entry\(\$return\): the return value does not exist at entry/);
  });

  it('an IPA-SRA clone BTF leaves out is read by the library\'s declaration, with a warning', () => {
    const clone = /^[0-9a-f]+ [tT] (do_execveat_common\.isra\.\d+)$/m.exec(readFileSync('/proc/kallsyms', 'utf8'))?.[1];
    if (!clone || loadKernelBtf().findFunc('do_execveat_common')) return; // this kernel kept the function whole or described it
    const [p] = dynamicProbes('probe kernel.function("do_execveat_common") { printf("%d %s %d\\n", $fd, kernel_string($filename->name), $flags) }', sys());
    // tapsets/linux/functions.h: int fd, struct filename *filename, two 16-byte structs (two registers each), int flags on the stack.
    expect(planLines(p!.point as never, p!.id)).toEqual([`p:tstap/probe_0 ${clone} fd=%di:s32 filename_name_str=+0(+0(%si)):string flags=+8(%sp):s32`]);
    expect(p!.warnings?.map((w) => w.message)).toEqual(['$fd', '$filename', '$flags'].map((v) =>
      `${v}: ${clone} is the kernel's optimised clone of do_execveat_common; its arguments are read by its declaration at ${join(TAPSETS, 'linux/functions.h')}:13, which holds if the compiler kept the parameters before the one read`));
  });

  it('other clones and undeclared clones have no named or numbered arguments', () => {
    const regs = kernelRegisterMap();
    const declared = new Map(parseDeclarations('int do_execveat_common(int fd, struct filename *filename);', 'decl.h').map((d) => [d.name, d]));
    const constprop = kernelFunctionValues('do_execveat_common.constprop.0', undefined, regs, () => declared)();
    expect(constprop).toMatchObject({ params: [], cloned: true, missing: 'the kernel compiled do_execveat_common as the optimised clone do_execveat_common.constprop.0, whose arguments need not follow its declaration at decl.h:1' });
    const undeclared = kernelFunctionValues('do_execveat_common.isra.0', undefined, regs, () => new Map())();
    expect(undeclared.missing).toMatch(/^BTF has no type information for do_execveat_common: the kernel compiled it as the optimised clone do_execveat_common.isra.0, which BTF does not describe/);
    expect(undeclared.hint).toMatch(/a clone's arguments are wherever its own calling convention puts them/);
    // A function BTF describes keeps BTF's prototype, whatever a declaration says.
    const own = kernelFunctionValues('vfs_read', undefined, regs, () => new Map(parseDeclarations('int vfs_read(int nonsense);', 'x.h').map((d) => [d.name, d])))();
    expect(own.params.map((p) => p.name)).toEqual(['file', 'buf', 'count', 'pos']);
  });

  it('$var$$ in a kernel probe lays out a BTF struct: anonymous unions and structs, a kernel string', () => {
    const [p] = dynamicProbes('probe kernel.function("vfs_read") { println($file->f_path->dentry->d_name$$) }', sys());
    const refs: A.ContextRef[] = [];
    walkStmt(p!.body, { expr: (e) => { if (e.kind === 'tvar' && e.ref) refs.push(e.ref); } });
    expect(refs).toMatchObject([{ kind: 'pretty', format: '{<union>={<class>={.hash=%u, .len=%u}, .hash_len=%u}, .name="%s"}' }]);
    const dName = memberOffset(btf().findStruct('dentry')!, 'd_name');
    expect(p!.point).toMatchObject({ fetches: [
      // Field names keep the tail of long member chains (tracefs allows 32 characters).
      { name: 'dentry_d_name_hash' }, { name: 'dentry_d_name_len' }, { name: 'd_name_hash_len' },
      { name: 'dentry_d_name_name', arg: `+0(+${dName + 8}(+${memberOffset(btf().findStruct('file')!, 'f_path.dentry')}(%di))):string` },
    ] });
  });

  it('uaddr() in a kernel probe is an error', () => {
    expect(semanticError('probe kernel.function("vfs_read") { println(uaddr()) }', sys())).toMatch(/uaddr\(\) in a kernel probe needs the user registers/);
  });

  it('@cast(p, "type") in a kernel probe uses BTF', () => {
    const [p] = dynamicProbes('probe kernel.function("vfs_read") { x = 1 }', sys());
    const tok = p!.tok;
    const cast: A.Cast = {
      kind: 'cast', name: '@cast', typeName: 'struct file', module: 'kernel', tok, addressOf: false,
      operand: { kind: 'tvar', name: '$file', components: [], addressOf: false, tok },
      components: [{ kind: 'member', name: 'f_flags', tok }],
    };
    lowerCast(p!, cast);
    const offset = memberOffset(btf().findStruct('file')!, 'f_flags');
    expect(p!.point).toMatchObject({ fetches: [{ name: 'file_f_flags', arg: `+${offset}(%di):u32` }] });
  });
});
