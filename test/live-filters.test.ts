// Filter pushdown (src/live/filters.ts) and field casts (src/live/casts.ts): which conditions become kernel
// filters, that every translation is exact, and that syscall arguments decode as their declared C types.
import { describe, it, expect } from 'vitest';
import { compileDecoder, parseEventFormat, type EventFormat } from '../src/tracefs/format.js';
import { declaredInteger, planField } from '../src/live/casts.js';
import {
  eventFilter, integerComparison, probeFilter, quoteFilterString, type PushdownContext,
} from '../src/live/filters.js';
import { pass1, pass2 } from '../src/pipeline.js';
import type { Options } from '../src/options.js';
import type { DerivedProbe } from '../src/elaborate/program.js';
import { missingFeature } from './support/features.js';

const OPENAT = `name: sys_enter_openat
ID: 782
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:int dfd;	offset:16;	size:8;	signed:0;
	field:const char * filename;	offset:24;	size:8;	signed:0;
	field:int flags;	offset:32;	size:8;	signed:0;
	field:umode_t mode;	offset:40;	size:8;	signed:0;

print fmt: "dfd: 0x%08lx"
`;

const LSEEK = `name: sys_enter_lseek
ID: 700
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
	field:unsigned int fd;	offset:16;	size:8;	signed:0;
	field:off_t offset;	offset:24;	size:8;	signed:0;
	field:unsigned int whence;	offset:32;	size:8;	signed:0;

print fmt: "fd: 0x%08lx"
`;

const SWITCH = `name: sched_switch
ID: 300
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:char prev_comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t prev_pid;	offset:24;	size:4;	signed:1;
	field:int prev_prio;	offset:28;	size:4;	signed:1;
	field:long prev_state;	offset:32;	size:8;	signed:1;
	field:char next_comm[16];	offset:40;	size:16;	signed:0;
	field:pid_t next_pid;	offset:56;	size:4;	signed:1;
	field:int next_prio;	offset:60;	size:4;	signed:1;

print fmt: "prev_comm=%s"
`;

function field(format: EventFormat, name: string) {
  return format.fields.find((f) => f.name === name)!;
}

describe('declared C types of syscall slots', () => {
  const openat = parseEventFormat(OPENAT, 'syscalls');
  const lseek = parseEventFormat(LSEEK, 'syscalls');

  it('knows the integer types of syscall arguments', () => {
    expect(declaredInteger('int')).toEqual({ size: 4, signed: true });
    expect(declaredInteger('unsigned int')).toEqual({ size: 4, signed: false });
    expect(declaredInteger('umode_t')).toEqual({ size: 2, signed: false });
    expect(declaredInteger('const char *')).toEqual({ size: 8, signed: false });
    expect(declaredInteger('struct robust_list_head * *')).toEqual({ size: 8, signed: false });
    expect(declaredInteger('const clockid_t')).toEqual({ size: 4, signed: true });
    expect(declaredInteger('size_t')).toEqual({ size: 8, signed: false });
    expect(declaredInteger('struct foo')).toBeUndefined();
  });

  it('narrows int, unsigned int and umode_t slots and keeps 64-bit values as signed longs', () => {
    expect(planField(field(openat, 'dfd'), true).decode).toMatchObject({ offset: 16, size: 4, signed: true });
    expect(planField(field(openat, 'dfd'), false).decode).toMatchObject({ offset: 20, size: 4, signed: true });
    expect(planField(field(openat, 'mode'), true).decode).toMatchObject({ offset: 40, size: 2, signed: false });
    expect(planField(field(lseek, 'fd'), true).decode).toMatchObject({ size: 4, signed: false });
    expect(planField(field(lseek, 'offset'), true).decode).toMatchObject({ size: 8, signed: true });
    expect(planField(field(openat, 'filename'), true).decode).toMatchObject({ size: 8, signed: true });
  });

  it('decodes AT_FDCWD as -100 whatever the upper half of the register held', () => {
    const plans = openat.fields.map((f) => planField(f, true).decode);
    const decode = compileDecoder({ ...openat, fields: plans, allFields: [...openat.commonFields, ...plans] },
      { fields: ['dfd', 'filename', 'flags', 'mode', 'offset'].filter((n) => n !== 'offset') });
    const rec = Buffer.alloc(48);
    rec.writeBigUInt64LE(0xffffff9cn, 16); // zero-extended -100
    rec.writeBigUInt64LE(0x80000000deadbeefn, 24); // above 2^63: a negative long beyond 2^53, so a bigint
    rec.writeBigUInt64LE(0x80000n, 32);
    rec.writeBigUInt64LE(0x1_01a4n, 40); // umode_t 0644 with garbage above bit 16
    expect(decode(rec, 0)).toEqual({ dfd: -100, filename: BigInt.asIntN(64, 0x80000000deadbeefn), flags: 0x80000, mode: 0o644 });
    rec.writeBigUInt64LE(0xffffffffffffff9cn, 16); // sign-extended -100
    rec.writeBigUInt64LE(0xffffffff81000000n, 24); // a kernel address: a long within 2^53, so a number
    expect(decode(rec, 0)).toMatchObject({ dfd: -100, filename: -2130706432 });
  });

  it('says how the kernel filter sees each field', () => {
    expect(planField(field(openat, 'dfd'), true).filter).toEqual({ kind: 'none' });
    expect(planField(field(openat, 'filename'), true).filter).toEqual({ kind: 'none' });
    expect(planField(field(lseek, 'offset'), true).filter).toEqual({ kind: 'int', bits: 64, kernelSigned: false, valueSigned: true });
    const sw = parseEventFormat(SWITCH, 'sched');
    expect(planField(field(sw, 'prev_pid'), true).filter).toEqual({ kind: 'int', bits: 32, kernelSigned: true, valueSigned: true });
    expect(planField(field(sw, 'prev_state'), true).filter).toEqual({ kind: 'int', bits: 64, kernelSigned: true, valueSigned: true });
    expect(planField(field(sw, 'prev_comm'), true).filter).toEqual({ kind: 'string', capacity: 16 });
  });
});

