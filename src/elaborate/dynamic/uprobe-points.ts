/**
 * Resolves `process("path")...` probe points on user code to uprobe points: functions (globs,
 * `.call`, `.exported`, `.return`), `.statement(ADDR)`, `.plt("name")`, `.mark("name")` USDT
 * probes (with semaphores) and `.library("lib")` prefixes, each at the file offset uprobe_events
 * wants, computed from the ELF program headers (PIE and non-PIE alike).
 */
import { basename, dirname } from 'node:path';
import type * as A from '../../parser/ast.js';
import { SemanticError } from '../../diagnostics/diagnostics.js';
import { parseSdtArguments, readElf, type ElfFile, type ElfSymbol } from '../../symbols/elf.js';
import { hasGlob, globToRegExp } from '../../glob.js';
import { readDwarf } from '../../symbols/dwarf.js';
import { ResolveError, findLibraries, libraryNameMatcher, resolveLibrary, resolveProcessPaths } from '../../symbols/resolve-path.js';
import type { Concrete } from '../providers.js';
import type { ConcretePoint } from '../program.js';
import type { SystemView } from '../system.js';
import { NO_VALUES, recordSite, registerMapForMachine, userFunctionValues, type Site } from './site.js';

type Comps = A.PPComponent[];

const strArg = (c: A.PPComponent | undefined): string | undefined => (c?.arg?.kind === 'str' ? c.arg.value : undefined);
const numArg = (c: A.PPComponent | undefined): bigint | undefined => (c?.arg?.kind === 'num' ? c.arg.value : undefined);

/** An ELF object to probe and how pp() names it. */
interface Target {
  elf: ElfFile;
  path: string;
}

/** The shape after `process("...")[.library("...")]`. */
type Shape =
  | { kind: 'function'; pattern: string; call: boolean; exported: boolean; isReturn: boolean }
  | { kind: 'statement'; address: bigint; isReturn: false }
  | { kind: 'plt'; pattern: string | undefined; isReturn: boolean }
  | { kind: 'mark'; provider: string | undefined; name: string };

const SHAPE_HEADS = new Set(['function', 'statement', 'plt', 'mark', 'provider']);

/**
 * Concrete uprobe points for a `process(...)` probe point, or undefined for shapes that are not
 * about code locations (begin, end, syscall...), which other families serve.
 */
export function resolveUprobePoints(comps: Comps, system: SystemView): Concrete[] | undefined {
  const head = comps[0]!;
  let rest = comps.slice(1);
  if (rest.length === 0) return undefined;
  const libraryComp = rest[0]!.name === 'library' ? rest[0]! : undefined;
  if (libraryComp) rest = rest.slice(1);
  if (rest.length === 0 || !SHAPE_HEADS.has(rest[0]!.name)) return undefined;
  const shape = parseShape(rest);
  if (!shape) return undefined;

  const spec = strArg(head);
  if (spec === undefined) {
    throw new SemanticError(`${head.name}.${rest[0]!.name} needs the program to probe: write process("path").${rest[0]!.name}(...)`, head.tok);
  }
  requireFeature(system, 'uprobeEvents',
    'this kernel has no uprobe events (CONFIG_UPROBE_EVENTS: no uprobe_events in tracefs), so process(...).function probes cannot be placed', head);
  let programs: string[];
  try {
    programs = resolveProcessPaths(spec);
  } catch (err) {
    if (err instanceof ResolveError) throw new SemanticError(`cannot find process("${spec}"): ${err.message}`, head.tok);
    throw err;
  }
  if (programs.length === 0) throw new SemanticError(`process("${spec}") matches no ELF file`, head.tok);

  const targets: Target[] = [];
  for (const program of programs) {
    if (libraryComp) {
      const lib = strArg(libraryComp);
      if (lib === undefined) throw new SemanticError('library needs a string argument: .library("libc.so.6")', libraryComp.tok);
      for (const path of librariesOf(program, lib, libraryComp)) targets.push({ elf: openElf(path, libraryComp), path });
    } else {
      targets.push({ elf: openElf(program, head), path: program });
    }
  }

  const out: Concrete[] = [];
  for (const target of targets) {
    const found = pointsIn(target, shape, rest, system);
    out.push(...found);
  }
  if (out.length === 0) {
    const where = targets.map((t) => t.path).join(', ');
    throw new SemanticError(`no match for ${describeShape(shape)} in ${where}`, rest[0]!.tok);
  }
  return out;
}

