/**
 * Resolves kernel probe points to kprobe points: `kernel.function("f")` (globs over the functions
 * tracing can attach to, compiler clones such as `f.isra.0`, `.call`, `.exported`, `.return`,
 * `.maxactive(N)`), `module("m").function("f")`, `kprobe.function("f")`, `kprobe.module("m")...`
 * and `kernel.statement(ADDR)` / `kprobe.statement(ADDR).absolute` (symbolised through kallsyms).
 */
import { existsSync, readFileSync } from 'node:fs';
import type * as A from '../../parser/ast.js';
import { SemanticError } from '../../diagnostics/diagnostics.js';
import { hasGlob, globToRegExp } from '../../glob.js';
import { Kallsyms, listKernelFunctions, type KernelFunction } from '../../symbols/kallsyms.js';
import type { Concrete } from '../providers.js';
import type { ConcretePoint } from '../program.js';
import type { CDeclaration } from '../../symbols/c-declarations.js';
import { suggest } from '../suggest.js';
import { NO_VALUES, cloneBase, kernelFunctionValues, kernelRegisterMap, recordSite } from './site.js';

type Comps = A.PPComponent[];
type KprobePoint = Extract<ConcretePoint, { kind: 'kprobe' }>;

const strArg = (c: A.PPComponent | undefined): string | undefined => (c?.arg?.kind === 'str' ? c.arg.value : undefined);
const numArg = (c: A.PPComponent | undefined): bigint | undefined => (c?.arg?.kind === 'num' ? c.arg.value : undefined);

/** Where the kprobe blacklist is, when debugfs is mounted. */
const BLACKLIST = '/sys/kernel/debug/kprobes/blacklist';

interface FunctionShape {
  kind: 'function';
  /** 'vmlinux' for the core kernel, a module name or glob, or undefined for any. */
  module: string | undefined;
  pattern: string;
  call: boolean;
  exported: boolean;
  isReturn: boolean;
  maxactive: number | undefined;
  /** How pp() spells the part before `.function(...)`. */
  ppHead: string;
}

interface StatementShape {
  kind: 'statement';
  address: bigint;
  ppHead: string;
  absolute: boolean;
}

/** Concrete kprobe points for `kernel.*`, `module(...).*` and `kprobe.*` probe points. */
export function resolveKprobePoints(comps: Comps, declarations: Declarations): Concrete[] {
  // The providers checked kprobe_events already; what else is needed is read from kallsyms and BTF.
  const shape = parseShape(comps);
  return shape.kind === 'function' ? functionPoints(shape, comps, declarations) : [statementPoint(shape, comps, declarations)];
}

/** The tapset library's declarations of kernel functions BTF leaves out. */
type Declarations = () => ReadonlyMap<string, CDeclaration>;

function parseShape(comps: Comps): FunctionShape | StatementShape {
  const head = comps[0]!;
  let i = 1;
  let module: string | undefined;
  let ppHead: string;
  if (head.name === 'kernel') {
    module = 'vmlinux';
    ppHead = 'kernel';
  } else if (head.name === 'module') {
    module = strArg(head);
    if (module === undefined) throw new SemanticError('module needs a string argument: module("ext4").function("...")', head.tok);
    ppHead = `module("${module}")`;
  } else {
    // kprobe.function("f") probes the core kernel; kprobe.module("m").function("f") a module.
    ppHead = 'kprobe';
    module = 'vmlinux';
    if (comps[1]?.name === 'module') {
      module = strArg(comps[1]);
      if (module === undefined) throw new SemanticError('module needs a string argument: kprobe.module("ext4").function("...")', comps[1].tok);
      ppHead = `kprobe.module("${module}")`;
      i = 2;
    }
  }
  const what = comps[i];
  if (!what) throw mismatch(comps);
  const rest = comps.slice(i + 1);
  if (what.name === 'statement') {
    const literal = numArg(what);
    if (literal === undefined) {
      throw new SemanticError('statement("func@file:line") needs DWARF line tables, which tstap does not read; give an address: kernel.statement(0xffffffff81234567)', what.tok);
    }
    if (head.name === 'module' || ppHead.startsWith('kprobe.module')) {
      throw new SemanticError('module statement probes need the module\'s DWARF; use kernel.statement(ADDR).absolute with a runtime address', what.tok);
    }
    if (!rest.every((c) => c.name === 'absolute')) throw mismatch(comps);
    // Script numbers are signed 64-bit; kernel addresses are their unsigned reading.
    return { kind: 'statement', address: BigInt.asUintN(64, literal), ppHead, absolute: rest.length > 0 };
  }
  if (what.name !== 'function') throw mismatch(comps);
  const pattern = strArg(what);
  if (pattern === undefined) throw new SemanticError('function needs a string argument: .function("name")', what.tok);
  if (pattern.includes('@')) {
    throw new SemanticError(`function("${pattern}"): matching kernel functions by source file needs the kernel's DWARF, which tstap does not read; give the function name`, what.tok);
  }
  const shape: FunctionShape = { kind: 'function', module, pattern, call: false, exported: false, isReturn: false, maxactive: undefined, ppHead };
  for (const c of rest) {
    switch (c.name) {
      case 'call': shape.call = true; break;
      case 'exported': shape.exported = true; break;
      case 'return': shape.isReturn = true; break;
      case 'maxactive': {
        const n = numArg(c);
        if (!shape.isReturn) throw new SemanticError('maxactive applies to .return probes only', c.tok);
        if (n === undefined || n < 0n || n > 4096n) throw new SemanticError('maxactive needs a number from 0 to 4096', c.tok);
        shape.maxactive = Number(n);
        break;
      }
      case 'inline':
        throw new SemanticError('.inline probes need the kernel\'s DWARF inline instances, which tstap does not read; probe the calling function', c.tok);
      case 'label':
        throw new SemanticError('.label probes need the kernel\'s DWARF, which tstap does not read', c.tok);
      default:
        throw mismatch(comps);
    }
  }
  return shape;
}