describe('integer comparisons', () => {
  const OPS = ['==', '!=', '<', '<=', '>', '>='] as const;
  const holds = (op: string, a: number, b: number) =>
    op === '==' ? a === b : op === '!=' ? a !== b : op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;

  it('a field the kernel reads unsigned but the handler signed: the filter accepts exactly what the handler does', () => {
    // Exhaustive over 8-bit values: the emitted text is also valid JavaScript over `x`.
    const view = { kind: 'int' as const, bits: 8, kernelSigned: false, valueSigned: true };
    for (const op of OPS) {
      for (let c = -128; c <= 127; c++) {
        const text = integerComparison('x', view, op, BigInt(c))!;
        const kernel = new Function('x', `return ${text};`) as (x: number) => boolean;
        for (let u = 0; u < 256; u++) {
          const s = u >= 128 ? u - 256 : u;
          if (kernel(u) !== holds(op, s, c)) throw new Error(`${text} at u=${u}: kernel ${kernel(u)}, handler ${holds(op, s, c)}`);
        }
      }
    }
  });

  it('writes 64-bit constants as the kernel parses them', () => {
    const view = { kind: 'int' as const, bits: 64, kernelSigned: false, valueSigned: true };
    expect(integerComparison('offset', view, '==', -1n)).toBe('offset == 18446744073709551615');
    expect(integerComparison('offset', view, '<', 0n)).toBe('(offset < 0 || offset >= 9223372036854775808)');
  });

  it('refuses constants outside the field type (the kernel would truncate them)', () => {
    const pid = { kind: 'int' as const, bits: 32, kernelSigned: true, valueSigned: true };
    expect(integerComparison('pid', pid, '==', 4294967295n)).toBeUndefined();
    expect(integerComparison('pid', pid, '==', -1n)).toBe('pid == -1');
    const u16 = { kind: 'int' as const, bits: 16, kernelSigned: false, valueSigned: false };
    expect(integerComparison('x', u16, '>', -1n)).toBeUndefined();
    expect(integerComparison('x', u16, '>', 65535n)).toBe('x > 65535');
    // The handler unsigned, the kernel signed: never pushed.
    expect(integerComparison('x', { ...u16, kernelSigned: true }, '==', 5n)).toBeUndefined();
  });
});

describe('string operands', () => {
  it('quotes printable ASCII, and refuses what the grammar cannot carry', () => {
    expect(quoteFilterString('cat')).toBe('"cat"');
    expect(quoteFilterString('say "hi"')).toBe(`'say "hi"'`);
    expect(quoteFilterString(`it's "x"`)).toBeUndefined();
    expect(quoteFilterString('a\\b')).toBeUndefined();
    expect(quoteFilterString('caf\xe9')).toBeUndefined();
    expect(quoteFilterString('')).toBeUndefined();
    expect(quoteFilterString('x'.repeat(256))).toBeUndefined();
  });
});

describe('combining the probes of one event', () => {
  it('ORs the filters, deduplicates them, and gives up when one probe needs every event', () => {
    expect(eventFilter(['a == 1'])).toBe('a == 1');
    expect(eventFilter(['a == 1', 'b == 2 && c == 3', 'a == 1'])).toBe('(a == 1) || (b == 2 && c == 3)');
    expect(eventFilter(['a == 1', undefined])).toBeUndefined();
    expect(eventFilter([])).toBeUndefined();
    expect(eventFilter(['x == 1'.repeat(700)])).toBeUndefined();
  });
});