function parseShape(rest: Comps): Shape | undefined {
  const names = rest.map((c) => c.name);
  const first = rest[0]!;
  const tailIs = (from: number, allowed: readonly string[]) => names.slice(from).every((n) => allowed.includes(n));
  switch (first.name) {
    case 'function': {
      const pattern = strArg(first);
      if (pattern === undefined) throw new SemanticError('function needs a string argument: .function("name")', first.tok);
      for (const c of rest.slice(1)) {
        if (c.name === 'inline') throw new SemanticError('.inline probes need DWARF inline instances, which tstap does not read; probe the calling function', c.tok);
        if (c.name === 'label') throw new SemanticError('.label probes need DWARF labels, which tstap does not read; use .statement(ADDR)', c.tok);
        if (c.name === 'callee' || c.name === 'callees') throw new SemanticError(`.${c.name} probes need DWARF call sites, which tstap does not read`, c.tok);
      }
      if (!tailIs(1, ['call', 'exported', 'return'])) return undefined;
      if (names.indexOf('return') >= 0 && names.indexOf('return') !== names.length - 1) return undefined;
      return { kind: 'function', pattern, call: names.includes('call'), exported: names.includes('exported'), isReturn: names.includes('return') };
    }
    case 'statement': {
      const address = numArg(first);
      if (address === undefined) {
        throw new SemanticError('statement("func@file:line") needs DWARF line tables, which tstap does not read; give an address: .statement(0x1139)', first.tok);
      }
      if (!tailIs(1, ['absolute'])) return undefined;
      return { kind: 'statement', address: BigInt.asUintN(64, address), isReturn: false };
    }
    case 'plt': {
      if (first.arg && first.arg.kind !== 'str') throw new SemanticError('plt takes a string argument: .plt("puts")', first.tok);
      if (!tailIs(1, ['return'])) return undefined;
      return { kind: 'plt', pattern: strArg(first), isReturn: names.length === 2 };
    }
    case 'mark':
    case 'provider': {
      let provider: string | undefined;
      let markComp = first;
      if (first.name === 'provider') {
        provider = strArg(first);
        if (provider === undefined) throw new SemanticError('provider needs a string argument: .provider("name")', first.tok);
        if (rest[1]?.name !== 'mark') return undefined;
        markComp = rest[1];
        if (rest.length !== 2) return undefined;
      } else if (rest.length !== 1) return undefined;
      const name = strArg(markComp);
      if (name === undefined) throw new SemanticError('mark needs a string argument: .mark("name")', markComp.tok);
      return { kind: 'mark', provider, name };
    }
  }
  return undefined;
}

function describeShape(shape: Shape): string {
  switch (shape.kind) {
    case 'function': return `function("${shape.pattern}")`;
    case 'statement': return `statement(0x${shape.address.toString(16)})`;
    case 'plt': return shape.pattern === undefined ? 'plt' : `plt("${shape.pattern}")`;
    case 'mark': return `${shape.provider !== undefined ? `provider("${shape.provider}").` : ''}mark("${shape.name}")`;
  }
}

/**
 * A kernel facility the point needs, or `why` as a semantic error; when tracefs cannot be read at
 * all (not root, -p2), arming will say what is wrong instead.
 */
function requireFeature(system: SystemView, feature: 'uprobeEvents' | 'refCtrOffset', why: string, at: A.PPComponent): void {
  let have: boolean;
  try {
    have = system.features()[feature];
  } catch {
    return;
  }
  if (!have) throw new SemanticError(why, at.tok);
}

function openElf(path: string, at: A.PPComponent): ElfFile {
  if (/\s/.test(path)) throw new SemanticError(`cannot place uprobes in ${JSON.stringify(path)}: uprobe_events cannot express a path with whitespace`, at.tok);
  let elf: ElfFile;
  try {
    elf = readElf(path);
  } catch (err) {
    throw new SemanticError(`cannot read ${path} as ELF: ${(err as Error).message}`, at.tok);
  }
  try {
    registerMapForMachine(elf.machine, path);
  } catch (err) {
    throw new SemanticError((err as Error).message, at.tok);
  }
  return elf;
}

/**
 * The shared libraries `program` loads that match `spec`: its DT_NEEDED closure first (searched
 * with its RUNPATH like the dynamic loader), then the system library path (for dlopen'ed ones).
 */
