/**
 * What a dynamic probe point sits on, as the fetch lowering needs it: user or kernel memory, entry
 * or return, and where each named value lives there (parameters with their C types and entry
 * locations from DWARF or BTF, ABI argument registers, USDT argument operands). Point resolution
 * records a site for every point it creates; lowering looks it up by the point.
 */
import { readDwarf, type DwarfFunction } from '../../symbols/dwarf.js';
import type { ElfFile, SdtArgument } from '../../symbols/elf.js';
import { loadKernelBtf, loadModuleBtf } from '../../symbols/btf.js';
import { x86_64Registers, EM_X86_64 } from '../../symbols/regs-x86_64.js';
import type { ArchRegisterMap, ArgLocation, CType, IntType, Param } from '../../symbols/types.js';
import { resolveDeclaration, type CDeclaration } from '../../symbols/c-declarations.js';
import type { ConcretePoint } from '../program.js';

/** A named value at the probe point: a parameter (or SDT argument) with its type and location. */
export interface SiteValue {
  readonly name: string;
  readonly type: CType;
  readonly location: ArgLocation;
}

/** Where the point's named values come from, computed on first use (reading DWARF/BTF is not free). */
export interface SiteValues {
  /** Parameters in declaration order; empty when unknown (see `missing`). */
  readonly params: readonly SiteValue[];
  readonly returnType: CType | undefined;
  /** Why typed values are unavailable here, for diagnostics (e.g. "no DWARF debug info"). */
  readonly missing?: string;
  /** What to use instead, when `missing` is set. */
  readonly hint?: string;
  /** A compiler clone: its arguments need not be in the ABI registers of any declaration, so `$argN` means nothing. */
  readonly cloned?: boolean;
  /** Why the parameters might not be where they are said to be (a clone read by its declaration): a warning once used. */
  readonly caveat?: string;
}

export interface Site {
  readonly space: 'user' | 'kernel';
  readonly isReturn: boolean;
  /** What the point is, for messages: `function add in /tmp/add`, `kernel function vfs_read`. */
  readonly what: string;
  /** The ABI argument registers hold the arguments here (function entry, PLT stub); false inside a function. */
  readonly atFunctionEntry: boolean;
  readonly regs: ArchRegisterMap;
  /** USDT arguments of a `.mark` point. */
  readonly sdtArgs?: readonly SdtArgument[];
  /** The ELF object of a uprobe (for SDT `sym(%rip)` operands and DWARF types of @cast). */
  readonly elf?: ElfFile;
  /** Kernel module of a kprobe; undefined for vmlinux. */
  readonly module?: string;
  values(): SiteValues;
}

const sites = new WeakMap<ConcretePoint, Site>();

export function recordSite(point: ConcretePoint, site: Site): void {
  sites.set(point, site);
}

/** The site a point was resolved from; points not made by the dynamic resolvers have none. */
export function siteOf(point: ConcretePoint): Site | undefined {
  return sites.get(point);
}

/** `long`: the type stap gives untyped values ($argN without debug info, registers). */
export const LONG: IntType = Object.freeze({ kind: 'int', name: 'long', size: 8, signed: true, char: false, bool: false });

/** The register map for an ELF machine; only x86-64 exists so far. */
export function registerMapForMachine(machine: number, what: string): ArchRegisterMap {
  if (machine === EM_X86_64) return x86_64Registers;
  throw new Error(`${what} is not an x86-64 binary; tstap locates probe arguments on x86-64 only`);
}

/** The register map for the running kernel. */
export function kernelRegisterMap(): ArchRegisterMap {
  if (process.arch === 'x64') return x86_64Registers;
  throw new Error(`tstap locates kernel probe arguments on x86-64 only (this machine is ${process.arch})`);
}