function mismatch(comps: Comps): SemanticError {
  const text = comps.map((c) => c.name + (c.arg ? `(${c.arg.kind === 'str' ? JSON.stringify(c.arg.value) : c.arg.value})` : '')).join('.');
  return new SemanticError(`probe point mismatch: '${text}' is not a kernel function or statement probe point`, comps[0]!.tok);
}

let kallsymsCache: Kallsyms | undefined;
function kallsyms(): Kallsyms {
  kallsymsCache ??= Kallsyms.load();
  return kallsymsCache;
}

/** Functions kprobes refuse (debugfs kprobes/blacklist), when readable; globs skip them silently. */
function blacklist(): Set<string> {
  const names = new Set<string>();
  if (!existsSync(BLACKLIST)) return names;
  try {
    for (const line of readFileSync(BLACKLIST, 'utf8').split('\n')) {
      const name = line.split(/\s+/)[1];
      if (name) names.add(name);
    }
  } catch {
    // Unreadable: the kernel will refuse blacklisted functions when they are armed.
  }
  return names;
}

/** Symbols that are not functions one can probe: ftrace padding and CFI stubs, cold split-off parts. */
function probeable(name: string): boolean {
  return !name.startsWith('__pfx_') && !name.startsWith('__cfi_') && !/\.cold(\.\d+)?$/.test(name);
}

function moduleMatches(wanted: string | undefined, module: string | undefined): boolean {
  if (wanted === undefined) return true;
  if (wanted === 'vmlinux') return module === undefined;
  if (module === undefined) return false;
  return hasGlob(wanted) ? globToRegExp(wanted).test(module) : wanted === module;
}