function librariesOf(program: string, spec: string, at: A.PPComponent): string[] {
  if (spec.includes('/')) {
    try {
      return resolveProcessPaths(spec);
    } catch (err) {
      throw new SemanticError(`cannot find library("${spec}"): ${(err as Error).message}`, at.tok);
    }
  }
  const matches = libraryNameMatcher(spec);
  const found: string[] = [];
  const seen = new Set<string>();
  const queue: { path: string }[] = [{ path: program }];
  while (queue.length) {
    const { path } = queue.shift()!;
    let elf: ElfFile;
    try {
      elf = readElf(path);
    } catch {
      continue;
    }
    const origin = dirname(path);
    const runpath = elf.runpath.map((d) => d.replace(/\$(ORIGIN|\{ORIGIN\})/g, origin));
    const ldLibraryPath = [...runpath, ...(process.env['LD_LIBRARY_PATH'] ?? '').split(':').filter((d) => d !== '')].join(':');
    for (const needed of elf.needed) {
      let lib: string;
      try {
        lib = resolveLibrary(needed, { ldLibraryPath });
      } catch {
        continue;
      }
      if (seen.has(lib)) continue;
      seen.add(lib);
      if (matches(needed) || matches(basename(lib))) found.push(lib);
      queue.push({ path: lib });
    }
  }
  if (found.length) return found;
  const elsewhere = findLibraries(spec);
  if (elsewhere.length) return elsewhere;
  throw new SemanticError(`${program} does not load a library matching "${spec}" (searched its DT_NEEDED libraries, LD_LIBRARY_PATH, ld.so.cache and the standard directories)`, at.tok);
}

function fileOffset(elf: ElfFile, vaddr: number, what: string, at: A.PPComponent): number {
  try {
    return elf.vaddrToFileOffset(vaddr);
  } catch (err) {
    throw new SemanticError(`cannot place a uprobe on ${what}: ${(err as Error).message}`, at.tok);
  }
}

function pointsIn(target: Target, shape: Shape, rest: Comps, system: SystemView): Concrete[] {
  const { elf, path } = target;
  const regs = registerMapForMachine(elf.machine, path);
  const prefix = `process("${path}")`;
  const at = rest[0]!;
  const out: Concrete[] = [];
  const add = (point: Extract<ConcretePoint, { kind: 'uprobe' }>, pp: string, site: Site) => {
    recordSite(point, site);
    out.push({ point, pp, fields: [] });
  };

  switch (shape.kind) {
    case 'function': {
      const [name, file] = splitAtFile(shape.pattern, at);
      for (const sym of matchUserFunctions(elf, name, file, shape.exported)) {
        const offset = fileOffset(elf, sym.value, `function ${sym.name} in ${path}`, at);
        const suffix = `${shape.call ? '.call' : ''}${shape.isReturn ? '.return' : ''}`;
        add(
          { kind: 'uprobe', path, symbol: sym.name, offset, isReturn: shape.isReturn, fetches: [] },
          `${prefix}.function("${sym.name}")${suffix}`,
          {
            space: 'user', isReturn: shape.isReturn, what: `function ${sym.name} in ${path}`, atFunctionEntry: true, regs, elf,
            values: userFunctionValues(elf, sym.name, sym.value),
          },
        );
      }
      break;
    }
    case 'statement': {
      const vaddr = Number(shape.address);
      const offset = fileOffset(elf, vaddr, `address 0x${vaddr.toString(16)} of ${path}`, at);
      const fn = elf.functionContaining(vaddr);
      const atEntry = fn !== undefined && fn.value === vaddr;
      add(
        { kind: 'uprobe', path, symbol: fn ? (atEntry ? fn.name : `${fn.name}+0x${(vaddr - fn.value).toString(16)}`) : `0x${vaddr.toString(16)}`, offset, isReturn: false, fetches: [] },
        `${prefix}.statement(0x${vaddr.toString(16)})${rest.some((c) => c.name === 'absolute') ? '.absolute' : ''}`,
        {
          space: 'user', isReturn: false, what: `address 0x${vaddr.toString(16)} in ${path}`, atFunctionEntry: atEntry, regs, elf,
          // At a function's first instruction its parameters are where the ABI puts them.
          values: atEntry ? userFunctionValues(elf, fn.name, fn.value) : NO_VALUES,
        },
      );
      break;
    }
    case 'plt': {
      const re = shape.pattern === undefined ? undefined : hasGlob(shape.pattern) ? globToRegExp(shape.pattern) : undefined;
      for (const entry of elf.pltEntries()) {
        if (shape.pattern !== undefined && (re ? !re.test(entry.name) : entry.name !== shape.pattern)) continue;
        const offset = fileOffset(elf, entry.address, `the PLT stub of ${entry.name} in ${path}`, at);
        add(
          { kind: 'uprobe', path, symbol: `${entry.name}@plt`, offset, isReturn: shape.isReturn, fetches: [] },
          `${prefix}.plt("${entry.name}")${shape.isReturn ? '.return' : ''}`,
          // A PLT stub runs with the callee's arguments in the ABI registers; their types are the callee's business.
          { space: 'user', isReturn: shape.isReturn, what: `the PLT stub of ${entry.name} in ${path}`, atFunctionEntry: true, regs, elf, values: NO_VALUES },
        );
      }
      break;
    }
    case 'mark': {
      const nameRe = globToRegExp(shape.name);
      const providerRe = shape.provider === undefined ? undefined : globToRegExp(shape.provider);
      for (const probe of elf.sdtProbes()) {
        if (!nameRe.test(probe.name) || (providerRe && !providerRe.test(probe.provider))) continue;
        let refCtrOffset: number | undefined;
        if (probe.semaphore !== 0) {
          if (probe.semaphoreFileOffset === undefined) {
            throw new SemanticError(`the semaphore of USDT probe ${probe.provider}:${probe.name} in ${path} is not in the file, so uprobes cannot count on it`, at.tok);
          }
          // USDT semaphores are counted by the kernel only where uprobes take a ref_ctr_offset.
          requireFeature(system, 'refCtrOffset', 'this USDT probe is guarded by a semaphore, and this kernel\'s uprobes cannot maintain semaphores (no "(ref_ctr_offset)" in tracefs README); the program would never reach the probe', at);
          refCtrOffset = probe.semaphoreFileOffset;
        }
        const point: Extract<ConcretePoint, { kind: 'uprobe' }> = {
          kind: 'uprobe', path, symbol: `${probe.provider}:${probe.name}`, offset: probe.pcFileOffset, isReturn: false, fetches: [],
        };
        if (refCtrOffset !== undefined) point.refCtrOffset = refCtrOffset;
        add(point, `${prefix}.provider("${probe.provider}").mark("${probe.name}")`, {
          space: 'user', isReturn: false, what: `USDT probe ${probe.provider}:${probe.name} in ${path}`, atFunctionEntry: false, regs, elf,
          sdtArgs: parseSdtArguments(probe.args), values: NO_VALUES,
        });
      }
      break;
    }
  }
  return out;
}