/** Lazily computed values of a user function: DWARF parameters at entry, or why there are none. */
export function userFunctionValues(elf: ElfFile, name: string, entryVaddr: number): () => SiteValues {
  let cached: SiteValues | undefined;
  return () => {
    if (cached) return cached;
    let fn: DwarfFunction | undefined;
    try {
      const dwarf = readDwarf(elf);
      // Static functions of the same name in several files: take the one at this address.
      const all = dwarf.functions(name);
      fn = all.find((f) => f.lowPc === entryVaddr) ?? all.find((f) => f.lowPc !== undefined);
      if (!fn) cached = { params: [], returnType: undefined, missing: `the debug info of ${elf.path} does not describe function ${name}` };
    } catch (err) {
      cached = { params: [], returnType: undefined, missing: (err as Error).message };
    }
    if (fn) {
      cached = {
        params: fn.params.map((p) => ({ name: p.name, type: p.type, location: p.entryLocation })),
        returnType: fn.returnType,
      };
    }
    return cached!;
  };
}

/** Compiler clones (`f.isra.0`, `f.constprop.0`, `f.part.0`) take arguments their declaration does not describe. */
export function cloneBase(symbol: string): string | undefined {
  const m = /^(.+?)\.(isra|constprop|part|lto_priv|localalias|llvm)\.\d+(\..*)?$/.exec(symbol);
  return m ? m[1] : undefined;
}

/**
 * Lazily computed values of a kernel function: parameters at entry in the ABI registers, typed by
 * BTF's prototype or, where BTF leaves the function out, by a declaration of the tapset library.
 * An IPA-SRA clone (`f.isra.0`) is read through `f`'s declaration, with a caveat: GCC keeps the
 * parameters it does not remove or split in their order, so the declaration holds as long as the
 * clone still takes every parameter before the one read. Other clones (`.constprop` drops
 * constant parameters, `.part` is the tail of a function) have no usable declaration.
 */
export function kernelFunctionValues(symbol: string, module: string | undefined, regs: ArchRegisterMap,
  declarations: () => ReadonlyMap<string, CDeclaration> = () => new Map()): () => SiteValues {
  let cached: SiteValues | undefined;
  const typed = (params: readonly Param[], returnType: CType, caveat?: string): SiteValues => {
    const locations = regs.entryArgLocations(params.map((p) => p.type), returnType);
    return { params: params.map((p, i) => ({ name: p.name, type: p.type, location: locations[i]! })), returnType, ...(caveat ? { caveat } : {}) };
  };
  return () => {
    if (cached) return cached;
    const base = cloneBase(symbol);
    try {
      const btf = module ? loadModuleBtf(module) : loadKernelBtf();
      const fn = btf.findFunc(symbol);
      if (fn) return (cached = typed(fn.params, fn.returnType));
      const name = base ?? symbol;
      const inBtf = base ? btf.findFunc(base) : undefined;
      const written = inBtf ? undefined : declarations().get(name);
      const declared = inBtf ?? (written ? resolveDeclaration(written, btf) : undefined);
      const source = inBtf ? `its declaration in BTF` : written ? `its declaration at ${written.where}` : undefined;
      if (declared && (!base || /\.isra\.\d+$/.test(symbol))) {
        const caveat = base
          ? `${symbol} is the kernel's optimised clone of ${base}; its arguments are read by ${source}, which holds if the compiler kept the parameters before the one read`
          : undefined;
        return (cached = typed(declared.params, declared.returnType, caveat));
      }
      if (base) {
        return (cached = {
          params: [],
          returnType: undefined,
          cloned: true,
          hint: `a clone's arguments are wherever its own calling convention puts them: read them with register("di"), register("si"), ... if you know it`,
          missing: declared
            ? `the kernel compiled ${base} as the optimised clone ${symbol}, whose arguments need not follow ${source}`
            : `BTF has no type information for ${base}: the kernel compiled it as the optimised clone ${symbol}, which BTF does not describe (a declaration in a tapset .h file would describe it)`,
        });
      }
      cached = { params: [], returnType: undefined, missing: `BTF has no type information for kernel function ${symbol}` };
    } catch (err) {
      cached = { params: [], returnType: undefined, missing: (err as Error).message };
    }
    return cached;
  };
}

export const NO_VALUES: () => SiteValues = () => ({ params: [], returnType: undefined });