function functionPoints(shape: FunctionShape, comps: Comps, declarations: Declarations): Concrete[] {
  const at = comps.find((c) => c.name === 'function')!;
  let list: readonly KernelFunction[];
  try {
    list = listKernelFunctions().functions;
  } catch (err) {
    throw new SemanticError(`cannot list kernel functions: ${(err as Error).message}`, at.tok);
  }
  const inModule = list.filter((f) => moduleMatches(shape.module, f.module) && probeable(f.name));
  let matched: KernelFunction[];
  if (hasGlob(shape.pattern)) {
    const re = globToRegExp(shape.pattern);
    const refused = blacklist();
    // A glob matches a clone (`f.isra.0`) through its base name as well as its own.
    matched = inModule.filter((f) => (re.test(f.name) || re.test(cloneBase(f.name) ?? '')) && !refused.has(f.name));
  } else {
    matched = inModule.filter((f) => f.name === shape.pattern);
    if (matched.length === 0) matched = inModule.filter((f) => cloneBase(f.name) === shape.pattern);
    if (matched.length === 0) matched = notraceFunctions(shape);
    if (matched.length === 0 && shape.pattern.startsWith('sys_')) {
      // Scripts written before syscall wrappers (Linux 4.17) name sys_NAME; the entry point is now __x64_sys_NAME.
      const wrapper = `${kernelRegisterMap().syscallWrapperPrefix}${shape.pattern}`;
      matched = inModule.filter((f) => f.name === wrapper);
      if (matched.length === 0) matched = notraceFunctions({ ...shape, pattern: wrapper });
    }
    if (matched.length === 0) {
      const where = shape.module === 'vmlinux' ? 'the kernel' : shape.module === undefined ? 'the kernel or its modules' : `module ${shape.module}`;
      throw new SemanticError(`no function '${shape.pattern}' in ${where}${suggest(shape.pattern, inModule.map((f) => f.name))}`, at.tok);
    }
  }
  if (shape.exported) {
    const syms = kallsyms();
    matched = matched.filter((f) => syms.lookup(`__ksymtab_${f.name}`).length > 0);
  }
  // One point per (module, symbol): the function list can repeat a name.
  const seen = new Set<string>();
  const regs = kernelRegisterMap();
  const out: Concrete[] = [];
  for (const f of matched) {
    const key = `${f.module ?? ''}\0${f.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const point: KprobePoint = { kind: 'kprobe', symbol: f.name, isReturn: shape.isReturn, fetches: [] };
    if (f.module !== undefined) point.module = f.module;
    if (shape.maxactive !== undefined) point.maxactive = shape.maxactive;
    const shown = cloneBase(f.name) ?? f.name;
    const ppHead = shape.ppHead === 'kernel' && f.module !== undefined ? `module("${f.module}")` : shape.ppHead;
    const pp = `${ppHead}.function("${shown}")${shape.call ? '.call' : ''}${shape.exported ? '.exported' : ''}` +
      `${shape.isReturn ? '.return' : ''}${shape.maxactive !== undefined ? `.maxactive(${shape.maxactive})` : ''}`;
    recordSite(point, {
      space: 'kernel', isReturn: shape.isReturn, what: `kernel function ${f.name}${f.module ? ` [${f.module}]` : ''}`,
      atFunctionEntry: true, regs, module: f.module, values: kernelFunctionValues(f.name, f.module, regs, declarations),
    });
    out.push({ point, pp, fields: [] });
  }
  return out;
}

/**
 * Functions tracing cannot attach to (notrace, so not in available_filter_functions) can still take
 * an int3 kprobe: look the exact name up in kallsyms.
 */
function notraceFunctions(shape: FunctionShape): KernelFunction[] {
  let syms: Kallsyms;
  try {
    syms = kallsyms();
  } catch {
    return [];
  }
  return syms
    .lookup(shape.pattern)
    .filter((s) => /^[tTwW]$/.test(s.type) && moduleMatches(shape.module, s.module))
    .map((s) => ({ name: s.name, module: s.module }));
}

function statementPoint(shape: StatementShape, comps: Comps, declarations: Declarations): Concrete {
  const at = comps.find((c) => c.name === 'statement')!;
  let hit;
  try {
    hit = kallsyms().symbolize(shape.address);
  } catch (err) {
    throw new SemanticError(`cannot place kernel.statement(0x${shape.address.toString(16)}): ${(err as Error).message}`, at.tok);
  }
  if (!hit || !/^[tTwW]$/.test(hit.symbol.type)) {
    throw new SemanticError(`0x${shape.address.toString(16)} is not inside a kernel function (per /proc/kallsyms)`, at.tok);
  }
  const offset = Number(hit.offset);
  const point: KprobePoint = { kind: 'kprobe', symbol: hit.symbol.name, isReturn: false, fetches: [] };
  if (offset !== 0) point.offset = offset;
  if (hit.symbol.module !== undefined) point.module = hit.symbol.module;
  const regs = kernelRegisterMap();
  recordSite(point, {
    space: 'kernel', isReturn: false, what: `kernel address 0x${shape.address.toString(16)} (${hit.symbol.name}+0x${hit.offset.toString(16)})`,
    atFunctionEntry: offset === 0, regs, module: hit.symbol.module,
    values: offset === 0 ? kernelFunctionValues(hit.symbol.name, hit.symbol.module, regs, declarations) : NO_VALUES,
  });
  return { point, pp: `${shape.ppHead}.statement(0x${shape.address.toString(16)})${shape.absolute ? '.absolute' : ''}`, fields: [] };
}