/** stap's `func@file` form: the file part filters by the DWARF compile unit of the definition. */
function splitAtFile(pattern: string, at: A.PPComponent): [string, string | undefined] {
  const i = pattern.indexOf('@');
  if (i < 0) return [pattern, undefined];
  const file = pattern.slice(i + 1);
  if (/[:+]\d+$/.test(file) || file.includes(':')) {
    throw new SemanticError(`function("${pattern}"): line numbers need DWARF line tables, which tstap does not read; use .statement(ADDR)`, at.tok);
  }
  return [pattern.slice(0, i), file];
}

/**
 * Defined functions matching `name` (a glob or an exact name). When the object has DWARF, a glob
 * only matches functions the debug info describes (the program's own, not crt or PLT helpers), as
 * stap's DWARF-based matching does; `@file` filters on the compile unit.
 */
function matchUserFunctions(elf: ElfFile, name: string, file: string | undefined, exported: boolean): ElfSymbol[] {
  let symbols = elf.matchFunctions(name);
  // Several symbol names can share one address (aliases, dynsym + symtab): probe each address once.
  const byAddress = new Map<number, ElfSymbol>();
  for (const s of symbols) if (!byAddress.has(s.value)) byAddress.set(s.value, s);
  symbols = [...byAddress.values()];
  if (exported) symbols = symbols.filter((s) => s.table === 'dynsym' || elf.dynamicSymbols().some((d) => d.name === s.name && d.value === s.value));
  if (!hasGlob(name) && file === undefined) return symbols;
  let described: Map<number, string> | undefined;
  try {
    const dwarf = readDwarf(elf);
    described = new Map();
    for (const fname of dwarf.functionNames()) {
      if (!symbols.some((s) => s.name === fname)) continue;
      for (const fn of dwarf.functions(fname)) if (fn.lowPc !== undefined) described.set(fn.lowPc, fn.declFile ?? fn.compileUnit);
    }
  } catch {
    if (file !== undefined) return [];
    return symbols;
  }
  const fileRe = file === undefined ? undefined : globToRegExp(file);
  return symbols.filter((s) => {
    const source = described!.get(s.value);
    if (source === undefined) return false;
    return !fileRe || fileRe.test(source) || fileRe.test(basename(source));
  });
}