// Probe conditions as the elaborator produces them (kernel.trace needs the running kernel's event formats).
const noTracefs = missingFeature('syscall-tracepoints');
function elaborate(script: string): DerivedProbe[] {
  const opts: Options = {
    scriptText: script, extraScripts: [], args: [], lastPass: 2, verbose: 0, guru: false, includeDirs: [],
    defines: new Map(), globalsInit: new Map(), unoptimized: false, suppressWarnings: true, warningsAsErrors: false,
  };
  let errors = '';
  const p1 = pass1(opts, (s) => { errors += s; });
  const program = p1 && pass2(opts, p1, (s) => { errors += s; });
  if (!program) throw new Error(errors);
  return program.probes.filter((p) => p.point.kind === 'tracepoint');
}
const FORMATS: Record<string, EventFormat> = {
  'sched_switch': parseEventFormat(SWITCH, 'sched'),
  'sys_enter_openat': parseEventFormat(OPENAT, 'syscalls'),
  'sys_enter_lseek': parseEventFormat(LSEEK, 'syscalls'),
};
function filterOf(script: string, maxStringLen = 512): string | undefined {
  const [probe] = elaborate(script);
  const point = probe!.point as { event: string };
  const format = FORMATS[point.event]!;
  const ctx: PushdownContext = {
    maxStringLen,
    field: (i) => {
      const f = format.fields.find((x) => x.name === probe!.fields[i]!.name);
      return f && { name: f.name, view: planField(f, true).filter };
    },
  };
  return probeFilter(probe!, ctx);
}
const SW = 'global n; probe kernel.trace("sched:sched_switch")';

describe.skipIf(!!noTracefs)('pushdown of probe conditions', () => {
  it('pushes comparisons of fields with constants, either way round', () => {
    expect(filterOf(`${SW} { if ($prev_pid == 5) n++ }`)).toBe('prev_pid == 5');
    expect(filterOf(`${SW} { if (5 < $prev_pid && $next_pid != -3) n++ }`)).toBe('prev_pid > 5 && next_pid != -3');
    expect(filterOf(`${SW} { { if ($prev_state) { n++ } } }`)).toBe('prev_state != 0');
  });

  it('pushes tid(), cpu() and execname(), but not pid(), which common_pid cannot express', () => {
    expect(filterOf(`${SW} { if (tid() == 7 && cpu() != 1) n++ }`)).toBe('common_pid == 7 && CPU != 1');
    expect(filterOf(`${SW} { if (execname() == "cat") n++ }`)).toBe('COMM == "cat"');
    expect(filterOf(`${SW} { if (pid() == 7) n++ }`)).toBeUndefined();
    expect(filterOf(`${SW} { if (pid() == target() && $next_pid == 1) n++ }`)).toBe('next_pid == 1');
  });

  it('pushes strings only when the handler could not see a cut-off value', () => {
    expect(filterOf(`${SW} { if ($prev_comm == "bash" || $next_comm != "sh") n++ }`)).toBe('(prev_comm == "bash" || next_comm != "sh")');
    expect(filterOf(`${SW} { if ($prev_comm == "fifteen-chars-x") n++ }`)).toBe('prev_comm == "fifteen-chars-x"');
    expect(filterOf(`${SW} { if ($prev_comm == "sixteen-chars-xx") n++ }`)).toBeUndefined();
    expect(filterOf(`${SW} { if ($prev_comm == "bash") n++ }`, 4)).toBeUndefined();
    expect(filterOf(`${SW} { if (execname() == "a\\"b") n++ }`)).toBe(`COMM == 'a"b'`);
  });

  it('keeps logical structure: ! and || of pushable comparisons', () => {
    expect(filterOf(`${SW} { if (!($prev_pid == 5) || $next_pid < -3) n++ }`)).toBe('(!(prev_pid == 5) || next_pid < -3)');
    // One side of || cannot be expressed: the whole disjunction stays in the handler.
    expect(filterOf(`${SW} { if ($prev_pid == 5 || pid() == 3) n++ }`)).toBeUndefined();
  });

  it('stops at the first conjunct whose evaluation has an effect', () => {
    expect(filterOf(`${SW} { if (n++ && $prev_pid == 5) n++ }`)).toBeUndefined();
    expect(filterOf(`${SW} { if ($prev_pid == 5 && n++ > 0 && $next_pid == 3) n++ }`)).toBe('prev_pid == 5');
    expect(filterOf(`${SW} { if (pid() > 0 && $prev_pid == 5) n++ }`)).toBe('prev_pid == 5');
    expect(filterOf(`${SW} { if (100 / $prev_pid > 1 && $next_pid == 3) n++ }`)).toBeUndefined();
  });

  it('pushes nothing unless the body is a lone if without else', () => {
    expect(filterOf(`${SW} { n++; if ($prev_pid == 5) n++ }`)).toBeUndefined();
    expect(filterOf(`${SW} { if ($prev_pid == 5) n++ else n-- }`)).toBeUndefined();
    expect(filterOf(`${SW} { n++ }`)).toBeUndefined();
  });

  it('never pushes narrowed syscall slots or char pointers; pushes reinterpreted 64-bit slots exactly', () => {
    const OPEN = 'global n; probe kernel.trace("syscalls:sys_enter_openat")';
    expect(filterOf(`${OPEN} { if ($dfd == -100) n++ }`)).toBeUndefined();
    expect(filterOf(`${OPEN} { if ($filename == 0) n++ }`)).toBeUndefined();
    const LS = 'global n; probe kernel.trace("syscalls:sys_enter_lseek")';
    expect(filterOf(`${LS} { if ($offset < 0) n++ }`)).toBe('(offset < 0 || offset >= 9223372036854775808)');
    expect(filterOf(`${LS} { if ($offset == -1) n++ }`)).toBe('offset == 18446744073709551615');
  });
});
