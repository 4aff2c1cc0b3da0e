// tracefs fetch-argument builder: expected strings for DWARF (user) and BTF (kernel) types, clear
// errors for what tracefs cannot fetch, and a live check that the kernel accepts the arguments and
// reads the right values through uprobes on a gcc-built fixture (ELF offsets + DWARF + fetch).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSdtArguments, readElf } from '../src/symbols/elf.js';
import { functionParams, readDwarf } from '../src/symbols/dwarf.js';
import { KERNEL_BTF_PATH, loadKernelBtf, memberOffset } from '../src/symbols/btf.js';
import { x86_64Registers } from '../src/symbols/regs-x86_64.js';
import {
  baseForArgLocation,
  buildFetchArg,
  FetchError,
  MAX_FETCH_ARG_LENGTH,
  parseMemberPath,
  type FetchRequest,
} from '../src/symbols/fetch.js';
import type { CType } from '../src/symbols/types.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const TRACEFS = '/sys/kernel/tracing';

let dir: string;
const bin = (name: string) => join(dir, name);
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tstap-fetch-'));
  for (const [name, flags] of [
    ['add-pie', ['-fPIE', '-pie']],
    ['add-nopie', ['-fno-pie', '-no-pie']],
  ] as const) {
    run('gcc', ['-g', '-O0', `-I${FIXTURES}`, ...flags, join(FIXTURES, 'add.c'), '-o', bin(name)]);
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function pointSum() {
  const fn = functionParams(readElf(bin('add-pie')), 'point_sum');
  const p = fn.params[0]!;
  return { fn, p, base: baseForArgLocation(p.entryLocation) };
}

const userArg = (path: string, mode?: FetchRequest['mode']) => {
  const { p, base } = pointSum();
  return buildFetchArg({ base, type: p.type, path, probe: 'uprobe', mode }).arg;
};

describe('member paths', () => {
  it('parses ->, . and [N]', () => {
    expect(parseMemberPath('->a.b[3]->c[-1][0x10]')).toEqual([
      { kind: 'member', name: 'a' },
      { kind: 'member', name: 'b' },
      { kind: 'index', index: 3 },
      { kind: 'member', name: 'c' },
      { kind: 'index', index: -1 },
      { kind: 'index', index: 16 },
    ]);
    expect(parseMemberPath('')).toEqual([]);
    expect(() => parseMemberPath('->')).toThrow(/expected a member name/);
    expect(() => parseMemberPath('[x]')).toThrow(/constant index/);
    expect(() => parseMemberPath('a')).toThrow(/unexpected 'a'/);
  });
});

describe('user-space fetch arguments (uprobe, DWARF types)', () => {
  it('scalars with signedness and size', () => {
    expect(userArg('->x')).toBe('+0(%di):s32');
    expect(userArg('->y')).toBe('+4(%di):s32');
    expect(userArg('->in->s')).toBe('+32(%di):s16');
    expect(userArg('->in.l')).toBe('+40(%di):s64');
    expect(userArg('->flags')).toBe('+88(%di):u32'); // typedef unsigned int
    expect(userArg('->color')).toBe('+92(%di):s32'); // enum with a negative value
    expect(userArg('->as_int')).toBe('+60(%di):s32'); // inside an anonymous union
    const { fn } = pointSum();
    const scale = fn.params[1]!;
    expect(buildFetchArg({ base: baseForArgLocation(scale.entryLocation), type: scale.type, probe: 'uprobe' })).toMatchObject({
      arg: '%si:s64',
      kind: 'number',
      tracefsType: 's64',
    });
  });

  it('pointer chains dereference, char arrays read as strings in place', () => {
    expect(userArg('->next->next->y')).toBe('+4(+48(+48(%di))):s32');
    expect(userArg('->next')).toBe('+48(%di):x64');
    expect(userArg('->name')).toBe('+8(%di):string');
    expect(userArg('->label')).toBe('+24(%di):x64'); // stap: a char * is a number...
    expect(userArg('->label', 'string')).toBe('+0(+24(%di)):string'); // ...until read as a string
    expect(userArg('->name', 'string')).toBe('+8(%di):string');
    expect(userArg('', 'string')).toBe('+0(%di):string');
    expect(userArg('[1]->x')).toBe('+104(%di):s32'); // p[1]: sizeof(struct point) == 104
    expect(userArg('->grid[1][2]')).toBe('+84(%di):s32');
    expect(userArg('->grid[1]')).toBe('+76(%di):s32[3]');
    expect(userArg('->next->name[2]')).toBe('+10(+48(%di)):s8');
  });

  it('bitfields use b<width>@<shift>/<container>', () => {
    const { p, base } = pointSum();
    expect(userArg('->flag_a')).toBe('+56(%di):b3@0/8');
    expect(userArg('->flag_b')).toBe('+56(%di):b5@3/8');
    const delta = buildFetchArg({ base, type: p.type, path: '->delta', probe: 'uprobe' });
    expect(delta).toMatchObject({ arg: '+57(%di):b7@0/8', signExtendBits: 7 });
  });

  it('stack-passed arguments and structs passed by value', () => {
    const elf = readElf(bin('add-pie'));
    const many = functionParams(elf, 'many_args');
    const g = many.params[6]!;
    expect(buildFetchArg({ base: baseForArgLocation(g.entryLocation), type: g.type, probe: 'uprobe' }).arg).toBe('+8(%sp):s64');
    const byValue = functionParams(elf, 'by_value');
    const big = byValue.params[1]!;
    const bigBase = baseForArgLocation(big.entryLocation);
    expect(buildFetchArg({ base: bigBase, type: big.type, path: '.x', probe: 'uprobe' }).arg).toBe('+8(%sp):s32');
    expect(buildFetchArg({ base: bigBase, type: big.type, path: '->name', probe: 'uprobe' }).arg).toBe('+16(%sp):string');
    expect(() => baseForArgLocation(byValue.params[0]!.entryLocation)).toThrow(/split over registers %di, %si/);
    const helper = functionParams(elf, 'local_helper');
    expect(() => baseForArgLocation(helper.params[2]!.entryLocation)).toThrow(/SSE/);
  });

  it('address mode returns the base address and an addend', () => {
    const { p, base } = pointSum();
    expect(buildFetchArg({ base, type: p.type, path: '->in.l', probe: 'uprobe', mode: 'address' })).toMatchObject({ arg: '%di:x64', addend: 40 });
    expect(buildFetchArg({ base, type: p.type, path: '->next->y', probe: 'uprobe', mode: 'address' })).toMatchObject({ arg: '+48(%di):x64', addend: 4 });
    expect(() => buildFetchArg({ base, type: p.type, probe: 'uprobe', mode: 'address' })).toThrow(/held in a register/);
  });

  it('errors clearly on what tracefs cannot fetch', () => {
    const { p, base } = pointSum();
    const err = (path: string, mode?: FetchRequest['mode'], type: CType = p.type) => {
      try {
        buildFetchArg({ base, type, path, probe: 'uprobe', mode });
      } catch (e) {
        expect(e).toBeInstanceOf(FetchError);
        return (e as Error).message;
      }
      throw new Error(`no error for ${path}`);
    };
    expect(err('->weight')).toBe('%di->weight is floating point (double); tracefs cannot fetch floating-point values');
    expect(err('->as_float')).toMatch(/floating point \(float\)/);
    expect(err('->in')).toBe('%di->in is a whole struct inner; fetch one of its members instead');
    expect(err('->nope')).toBe("%di->nope: struct point has no member 'nope'");
    expect(err('->x->y')).toBe('%di->x->y: int is not a struct, union or pointer to one');
    expect(err('->x[0]')).toBe('%di->x[0]: int is not a pointer or array');
    expect(err('->x', 'string')).toMatch(/not a pointer or array, so it cannot be read as a string/);
    expect(err('->flag_a', 'address')).toMatch(/bitfield and has no address/);
    expect(err('->flag_a->x')).toMatch(/a bitfield has no members/);
    // A struct passed by value in registers has no memory to index into.
    expect(err('.x', 'value', p.type.kind === 'pointer' ? p.type.target : p.type)).toMatch(/passed by value in registers/);
  });

  it('enforces the 63-character limit of tracefs argument expressions', () => {
    expect(MAX_FETCH_ARG_LENGTH).toBe(63);
    const ok = userArg('->next->next->next->next->next->next->next->next->next->next->x');
    expect(ok).toBe('+0(+48(+48(+48(+48(+48(+48(+48(+48(+48(+48(%di))))))))))):s32');
    expect(ok.length).toBe(61);
    expect(() => userArg('->next->next->next->next->next->next->next->next->next->next->next->x')).toThrow(
      /characters, over the kernel's limit of 63/,
    );
  });
});

describe.skipIf(!existsSync(KERNEL_BTF_PATH))('kernel fetch arguments (BTF types)', () => {
  const btf = {
    findFunc: (name: string) => loadKernelBtf().findFunc(name),
    findStruct: (name: string) => loadKernelBtf().findStruct(name),
  };
  const param = (name: string) => {
    const openat2 = btf.findFunc('do_sys_openat2')!;
    const index = openat2.params.findIndex((p) => p.name === name);
    return { type: openat2.params[index]!.type, base: baseForArgLocation(x86_64Registers.entryArgLocation(index)) };
  };

  it('user pointers are read with :ustring and +u derefs; kernel memory with plain ones', () => {
    const filename = param('filename');
    expect(buildFetchArg({ ...filename, probe: 'kernel', userPointer: true, mode: 'string' }).arg).toBe('+0(%si):ustring');
    expect(buildFetchArg({ ...filename, probe: 'kernel', mode: 'string' }).arg).toBe('+0(%si):string');
    const how = param('how');
    expect(buildFetchArg({ ...how, path: '->resolve', probe: 'kernel' }).arg).toBe('+16(%dx):u64');
    expect(buildFetchArg({ ...how, path: '->mode', probe: 'kernel', userPointer: true }).arg).toBe('+u8(%dx):u64');
    // A $argN or $retval base works the same way as a register.
    expect(buildFetchArg({ base: '$arg3', type: how.type, path: '->flags', probe: 'kernel' }).arg).toBe('+0($arg3):u64');
  });

  it('struct file and task_struct members', () => {
    const file = btf.findStruct('file')!;
    const filePtr = { kind: 'pointer', name: '', size: 8, reference: false, target: file } as const satisfies CType;
    const dentryOffset = memberOffset(file, 'f_path.dentry');
    expect(buildFetchArg({ base: '%di', type: filePtr, path: '->f_path->dentry', probe: 'kernel' }).arg).toBe(`+${dentryOffset}(%di):x64`);
    const dentry = btf.findStruct('dentry')!;
    const nameOffset = memberOffset(dentry, 'd_name.name');
    expect(buildFetchArg({ base: '%di', type: filePtr, path: '->f_path->dentry->d_name.name', probe: 'kernel', mode: 'string' }).arg).toBe(
      `+0(+${nameOffset}(+${dentryOffset}(%di))):string`,
    );
    const task = btf.findStruct('task_struct')!;
    const taskPtr = { kind: 'pointer', name: '', size: 8, reference: false, target: task } as const satisfies CType;
    expect(buildFetchArg({ base: '$retval', type: taskPtr, path: '->comm', probe: 'kernel' }).arg).toBe(`+${memberOffset(task, 'comm')}($retval):string`);
    expect(buildFetchArg({ base: '%di', type: taskPtr, path: '->pid', probe: 'kernel' }).arg).toBe(`+${memberOffset(task, 'pid')}(%di):s32`);
  });
});

/* ---------- live: the kernel accepts these arguments and reads the right values ---------- */

const GROUP = `tstap_symtest_${process.pid}`;
const INSTANCE = `${TRACEFS}/instances/${GROUP}`;
const created: string[] = [];

function uprobesUsable(): string | undefined {
  if (!existsSync(`${TRACEFS}/uprobe_events`)) return `${TRACEFS}/uprobe_events does not exist (tracefs not mounted or no uprobes)`;
  if (process.getuid?.() !== 0) return 'not root';
  return undefined;
}

function defineProbe(definition: string): void {
  const name = /^[pr]:([^ ]+)/.exec(definition)![1]!;
  try {
    appendFileSync(`${TRACEFS}/uprobe_events`, `${definition}\n`);
  } catch (err) {
    const log = readFileSync(`${TRACEFS}/error_log`, 'utf8').trim().split('\n').slice(-3).join('\n');
    throw new Error(`kernel rejected '${definition}': ${(err as Error).message}\n${log}`);
  }
  created.push(name);
}

function parseTraceFields(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\{[^}]*\}|\S+)/g)) fields[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  return fields;
}

/** Runs `binary args` with the group's events enabled in a private instance; returns trace lines by event. */
function traceRun(binary: string, args: string[]): { stdout: string; events: Map<string, Record<string, string>[]> } {
  mkdirSync(INSTANCE);
  try {
    for (const name of created) writeFileSync(`${INSTANCE}/events/${name}/enable`, '1');
    const stdout = execFileSync(binary, args, { encoding: 'utf8' });
    for (const name of created) writeFileSync(`${INSTANCE}/events/${name}/enable`, '0');
    const events = new Map<string, Record<string, string>[]>();
    for (const line of readFileSync(`${INSTANCE}/trace`, 'utf8').split('\n')) {
      const m = /: (\w+): \(/.exec(line);
      if (!m || line.startsWith('#')) continue;
      const list = events.get(m[1]!) ?? [];
      list.push(parseTraceFields(line.slice(line.indexOf(m[0]) + m[0].length)));
      events.set(m[1]!, list);
    }
    return { stdout, events };
  } finally {
    rmdirSync(INSTANCE);
  }
}

function removeProbes(): void {
  while (created.length > 0) {
    const name = created.pop()!;
    try {
      appendFileSync(`${TRACEFS}/uprobe_events`, `-:${name}\n`);
    } catch {
      // Already gone: nothing to restore.
    }
  }
}

describe('live uprobes with generated fetch arguments', () => {
  afterAll(() => {
    if (existsSync(INSTANCE)) rmdirSync(INSTANCE);
    removeProbes();
  });

  it('the kernel takes 63-character arguments and rejects 64 (the limit the builder enforces)', (ctx) => {
    const why = uprobesUsable();
    if (why) {
      console.log(`skipping live uprobe test: ${why}`);
      ctx.skip();
      return;
    }
    const path = bin('add-pie');
    const elf = readElf(path);
    const at = `${path}:0x${elf.vaddrToFileOffset(elf.findFunction('add')!.value).toString(16)}`;
    const arg63 = '+1234567890(+1234567890(+1234567890(+1234567890(+12(%di))))):u8';
    expect(arg63.length).toBe(MAX_FETCH_ARG_LENGTH);
    try {
      defineProbe(`p:${GROUP}/len63 ${at} v=${arg63}`);
      expect(() => defineProbe(`p:${GROUP}/len64 ${at} v=${arg63.replace('+12(', '+123(')}`)).toThrow(/Argument expression is too long/);
    } finally {
      removeProbes();
    }
  });

  for (const binaryName of ['add-pie', 'add-nopie']) {
    it(`reads parameters, members, strings, bitfields, stack args and SDT args (${binaryName})`, (ctx) => {
      const why = uprobesUsable();
      if (why) {
        console.log(`skipping live uprobe test: ${why}`);
        ctx.skip();
        return;
      }
      const path = bin(binaryName);
      const elf = readElf(path);
      const offset = (fn: string) => `0x${elf.vaddrToFileOffset(elf.findFunction(fn)!.value).toString(16)}`;
      try {
        // point_sum(struct point *p, long scale)
        const ps = functionParams(elf, 'point_sum');
        const p = ps.params[0]!;
        const pBase = baseForArgLocation(p.entryLocation);
        const fetch = (path: string, mode?: FetchRequest['mode']) => buildFetchArg({ base: pBase, type: p.type, path, probe: 'uprobe', mode });
        const scale = ps.params[1]!;
        const args = [
          `x=${fetch('->x').arg}`,
          `name=${fetch('->name').arg}`,
          `label=${fetch('->label', 'string').arg}`,
          `l=${fetch('->in.l').arg}`,
          `ny=${fetch('->next->next->y').arg}`,
          `fb=${fetch('->flag_b').arg}`,
          `delta=${fetch('->delta').arg}`,
          `g12=${fetch('->grid[1][2]').arg}`,
          `row=${fetch('->grid[1]').arg}`,
          `color=${fetch('->color').arg}`,
          `flags=${fetch('->flags').arg}`,
          `scale=${buildFetchArg({ base: baseForArgLocation(scale.entryLocation), type: scale.type, probe: 'uprobe' }).arg}`,
        ];
        defineProbe(`p:${GROUP}/ps ${path}:${offset('point_sum')} ${args.join(' ')}`);
        // uretprobe: the return value location from the register map.
        const ret = x86_64Registers.returnValueLocation(ps.returnType);
        const retArg = buildFetchArg({ base: baseForArgLocation(ret), type: ps.returnType, probe: 'uprobe' }).arg;
        defineProbe(`r:${GROUP}/psret ${path}:${offset('point_sum')} ret=${retArg}`);
        // many_args: six register arguments and two on the stack.
        const many = functionParams(elf, 'many_args');
        const manyArgs = many.params.map((q) => `${q.name}=${buildFetchArg({ base: baseForArgLocation(q.entryLocation), type: q.type, probe: 'uprobe' }).arg}`);
        defineProbe(`p:${GROUP}/many ${path}:${offset('many_args')} ${manyArgs.join(' ')}`);
        // by_value: a 104-byte struct copied onto the stack.
        const byValue = functionParams(elf, 'by_value');
        const big = byValue.params[1]!;
        const bigArgs = ['.x', '.y', '->name'].map((m, i) => `m${i}=${buildFetchArg({ base: baseForArgLocation(big.entryLocation), type: big.type, path: m, probe: 'uprobe' }).arg}`);
        defineProbe(`p:${GROUP}/byval ${path}:${offset('by_value')} ${bigArgs.join(' ')}`);
        // SDT probe `tick` with its semaphore as the uprobe reference counter.
        const tick = elf.sdtProbes().find((s) => s.name === 'tick')!;
        const [tickArg] = parseSdtArguments(tick.args);
        const operand = /^(-?\d+)\(%(\w+)\)$/.exec(tickArg!.operand);
        const sdtFetch = operand
          ? `${Number(operand[1]) < 0 ? '' : '+'}${operand[1]}(${x86_64Registers.stapRegister(operand[2]!)!.fetcharg})`
          : x86_64Registers.stapRegister(tickArg!.operand.slice(1))!.fetcharg;
        defineProbe(
          `p:${GROUP}/tick ${path}:0x${tick.pcFileOffset.toString(16)}(0x${tick.semaphoreFileOffset!.toString(16)}) r=${sdtFetch}:${tickArg!.signed ? 's' : 'u'}${tickArg!.size * 8}`,
        );

        const { stdout, events } = traceRun(path, ['3']);
        // The kernel set the semaphore through ref_ctr_offset, so the program saw it.
        expect(stdout).toContain('semaphore set');
        const [psEvent] = events.get('ps') ?? [];
        expect(psEvent).toEqual({
          x: '3',
          name: 'origin',
          label: 'label-text',
          l: '1234567',
          ny: '4',
          fb: '17',
          delta: String(-3 & 0x7f), // zero-extended; signExtendBits says to sign-extend 7 bits
          g12: '12',
          row: '{0,0,12}',
          color: '-2',
          flags: String(0xabcd),
          scale: '10',
        });
        expect(fetch('->delta').signExtendBits).toBe(7);
        expect(events.get('psret')?.[0]).toEqual({ ret: '70' });
        expect(events.get('many')?.[0]).toEqual({ a: '1', b: '2', c: '3', d: '4', e: '5', f: '6', g: '7', h: '8' });
        expect(events.get('byval')?.[0]).toEqual({ m0: '3', m1: '4', m2: 'origin' });
        expect(events.get('tick')?.[0]).toEqual({ r: '7' });
      } finally {
        removeProbes();
      }
    });
  }
});

// The DWARF reader is shared with the live test above; make sure the fixture really is DWARF 5.
describe('fixture sanity', () => {
  it('is built with DWARF 5 by default', () => {
    expect(readDwarf(readElf(bin('add-pie'))).compileUnits()[0]!.version).toBe(5);
  });
});
