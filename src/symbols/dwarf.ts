/**
 * DWARF 4/5 reader for the subset tstap needs to resolve `$param` in user functions: compile units,
 * subprograms with their formal parameters (names, types, simple locations) and the types those
 * refer to, converted to the shared type model. Parameters also get their location at function
 * entry from the architecture's calling convention, which is what a uprobe on the symbol sees.
 *
 * Indexing is lazy: the first name lookup scans .debug_info once, recording only subprogram and
 * named-type DIE offsets; DIEs are decoded on demand afterwards. Separate debug files
 * (build-id / .gnu_debuglink) and split DWARF (.dwo files of skeleton units) are followed.
 */

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readElf, type ElfFile } from './elf.js';
import { EM_X86_64, x86_64Registers } from './regs-x86_64.js';
import {
  defineLazy,
  resolveType,
  VOID,
  type ArchRegisterMap,
  type ArgLocation,
  type ArrayType,
  type CType,
  type EnumType,
  type FloatType,
  type FunctionType,
  type IntType,
  type Member,
  type Param,
  type PointerType,
  type QualifiedType,
  type RecordType,
  type TypedefType,
} from './types.js';

export class DwarfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DwarfError';
  }
}

/* ---------- constants (DWARF 5 spec, §7) ---------- */

const TAG = {
  array_type: 0x01,
  class_type: 0x02,
  enumeration_type: 0x04,
  formal_parameter: 0x05,
  member: 0x0d,
  pointer_type: 0x0f,
  reference_type: 0x10,
  compile_unit: 0x11,
  structure_type: 0x13,
  subroutine_type: 0x15,
  typedef: 0x16,
  union_type: 0x17,
  unspecified_parameters: 0x18,
  inheritance: 0x1c,
  ptr_to_member_type: 0x1f,
  subrange_type: 0x21,
  base_type: 0x24,
  const_type: 0x26,
  enumerator: 0x28,
  subprogram: 0x2e,
  variable: 0x34,
  volatile_type: 0x35,
  restrict_type: 0x37,
  unspecified_type: 0x3b,
  partial_unit: 0x3c,
  type_unit: 0x41,
  rvalue_reference_type: 0x42,
  atomic_type: 0x47,
  skeleton_unit: 0x4a,
  immutable_type: 0x4b,
} as const;

const AT = {
  sibling: 0x01,
  location: 0x02,
  name: 0x03,
  byte_size: 0x0b,
  bit_offset: 0x0c,
  bit_size: 0x0d,
  stmt_list: 0x10,
  low_pc: 0x11,
  high_pc: 0x12,
  language: 0x13,
  comp_dir: 0x1b,
  const_value: 0x1c,
  lower_bound: 0x22,
  producer: 0x25,
  upper_bound: 0x2f,
  abstract_origin: 0x31,
  count: 0x37,
  data_member_location: 0x38,
  decl_file: 0x3a,
  decl_line: 0x3b,
  declaration: 0x3c,
  encoding: 0x3e,
  external: 0x3f,
  frame_base: 0x40,
  specification: 0x47,
  type: 0x49,
  entry_pc: 0x52,
  ranges: 0x55,
  data_bit_offset: 0x6b,
  linkage_name: 0x6e,
  str_offsets_base: 0x72,
  addr_base: 0x73,
  dwo_name: 0x76,
  MIPS_linkage_name: 0x2007,
  GNU_dwo_name: 0x2130,
  GNU_addr_base: 0x2133,
} as const;

const FORM = {
  addr: 0x01,
  block2: 0x03,
  block4: 0x04,
  data2: 0x05,
  data4: 0x06,
  data8: 0x07,
  string: 0x08,
  block: 0x09,
  block1: 0x0a,
  data1: 0x0b,
  flag: 0x0c,
  sdata: 0x0d,
  strp: 0x0e,
  udata: 0x0f,
  ref_addr: 0x10,
  ref1: 0x11,
  ref2: 0x12,
  ref4: 0x13,
  ref8: 0x14,
  ref_udata: 0x15,
  indirect: 0x16,
  sec_offset: 0x17,
  exprloc: 0x18,
  flag_present: 0x19,
  strx: 0x1a,
  addrx: 0x1b,
  ref_sup4: 0x1c,
  strp_sup: 0x1d,
  data16: 0x1e,
  line_strp: 0x1f,
  ref_sig8: 0x20,
  implicit_const: 0x21,
  loclistx: 0x22,
  rnglistx: 0x23,
  ref_sup8: 0x24,
  strx1: 0x25,
  strx2: 0x26,
  strx3: 0x27,
  strx4: 0x28,
  addrx1: 0x29,
  addrx2: 0x2a,
  addrx3: 0x2b,
  addrx4: 0x2c,
  GNU_addr_index: 0x1f01,
  GNU_str_index: 0x1f02,
  GNU_ref_alt: 0x1f20,
  GNU_strp_alt: 0x1f21,
} as const;

const ATE = {
  boolean: 0x02,
  complex_float: 0x03,
  float: 0x04,
  signed: 0x05,
  signed_char: 0x06,
  unsigned: 0x07,
  unsigned_char: 0x08,
  UTF: 0x10,
} as const;

const OP = {
  addr: 0x03,
  reg0: 0x50,
  reg31: 0x6f,
  breg0: 0x70,
  breg31: 0x8f,
  regx: 0x90,
  fbreg: 0x91,
  bregx: 0x92,
  call_frame_cfa: 0x9c,
  addrx: 0xa1,
  GNU_addr_index: 0xfb,
  stack_value: 0x9f,
  plus_uconst: 0x23,
} as const;

const DW_UT = { compile: 1, type: 2, partial: 3, skeleton: 4, split_compile: 5, split_type: 6 } as const;

/* ---------- public shapes ---------- */

/** A parameter or variable location, when it is one of the simple forms. */
export type DwarfLocation =
  | { readonly kind: 'register'; readonly dwarfRegister: number; readonly register: string | undefined }
  | { readonly kind: 'register-offset'; readonly dwarfRegister: number; readonly register: string | undefined; readonly offset: number }
  | { readonly kind: 'frame-offset'; readonly offset: number }
  | { readonly kind: 'address'; readonly address: number }
  | { readonly kind: 'frame-cfa' }
  /** The value is a compile-time constant here (DW_AT_const_value): a number, or raw little-endian bytes. */
  | { readonly kind: 'constant'; readonly value?: number; readonly bytes?: string }
  /** A DWARF expression beyond the simple forms (hex of its bytes). */
  | { readonly kind: 'expression'; readonly expression: string }
  /** A location list: the location changes across the function (optimised code). */
  | { readonly kind: 'location-list' }
  | { readonly kind: 'none' };

export interface DwarfParam {
  readonly name: string;
  readonly type: CType;
  /** What DWARF says (usually valid after the prologue, e.g. DW_OP_fbreg at -O0). */
  readonly location: DwarfLocation;
  /** Where the calling convention puts it at the function's first instruction. */
  readonly entryLocation: ArgLocation;
}

export interface DwarfFunction {
  readonly name: string;
  readonly linkageName: string | undefined;
  /** Entry address (ELF virtual address); undefined for declarations or range-only functions. */
  readonly lowPc: number | undefined;
  /** One past the last address. */
  readonly highPc: number | undefined;
  readonly external: boolean;
  readonly declaration: boolean;
  readonly declFile: string | undefined;
  readonly declLine: number | undefined;
  readonly compileUnit: string;
  readonly returnType: CType;
  readonly params: readonly DwarfParam[];
  readonly variadic: boolean;
  readonly frameBase: DwarfLocation;
  /** .debug_info offset of the subprogram DIE. */
  readonly dieOffset: number;
}

export interface CompileUnitInfo {
  readonly offset: number;
  readonly version: number;
  readonly name: string;
  readonly compDir: string | undefined;
  readonly producer: string | undefined;
  readonly lowPc: number | undefined;
}

/* ---------- byte reading ---------- */

class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
  ) {}
  u8(): number {
    return this.buf[this.pos++]!;
  }
  u16(): number {
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u24(): number {
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return bigToNumber(v);
  }
  uint(size: number): number {
    switch (size) {
      case 1:
        return this.u8();
      case 2:
        return this.u16();
      case 4:
        return this.u32();
      case 8:
        return this.u64();
      default:
        throw new DwarfError(`unsupported integer size ${size}`);
    }
  }
  uleb(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const byte = this.buf[this.pos++];
      if (byte === undefined) throw new DwarfError('truncated LEB128');
      result += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) return result;
    }
  }
  sleb(): number {
    let result = 0;
    let scale = 1;
    let byte: number;
    do {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new DwarfError('truncated LEB128');
      byte = b;
      result += (byte & 0x7f) * scale;
      scale *= 128;
    } while (byte & 0x80);
    if (byte & 0x40) result -= scale;
    return result;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new DwarfError('unterminated string');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

function bigToNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DwarfError(`value 0x${v.toString(16)} does not fit in 2^53`);
  return Number(v);
}

function cStringAt(buf: Buffer, offset: number, what: string): string {
  if (offset >= buf.length) throw new DwarfError(`${what} offset ${offset} out of range`);
  const end = buf.indexOf(0, offset);
  return buf.toString('utf8', offset, end < 0 ? buf.length : end);
}

/* ---------- units, abbreviations, DIEs ---------- */

interface AbbrevAttr {
  name: number;
  form: number;
  implicitConst: number;
}

interface Abbrev {
  tag: number;
  hasChildren: boolean;
  attrs: AbbrevAttr[];
}

interface Unit {
  offset: number;
  end: number;
  version: number;
  unitType: number;
  addressSize: number;
  offsetSize: number;
  firstDie: number;
  abbrevs: Map<number, Abbrev>;
  strOffsetsBase: number | undefined;
  addrBase: number | undefined;
  name: string;
  compDir: string | undefined;
  producer: string | undefined;
  lowPc: number | undefined;
  stmtList: number | undefined;
  dwoName: string | undefined;
  fileNames?: (string | undefined)[];
}

/** How a .dwo file's units borrow from their skeleton in the main file. */
interface SplitContext {
  /** The main file's .debug_addr and the skeleton's DW_AT_addr_base. */
  addr: Buffer;
  addrBase: number | undefined;
  /** decl_file indices refer to the skeleton's line table. */
  fileName: (index: number) => string | undefined;
  compileUnitName: string;
}

type AttrValue =
  | { kind: 'addr'; value: number }
  | { kind: 'addrx'; index: number }
  | { kind: 'const'; value: number; signed: boolean }
  | { kind: 'str'; value: string }
  | { kind: 'strx'; index: number }
  /** Offset into .debug_str (or .debug_line_str), decoded only when the string is wanted. */
  | { kind: 'strp'; offset: number; lineStr: boolean }
  | { kind: 'ref'; offset: number }
  | { kind: 'block'; bytes: Buffer }
  | { kind: 'flag'; value: boolean }
  | { kind: 'secoff'; value: number }
  | { kind: 'listx'; index: number }
  | { kind: 'unsupported'; form: number };

interface Die {
  offset: number;
  unit: Unit;
  tag: number;
  hasChildren: boolean;
  attrs: Map<number, AttrValue>;
  /** Offset just past this DIE's attributes (its first child, if any). */
  next: number;
}

/* ---------- the reader ---------- */

const readers = new WeakMap<ElfFile, DwarfInfo>();

/**
 * DWARF of an ELF file: its own .debug_info, or the separate debug file found through build-id or
 * .gnu_debuglink. Cached per ElfFile.
 */
export function readDwarf(elf: ElfFile): DwarfInfo {
  let info = readers.get(elf);
  if (info) return info;
  let source = elf;
  if (!elf.section('.debug_info')) {
    const debugPath = findDebugFile(elf);
    if (!debugPath) {
      throw new DwarfError(`${elf.path} has no DWARF debug info (.debug_info); rebuild it with -g or install its debug file`);
    }
    source = readElf(debugPath);
  }
  info = new DwarfInfo(source, registerMapFor(elf.machine));
  readers.set(elf, info);
  return info;
}

function registerMapFor(machine: number): ArchRegisterMap | undefined {
  return machine === EM_X86_64 ? x86_64Registers : undefined;
}

/**
 * Separate debug file for a stripped binary, following the GDB conventions: build-id path under
 * /usr/lib/debug/.build-id, then .gnu_debuglink next to the file, in .debug/, and under /usr/lib/debug.
 */
export function findDebugFile(elf: ElfFile, debugRoot = '/usr/lib/debug'): string | undefined {
  const candidates: string[] = [];
  const id = elf.buildId;
  if (id && id.length > 2) candidates.push(join(debugRoot, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`));
  const link = elf.debugLink;
  if (link) {
    const dir = dirname(elf.path);
    candidates.push(join(dir, link.file), join(dir, '.debug', link.file), join(debugRoot, dir, link.file));
  }
  for (const c of candidates) {
    if (c === elf.path || !existsSync(c)) continue;
    try {
      const candidate = readElf(c);
      if (!candidate.section('.debug_info')) continue;
      // A build-id mismatch means the debug file belongs to another build.
      if (id && candidate.buildId && candidate.buildId !== id) continue;
      return c;
    } catch {
      continue;
    }
  }
  return undefined;
}

/** Parameters (with resolved types and entry locations) of a function, by name. */
export function functionParams(elf: ElfFile, name: string): DwarfFunction {
  const dwarf = readDwarf(elf);
  const fn = dwarf.findFunction(name);
  if (!fn) {
    const split = dwarf.hasSplitUnits ? ' (its debug info is split into .dwo files; are they all in the compilation directory?)' : '';
    throw new DwarfError(`no function '${name}' in the debug info of ${elf.path}${split}`);
  }
  return fn;
}

export class DwarfInfo {
  readonly elf: ElfFile;
  readonly #regs: ArchRegisterMap | undefined;
  readonly #info: Buffer;
  readonly #abbrev: Buffer;
  readonly #str: Buffer;
  readonly #lineStr: Buffer;
  readonly #strOffsets: Buffer;
  readonly #addr: Buffer;
  readonly #split: SplitContext | undefined;
  #units?: Unit[];
  #splitParts?: DwarfInfo[];
  #functionIndex?: Map<string, number[]>;
  #typeIndex?: Map<string, number[]>;
  readonly #types = new Map<number, CType>();
  readonly #abbrevTables = new Map<number, Map<number, Abbrev>>();

  /** `split` is set for a .dwo file read on behalf of a skeleton unit. */
  constructor(elf: ElfFile, regs: ArchRegisterMap | undefined, split?: SplitContext) {
    this.elf = elf;
    this.#regs = regs;
    this.#split = split;
    // .dwo files name their sections with a .dwo suffix.
    const suffix = split ? '.dwo' : '';
    const section = (name: string) => (elf.section(name + suffix) ? elf.sectionData(name + suffix) : Buffer.alloc(0));
    this.#info = section('.debug_info');
    if (this.#info.length === 0) throw new DwarfError(`${elf.path}: no .debug_info${suffix} section`);
    this.#abbrev = section('.debug_abbrev');
    this.#str = section('.debug_str');
    this.#lineStr = section('.debug_line_str');
    this.#strOffsets = section('.debug_str_offsets');
    this.#addr = split ? split.addr : section('.debug_addr');
  }

  /** True if some units are skeletons of split DWARF (-gsplit-dwarf), whose DIEs live in .dwo files. */
  get hasSplitUnits(): boolean {
    return this.#allUnits().some((u) => u.unitType === DW_UT.skeleton || u.dwoName !== undefined);
  }

  /** Readers for the .dwo files of skeleton units (found next to comp_dir, as gdb does). */
  #parts(): DwarfInfo[] {
    if (this.#splitParts) return this.#splitParts;
    const parts: DwarfInfo[] = [];
    for (const unit of this.#allUnits()) {
      if (unit.dwoName === undefined) continue;
      const path = unit.dwoName.startsWith('/') || !unit.compDir ? unit.dwoName : join(unit.compDir, unit.dwoName);
      if (!existsSync(path)) continue;
      parts.push(
        new DwarfInfo(readElf(path), this.#regs, {
          addr: this.#addr,
          addrBase: unit.addrBase,
          fileName: (index) => this.#fileName(unit, index),
          compileUnitName: unit.name,
        }),
      );
    }
    this.#splitParts = parts;
    return parts;
  }

  /** Compile units, including those read from .dwo files of split DWARF. */
  compileUnits(): CompileUnitInfo[] {
    const own = this.#allUnits()
      .filter((u) => isCodeUnit(u.unitType) && u.dwoName === undefined)
      .map((u) => ({ offset: u.offset, version: u.version, name: u.name || (this.#split?.compileUnitName ?? ''), compDir: u.compDir, producer: u.producer, lowPc: u.lowPc }));
    return [...own, ...this.#parts().flatMap((p) => p.compileUnits())];
  }

  /** Names of all functions with a subprogram DIE. */
  functionNames(): string[] {
    return [...new Set([...this.#functions().keys(), ...this.#parts().flatMap((p) => p.functionNames())])];
  }

  /** All subprogram DIEs for `name`, concrete definitions first. */
  functions(name: string): DwarfFunction[] {
    const offsets = this.#functions().get(name) ?? [];
    const fns = [...offsets.map((o) => this.#buildFunction(this.#dieAt(o))), ...this.#parts().flatMap((p) => p.functions(name))];
    // Prefer a definition with code over declarations and abstract inline instances.
    return fns.sort((a, b) => rankFunction(a) - rankFunction(b));
  }

  /** The concrete definition of `name` (or its declaration if no definition exists). */
  findFunction(name: string): DwarfFunction | undefined {
    return this.functions(name)[0];
  }

  /** A named type: struct/union/enum/typedef/base type; `kind` narrows e.g. to 'struct'. */
  findType(name: string, kind?: CType['kind']): CType | undefined {
    const offsets = this.#namedTypes().get(name) ?? [];
    let fallback: CType | undefined;
    for (const part of this.#parts()) {
      const t = part.findType(name, kind);
      if (t && !((t.kind === 'struct' || t.kind === 'union') && !t.complete)) return t;
      fallback ??= t;
    }
    for (const o of offsets) {
      const t = this.typeAt(o);
      if (kind && t.kind !== kind) continue;
      // Complete definitions win over `struct foo;` declarations.
      if ((t.kind === 'struct' || t.kind === 'union') && !t.complete) {
        fallback ??= t;
        continue;
      }
      return t;
    }
    return fallback;
  }

  findStruct(name: string): RecordType | undefined {
    return this.findType(name, 'struct') as RecordType | undefined;
  }

  /** The type described by the DIE at a .debug_info offset. */
  typeAt(offset: number): CType {
    let t = this.#types.get(offset);
    if (!t) {
      t = this.#buildType(this.#dieAt(offset));
      this.#types.set(offset, t);
    }
    return t;
  }

  /* ----- units ----- */

  #allUnits(): Unit[] {
    if (this.#units) return this.#units;
    const units: Unit[] = [];
    let pos = 0;
    while (pos + 11 <= this.#info.length) {
      const unit = this.#readUnitHeader(pos);
      units.push(unit);
      pos = unit.end;
    }
    this.#units = units;
    return units;
  }

  #readUnitHeader(offset: number): Unit {
    const c = new Cursor(this.#info, offset);
    let length = c.u32();
    let offsetSize = 4;
    if (length === 0xffffffff) {
      length = c.u64();
      offsetSize = 8;
    } else if (length >= 0xfffffff0) {
      throw new DwarfError(`${this.elf.path}: reserved unit length 0x${length.toString(16)} at 0x${offset.toString(16)}`);
    }
    const end = c.pos + length;
    if (end > this.#info.length) throw new DwarfError(`${this.elf.path}: unit at 0x${offset.toString(16)} extends past .debug_info`);
    const version = c.u16();
    if (version < 2 || version > 5) throw new DwarfError(`${this.elf.path}: unsupported DWARF version ${version}`);
    let unitType: number = DW_UT.compile;
    let addressSize: number;
    let abbrevOffset: number;
    if (version >= 5) {
      unitType = c.u8();
      addressSize = c.u8();
      abbrevOffset = c.uint(offsetSize);
      if (unitType === DW_UT.skeleton || unitType === DW_UT.split_compile) c.pos += 8; // dwo_id
      if (unitType === DW_UT.type || unitType === DW_UT.split_type) c.pos += 8 + offsetSize; // signature, type_offset
    } else {
      abbrevOffset = c.uint(offsetSize);
      addressSize = c.u8();
    }
    const unit: Unit = {
      offset,
      end,
      version,
      unitType,
      addressSize,
      offsetSize,
      firstDie: c.pos,
      abbrevs: this.#abbrevTable(abbrevOffset),
      strOffsetsBase: undefined,
      addrBase: undefined,
      name: '',
      compDir: undefined,
      producer: undefined,
      lowPc: undefined,
      stmtList: undefined,
      dwoName: undefined,
    };
    if (unit.firstDie < end) {
      const root = this.#readDie(unit, unit.firstDie);
      // Bases first: the root's own strx/addrx attributes need them.
      const strBase = root.attrs.get(AT.str_offsets_base);
      if (strBase?.kind === 'secoff' || strBase?.kind === 'const') unit.strOffsetsBase = strBase.value;
      const addrBase = root.attrs.get(AT.addr_base) ?? root.attrs.get(AT.GNU_addr_base);
      if (addrBase?.kind === 'secoff' || addrBase?.kind === 'const') unit.addrBase = addrBase.value;
      unit.dwoName = this.#string(root, AT.dwo_name) ?? this.#string(root, AT.GNU_dwo_name);
      unit.name = this.#string(root, AT.name) ?? '';
      unit.compDir = this.#string(root, AT.comp_dir);
      unit.producer = this.#string(root, AT.producer);
      unit.lowPc = this.#address(root, AT.low_pc);
      const stmt = root.attrs.get(AT.stmt_list);
      if (stmt?.kind === 'secoff' || stmt?.kind === 'const') unit.stmtList = stmt.value;
    }
    return unit;
  }

  #abbrevTable(offset: number): Map<number, Abbrev> {
    const cached = this.#abbrevTables.get(offset);
    if (cached) return cached;
    const table = new Map<number, Abbrev>();
    const c = new Cursor(this.#abbrev, offset);
    for (;;) {
      const code = c.uleb();
      if (code === 0) break;
      const tag = c.uleb();
      const hasChildren = c.u8() !== 0;
      const attrs: AbbrevAttr[] = [];
      for (;;) {
        const name = c.uleb();
        const form = c.uleb();
        if (name === 0 && form === 0) break;
        const implicitConst = form === FORM.implicit_const ? c.sleb() : 0;
        attrs.push({ name, form, implicitConst });
      }
      table.set(code, { tag, hasChildren, attrs });
    }
    this.#abbrevTables.set(offset, table);
    return table;
  }

  #unitOf(offset: number): Unit {
    const units = this.#allUnits();
    let lo = 0;
    let hi = units.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = units[mid]!;
      if (offset < u.offset) hi = mid - 1;
      else if (offset >= u.end) lo = mid + 1;
      else return u;
    }
    throw new DwarfError(`${this.elf.path}: DIE offset 0x${offset.toString(16)} is outside every unit`);
  }

  #dieAt(offset: number): Die {
    return this.#readDie(this.#unitOf(offset), offset);
  }

  /** Reads the DIE at `offset`; returns undefined for a null entry (end of siblings). */
  #readDieOrNull(unit: Unit, offset: number): Die | undefined {
    const c = new Cursor(this.#info, offset);
    const code = c.uleb();
    if (code === 0) return undefined;
    const abbrev = unit.abbrevs.get(code);
    if (!abbrev) throw new DwarfError(`${this.elf.path}: unknown abbreviation ${code} at 0x${offset.toString(16)}`);
    const attrs = new Map<number, AttrValue>();
    for (const a of abbrev.attrs) attrs.set(a.name, this.#readForm(c, unit, a.form, a.implicitConst));
    return { offset, unit, tag: abbrev.tag, hasChildren: abbrev.hasChildren, attrs, next: c.pos };
  }

  #readDie(unit: Unit, offset: number): Die {
    const die = this.#readDieOrNull(unit, offset);
    if (!die) throw new DwarfError(`${this.elf.path}: null DIE at 0x${offset.toString(16)}`);
    return die;
  }

  #readForm(c: Cursor, unit: Unit, form: number, implicitConst: number): AttrValue {
    switch (form) {
      case FORM.addr:
        return { kind: 'addr', value: c.uint(unit.addressSize) };
      case FORM.data1:
        return { kind: 'const', value: c.u8(), signed: false };
      case FORM.data2:
        return { kind: 'const', value: c.u16(), signed: false };
      case FORM.data4:
        return { kind: 'const', value: c.u32(), signed: false };
      case FORM.data8: {
        const v = c.buf.readBigUInt64LE(c.pos);
        c.pos += 8;
        // data8 constants may be huge (e.g. -1 enumerators); keep what fits, mark signed otherwise.
        return v > BigInt(Number.MAX_SAFE_INTEGER)
          ? { kind: 'const', value: Number(BigInt.asIntN(64, v)), signed: true }
          : { kind: 'const', value: Number(v), signed: false };
      }
      case FORM.data16:
        return { kind: 'block', bytes: c.bytes(16) };
      case FORM.sdata:
        return { kind: 'const', value: c.sleb(), signed: true };
      case FORM.udata:
        return { kind: 'const', value: c.uleb(), signed: false };
      case FORM.implicit_const:
        return { kind: 'const', value: implicitConst, signed: true };
      case FORM.string:
        return { kind: 'str', value: c.cstring() };
      case FORM.strp:
        return { kind: 'strp', offset: c.uint(unit.offsetSize), lineStr: false };
      case FORM.line_strp:
        return { kind: 'strp', offset: c.uint(unit.offsetSize), lineStr: true };
      case FORM.strx:
      case FORM.GNU_str_index:
        return { kind: 'strx', index: c.uleb() };
      case FORM.strx1:
        return { kind: 'strx', index: c.u8() };
      case FORM.strx2:
        return { kind: 'strx', index: c.u16() };
      case FORM.strx3:
        return { kind: 'strx', index: c.u24() };
      case FORM.strx4:
        return { kind: 'strx', index: c.u32() };
      case FORM.addrx:
      case FORM.GNU_addr_index:
        return { kind: 'addrx', index: c.uleb() };
      case FORM.addrx1:
        return { kind: 'addrx', index: c.u8() };
      case FORM.addrx2:
        return { kind: 'addrx', index: c.u16() };
      case FORM.addrx3:
        return { kind: 'addrx', index: c.u24() };
      case FORM.addrx4:
        return { kind: 'addrx', index: c.u32() };
      case FORM.ref1:
        return { kind: 'ref', offset: unit.offset + c.u8() };
      case FORM.ref2:
        return { kind: 'ref', offset: unit.offset + c.u16() };
      case FORM.ref4:
        return { kind: 'ref', offset: unit.offset + c.u32() };
      case FORM.ref8:
        return { kind: 'ref', offset: unit.offset + c.u64() };
      case FORM.ref_udata:
        return { kind: 'ref', offset: unit.offset + c.uleb() };
      case FORM.ref_addr:
        // DWARF 2 sized this like an address; later versions like an offset.
        return { kind: 'ref', offset: c.uint(unit.version <= 2 ? unit.addressSize : unit.offsetSize) };
      case FORM.ref_sig8:
        c.pos += 8;
        return { kind: 'unsupported', form };
      case FORM.ref_sup4:
        c.pos += 4;
        return { kind: 'unsupported', form };
      case FORM.ref_sup8:
        c.pos += 8;
        return { kind: 'unsupported', form };
      case FORM.GNU_ref_alt:
      case FORM.GNU_strp_alt:
      case FORM.strp_sup:
        c.pos += unit.offsetSize;
        return { kind: 'unsupported', form };
      case FORM.sec_offset:
        return { kind: 'secoff', value: c.uint(unit.offsetSize) };
      case FORM.loclistx:
      case FORM.rnglistx:
        return { kind: 'listx', index: c.uleb() };
      case FORM.exprloc:
      case FORM.block:
        return { kind: 'block', bytes: c.bytes(c.uleb()) };
      case FORM.block1:
        return { kind: 'block', bytes: c.bytes(c.u8()) };
      case FORM.block2:
        return { kind: 'block', bytes: c.bytes(c.u16()) };
      case FORM.block4:
        return { kind: 'block', bytes: c.bytes(c.u32()) };
      case FORM.flag:
        return { kind: 'flag', value: c.u8() !== 0 };
      case FORM.flag_present:
        return { kind: 'flag', value: true };
      case FORM.indirect:
        return this.#readForm(c, unit, c.uleb(), implicitConst);
      default:
        throw new DwarfError(`${this.elf.path}: unsupported DWARF form 0x${form.toString(16)}`);
    }
  }

  /** Iterates the direct children of a DIE. */
  *#children(die: Die): Generator<Die> {
    if (!die.hasChildren) return;
    let pos = die.next;
    for (;;) {
      const child = this.#readDieOrNull(die.unit, pos);
      if (!child) return;
      yield child;
      pos = this.#skipSubtree(child);
    }
  }

  /** Offset of the next sibling of `die`. */
  #skipSubtree(die: Die): number {
    if (!die.hasChildren) return die.next;
    const sibling = die.attrs.get(AT.sibling);
    if (sibling?.kind === 'ref') return sibling.offset;
    let pos = die.next;
    for (;;) {
      const child = this.#readDieOrNull(die.unit, pos);
      if (!child) return pos + 1; // the null entry is a single 0 byte
      pos = this.#skipSubtree(child);
    }
  }

  /* ----- attribute helpers ----- */

  #string(die: Die, at: number): string | undefined {
    const v = die.attrs.get(at);
    if (!v) return undefined;
    if (v.kind === 'str') return v.value;
    if (v.kind === 'strp') return v.lineStr ? cStringAt(this.#lineStr, v.offset, '.debug_line_str') : cStringAt(this.#str, v.offset, '.debug_str');
    if (v.kind === 'strx') {
      // Without DW_AT_str_offsets_base (split units): just past the DWARF 5 section header; GNU v4 has none.
      const base = die.unit.strOffsetsBase ?? (die.unit.version >= 5 ? 8 : 0);
      const off = base + v.index * die.unit.offsetSize;
      if (off + die.unit.offsetSize > this.#strOffsets.length) throw new DwarfError(`${this.elf.path}: strx index ${v.index} out of range`);
      const strOff = die.unit.offsetSize === 8 ? bigToNumber(this.#strOffsets.readBigUInt64LE(off)) : this.#strOffsets.readUInt32LE(off);
      return cStringAt(this.#str, strOff, '.debug_str');
    }
    return undefined;
  }

  #address(die: Die, at: number): number | undefined {
    const v = die.attrs.get(at);
    if (!v) return undefined;
    if (v.kind === 'addr') return v.value;
    if (v.kind === 'addrx') return this.#indexedAddress(die.unit, v.index);
    return undefined;
  }

  /** Entry `index` of the unit's slice of .debug_addr (the skeleton's, for split units). */
  #indexedAddress(unit: Unit, index: number): number {
    const base = unit.addrBase ?? this.#split?.addrBase ?? 8;
    const off = base + index * unit.addressSize;
    if (off + unit.addressSize > this.#addr.length) throw new DwarfError(`${this.elf.path}: address index ${index} out of range`);
    return new Cursor(this.#addr, off).uint(unit.addressSize);
  }

  #const(die: Die, at: number): number | undefined {
    const v = die.attrs.get(at);
    return v?.kind === 'const' ? v.value : undefined;
  }

  #flag(die: Die, at: number): boolean {
    const v = die.attrs.get(at);
    return v?.kind === 'flag' ? v.value : v?.kind === 'const' ? v.value !== 0 : false;
  }

  #ref(die: Die, at: number): number | undefined {
    const v = die.attrs.get(at);
    return v?.kind === 'ref' ? v.offset : undefined;
  }

  /** Follows DW_AT_abstract_origin / DW_AT_specification to find an attribute defined elsewhere. */
  #inherited<T>(die: Die, get: (d: Die) => T | undefined): T | undefined {
    let current: Die | undefined = die;
    for (let depth = 0; current && depth < 8; depth++) {
      const v = get(current);
      if (v !== undefined) return v;
      const next: number | undefined = this.#ref(current, AT.abstract_origin) ?? this.#ref(current, AT.specification);
      current = next === undefined ? undefined : this.#dieAt(next);
    }
    return undefined;
  }

  /* ----- indexes ----- */

  #functions(): Map<string, number[]> {
    if (!this.#functionIndex) this.#buildIndexes();
    return this.#functionIndex!;
  }

  #namedTypes(): Map<string, number[]> {
    if (!this.#typeIndex) this.#buildIndexes();
    return this.#typeIndex!;
  }

  /** One linear pass over every DIE, remembering subprograms and named types by name. */
  #buildIndexes(): void {
    const functions = new Map<string, number[]>();
    const types = new Map<string, number[]>();
    const unnamedSubprograms: Die[] = [];
    const add = (map: Map<string, number[]>, name: string, offset: number) => {
      const list = map.get(name);
      if (list) list.push(offset);
      else map.set(name, [offset]);
    };
    for (const unit of this.#allUnits()) {
      if (!isCodeUnit(unit.unitType)) continue;
      let pos = unit.firstDie;
      while (pos < unit.end) {
        const die = this.#readDieOrNull(unit, pos);
        if (!die) {
          pos += 1;
          continue;
        }
        pos = die.next;
        switch (die.tag) {
          case TAG.subprogram: {
            const name = this.#string(die, AT.name);
            if (name !== undefined) add(functions, name, die.offset);
            else if (die.attrs.has(AT.abstract_origin) || die.attrs.has(AT.specification)) unnamedSubprograms.push(die);
            break;
          }
          case TAG.structure_type:
          case TAG.class_type:
          case TAG.union_type:
          case TAG.enumeration_type:
          case TAG.typedef:
          case TAG.base_type: {
            const name = this.#string(die, AT.name);
            if (name !== undefined) add(types, name, die.offset);
            break;
          }
        }
      }
    }
    // Out-of-line copies of inline functions and C++ definitions take their name from elsewhere.
    for (const die of unnamedSubprograms) {
      const name = this.#inherited(die, (d) => this.#string(d, AT.name));
      if (name !== undefined) add(functions, name, die.offset);
    }
    this.#functionIndex = functions;
    this.#typeIndex = types;
  }

  /* ----- functions ----- */

  #buildFunction(die: Die): DwarfFunction {
    const name = this.#inherited(die, (d) => this.#string(d, AT.name)) ?? '';
    const linkageName = this.#inherited(die, (d) => this.#string(d, AT.linkage_name) ?? this.#string(d, AT.MIPS_linkage_name));
    const lowPc = this.#address(die, AT.low_pc) ?? this.#address(die, AT.entry_pc);
    let highPc: number | undefined;
    const high = die.attrs.get(AT.high_pc);
    if (high?.kind === 'const' && lowPc !== undefined) highPc = lowPc + high.value;
    else if (high) highPc = this.#address(die, AT.high_pc);
    const typeOffset = this.#inherited(die, (d) => this.#ref(d, AT.type));
    const returnType = typeOffset === undefined ? VOID : this.typeAt(typeOffset);
    const declFileIndex = this.#inherited(die, (d) => this.#const(d, AT.decl_file));
    const declDie = this.#inherited(die, (d) => (d.attrs.has(AT.decl_file) ? d : undefined));

    // Parameters: the concrete DIE's children, falling back to the abstract origin's.
    let paramDies = [...this.#children(die)].filter((c) => c.tag === TAG.formal_parameter || c.tag === TAG.unspecified_parameters);
    if (paramDies.length === 0) {
      const origin = this.#ref(die, AT.abstract_origin) ?? this.#ref(die, AT.specification);
      if (origin !== undefined) {
        paramDies = [...this.#children(this.#dieAt(origin))].filter(
          (c) => c.tag === TAG.formal_parameter || c.tag === TAG.unspecified_parameters,
        );
      }
    }
    const variadic = paramDies.some((p) => p.tag === TAG.unspecified_parameters);
    let formal = paramDies.filter((p) => p.tag === TAG.formal_parameter);
    // Optimised out-of-line copies may list parameters in another order than the declaration
    // (their abstract origin); report them in declaration order.
    const originOrder = (p: Die) => {
      const origin = this.#ref(p, AT.abstract_origin);
      return origin === undefined ? p.offset : origin;
    };
    if (formal.some((p) => p.attrs.has(AT.abstract_origin))) formal = [...formal].sort((a, b) => originOrder(a) - originOrder(b));
    const paramTypes = formal.map((p) => {
      const t = this.#inherited(p, (d) => this.#ref(d, AT.type));
      return t === undefined ? VOID : this.typeAt(t);
    });
    // Parameters folded into constants (gcc .constprop clones) are not passed at all, so the
    // calling convention applies to the remaining ones only.
    const passed = formal.map((p) => !p.attrs.has(AT.const_value));
    const passedTypes = paramTypes.filter((_, i) => passed[i]);
    const passedLocations = this.#regs
      ? this.#regs.entryArgLocations(passedTypes, returnType)
      : passedTypes.map((): ArgLocation => ({ kind: 'unavailable', reason: `no register map for ELF machine ${this.elf.machine}` }));
    let next = 0;
    const params: DwarfParam[] = formal.map((p, i) => ({
      name: this.#inherited(p, (d) => this.#string(d, AT.name)) ?? '',
      type: paramTypes[i]!,
      location: passed[i] ? this.#location(p) : this.#constantLocation(p, paramTypes[i]!),
      entryLocation: passed[i]
        ? passedLocations[next++]!
        : { kind: 'unavailable', reason: 'optimised into a constant in this copy of the function' },
    }));
    return {
      name,
      linkageName,
      lowPc,
      highPc,
      external: this.#inherited(die, (d) => (d.attrs.has(AT.external) ? this.#flag(d, AT.external) : undefined)) ?? false,
      declaration: this.#flag(die, AT.declaration),
      declFile:
        declDie && declFileIndex !== undefined
          ? this.#split
            ? this.#split.fileName(declFileIndex)
            : this.#fileName(declDie.unit, declFileIndex)
          : undefined,
      declLine: this.#inherited(die, (d) => this.#const(d, AT.decl_line)),
      compileUnit: die.unit.name || (this.#split?.compileUnitName ?? ''),
      returnType,
      params,
      variadic,
      frameBase: this.#location(die, AT.frame_base),
      dieOffset: die.offset,
    };
  }

  #location(die: Die, at: number = AT.location): DwarfLocation {
    const v = die.attrs.get(at);
    if (!v) return { kind: 'none' };
    if (v.kind === 'block') return this.#decodeSimpleExpression(v.bytes, die.unit);
    if (v.kind === 'secoff' || v.kind === 'listx') return { kind: 'location-list' };
    return { kind: 'none' };
  }

  #constantLocation(die: Die, type: CType): DwarfLocation {
    const v = die.attrs.get(AT.const_value);
    if (v?.kind === 'const') {
      // gcc writes small unsigned constants as sdata (200 as -56 for an unsigned char).
      const t = resolveType(type);
      const unsignedInt = (t.kind === 'int' || t.kind === 'enum') && !t.signed && t.size > 0 && t.size < 7;
      return { kind: 'constant', value: unsignedInt && v.value < 0 ? v.value + 2 ** (8 * t.size) : v.value };
    }
    if (v?.kind === 'block') return { kind: 'constant', bytes: v.bytes.toString('hex') };
    return { kind: 'none' };
  }

  /** Recognises single-operation expressions; anything else is reported as raw bytes. */
  #decodeSimpleExpression(bytes: Buffer, unit: Unit): DwarfLocation {
    if (bytes.length === 0) return { kind: 'none' };
    const c = new Cursor(bytes, 0);
    const op = c.u8();
    let result: DwarfLocation | undefined;
    const regName = (n: number) => this.#regs?.dwarfRegister(n);
    if (op >= OP.reg0 && op <= OP.reg31) {
      result = { kind: 'register', dwarfRegister: op - OP.reg0, register: regName(op - OP.reg0) };
    } else if (op === OP.regx) {
      const n = c.uleb();
      result = { kind: 'register', dwarfRegister: n, register: regName(n) };
    } else if (op >= OP.breg0 && op <= OP.breg31) {
      result = { kind: 'register-offset', dwarfRegister: op - OP.breg0, register: regName(op - OP.breg0), offset: c.sleb() };
    } else if (op === OP.bregx) {
      const n = c.uleb();
      result = { kind: 'register-offset', dwarfRegister: n, register: regName(n), offset: c.sleb() };
    } else if (op === OP.fbreg) {
      result = { kind: 'frame-offset', offset: c.sleb() };
    } else if (op === OP.addr) {
      result = { kind: 'address', address: c.uint(unit.addressSize) };
    } else if (op === OP.addrx || op === OP.GNU_addr_index) {
      result = { kind: 'address', address: this.#indexedAddress(unit, c.uleb()) };
    } else if (op === OP.call_frame_cfa) {
      result = { kind: 'frame-cfa' };
    }
    if (result && c.pos === bytes.length) return result;
    return { kind: 'expression', expression: bytes.toString('hex') };
  }

  /** decl_file index → path, from the unit's line-program header. */
  #fileName(unit: Unit, index: number): string | undefined {
    if (!unit.fileNames) unit.fileNames = this.#readLineFileNames(unit);
    return unit.fileNames[index];
  }

  #readLineFileNames(unit: Unit): (string | undefined)[] {
    if (unit.stmtList === undefined || !this.elf.section('.debug_line')) return [];
    const line = this.elf.sectionData('.debug_line');
    const c = new Cursor(line, unit.stmtList);
    let offsetSize = 4;
    let length = c.u32();
    if (length === 0xffffffff) {
      length = c.u64();
      offsetSize = 8;
    }
    const version = c.u16();
    if (version >= 5) c.pos += 2; // address_size, segment_selector_size
    const headerLength = c.uint(offsetSize);
    const programStart = c.pos + headerLength;
    c.pos += version >= 4 ? 5 : 4; // min_inst_length, [max_ops_per_inst], default_is_stmt, line_base, line_range
    const opcodeBase = c.u8();
    c.pos += opcodeBase - 1; // standard_opcode_lengths
    const join2 = (dir: string | undefined, file: string) => (file.startsWith('/') || !dir ? file : `${dir}/${file}`);
    if (version < 5) {
      // DWARF 2-4: directory 0 is the comp dir and file indices start at 1.
      const dirs: (string | undefined)[] = [unit.compDir];
      for (;;) {
        const d = c.cstring();
        if (d === '') break;
        dirs.push(d);
      }
      const files: (string | undefined)[] = [undefined];
      while (c.pos < programStart) {
        const f = c.cstring();
        if (f === '') break;
        const dirIndex = c.uleb();
        c.uleb(); // mtime
        c.uleb(); // length
        files.push(join2(dirs[dirIndex] ?? unit.compDir, f));
      }
      return files;
    }
    const readEntries = (): (Map<number, string | number>)[] => {
      const formatCount = c.u8();
      const format: [number, number][] = [];
      for (let i = 0; i < formatCount; i++) format.push([c.uleb(), c.uleb()]);
      const count = c.uleb();
      const out: Map<number, string | number>[] = [];
      for (let i = 0; i < count; i++) {
        const entry = new Map<number, string | number>();
        for (const [content, form] of format) {
          const v = this.#readForm(c, { ...unit, offsetSize }, form, 0);
          if (v.kind === 'const') entry.set(content, v.value);
          else if (v.kind === 'str' || v.kind === 'strp' || v.kind === 'strx') {
            // Reuse the attribute string decoder through a one-attribute pseudo DIE.
            const holder: Die = { offset: 0, unit, tag: 0, hasChildren: false, attrs: new Map([[AT.name, v]]), next: 0 };
            const text = this.#string(holder, AT.name);
            if (text !== undefined) entry.set(content, text);
          }
        }
        out.push(entry);
      }
      return out;
    };
    const DW_LNCT_path = 1;
    const DW_LNCT_directory_index = 2;
    const dirs = readEntries().map((e) => e.get(DW_LNCT_path) as string | undefined);
    return readEntries().map((e) => {
      const path = e.get(DW_LNCT_path);
      if (typeof path !== 'string') return undefined;
      const dir = e.get(DW_LNCT_directory_index);
      return join2(typeof dir === 'number' ? dirs[dir] : undefined, path);
    });
  }

  /* ----- types ----- */

  #typeRef(die: Die): CType {
    const t = this.#ref(die, AT.type);
    return t === undefined ? VOID : this.typeAt(t);
  }

  #buildType(die: Die): CType {
    const name = this.#string(die, AT.name) ?? '';
    const byteSize = this.#const(die, AT.byte_size);
    switch (die.tag) {
      case TAG.base_type: {
        const encoding = this.#const(die, AT.encoding) ?? ATE.unsigned;
        const size = byteSize ?? 0;
        if (encoding === ATE.float || encoding === ATE.complex_float) {
          const t: FloatType = { kind: 'float', name, size };
          return t;
        }
        const t: IntType = {
          kind: 'int',
          name,
          size,
          signed: encoding === ATE.signed || encoding === ATE.signed_char,
          char: encoding === ATE.signed_char || encoding === ATE.unsigned_char,
          bool: encoding === ATE.boolean,
        };
        return t;
      }
      case TAG.unspecified_type:
        return VOID;
      case TAG.pointer_type:
      case TAG.reference_type:
      case TAG.rvalue_reference_type: {
        const t = { kind: 'pointer', name: '', size: byteSize ?? die.unit.addressSize, reference: die.tag !== TAG.pointer_type } as Record<string, unknown>;
        defineLazy(t, 'target', () => this.#typeRef(die));
        return t as unknown as PointerType;
      }
      case TAG.ptr_to_member_type: {
        // C++ member pointers: only their size matters here.
        const t: IntType = { kind: 'int', name: '<member pointer>', size: byteSize ?? die.unit.addressSize, signed: false, char: false, bool: false };
        return t;
      }
      case TAG.const_type:
      case TAG.volatile_type:
      case TAG.restrict_type:
      case TAG.atomic_type:
      case TAG.immutable_type: {
        const qualifier =
          die.tag === TAG.volatile_type ? 'volatile' : die.tag === TAG.restrict_type ? 'restrict' : die.tag === TAG.atomic_type ? 'atomic' : 'const';
        const t = { kind: 'qualified', name: '', qualifier } as Record<string, unknown>;
        defineLazy(t, 'target', () => this.#typeRef(die));
        defineLazy(t, 'size', () => (t as unknown as QualifiedType).target.size);
        return t as unknown as QualifiedType;
      }
      case TAG.typedef: {
        const t = { kind: 'typedef', name } as Record<string, unknown>;
        defineLazy(t, 'target', () => this.#typeRef(die));
        defineLazy(t, 'size', () => (t as unknown as TypedefType).target.size);
        return t as unknown as TypedefType;
      }
      case TAG.structure_type:
      case TAG.class_type:
      case TAG.union_type: {
        const complete = !this.#flag(die, AT.declaration);
        const t = { kind: die.tag === TAG.union_type ? 'union' : 'struct', name, size: byteSize ?? 0, complete } as Record<string, unknown>;
        defineLazy(t, 'members', () => (complete ? this.#members(die) : []));
        return t as unknown as RecordType;
      }
      case TAG.enumeration_type: {
        let signed = false;
        const underlying = this.#ref(die, AT.type);
        if (underlying !== undefined) {
          const u = this.typeAt(underlying);
          const resolved = u.kind === 'typedef' || u.kind === 'qualified' ? u.target : u;
          signed = resolved.kind === 'int' && resolved.signed;
        }
        const values = [];
        for (const child of this.#children(die)) {
          if (child.tag !== TAG.enumerator) continue;
          const v = child.attrs.get(AT.const_value);
          const value = v?.kind === 'const' ? BigInt(v.value) : 0n;
          if (v?.kind === 'const' && v.signed && v.value < 0) signed = true;
          values.push({ name: this.#string(child, AT.name) ?? '', value });
        }
        const t: EnumType = { kind: 'enum', name, size: byteSize ?? 4, signed, values };
        return t;
      }
      case TAG.array_type:
        return this.#arrayType(die);
      case TAG.subroutine_type: {
        const params: Param[] = [];
        let variadic = false;
        for (const child of this.#children(die)) {
          if (child.tag === TAG.unspecified_parameters) variadic = true;
          else if (child.tag === TAG.formal_parameter) {
            const p = { name: this.#string(child, AT.name) ?? '' } as Record<string, unknown>;
            defineLazy(p, 'type', () => this.#typeRef(child));
            params.push(p as unknown as Param);
          }
        }
        const t = { kind: 'function', name: '', size: 0, params, variadic } as Record<string, unknown>;
        defineLazy(t, 'returnType', () => this.#typeRef(die));
        return t as unknown as FunctionType;
      }
      default:
        throw new DwarfError(`${this.elf.path}: DIE 0x${die.offset.toString(16)} (tag 0x${die.tag.toString(16)}) is not a type`);
    }
  }

  /** `int a[2][3]` is one DIE with two subranges: build array(2) of array(3) of int. */
  #arrayType(die: Die): ArrayType {
    const counts: (number | undefined)[] = [];
    for (const child of this.#children(die)) {
      if (child.tag !== TAG.subrange_type) continue;
      const count = this.#const(child, AT.count);
      const upper = child.attrs.get(AT.upper_bound);
      const lower = this.#const(child, AT.lower_bound) ?? 0;
      if (count !== undefined) counts.push(count);
      else if (upper?.kind === 'const') {
        // gcc writes upper_bound -1 (all ones) for zero-length arrays.
        const u = upper.signed ? upper.value : upper.value >= 0xffffffff ? -1 : upper.value;
        counts.push(u < lower ? 0 : u - lower + 1);
      } else counts.push(undefined);
    }
    if (counts.length === 0) counts.push(undefined);
    let element: () => CType = () => this.#typeRef(die);
    let result: ArrayType | undefined;
    for (let i = counts.length - 1; i >= 0; i--) {
      const count = counts[i];
      const inner = element;
      const t = { kind: 'array', name: '', count } as Record<string, unknown>;
      defineLazy(t, 'element', inner);
      defineLazy(t, 'size', () => (count === undefined ? 0 : (t as unknown as ArrayType).element.size * count));
      result = t as unknown as ArrayType;
      const built = result;
      element = () => built;
    }
    return result!;
  }

  #members(die: Die): Member[] {
    const out: Member[] = [];
    for (const child of this.#children(die)) {
      if (child.tag !== TAG.member && child.tag !== TAG.inheritance) continue;
      let byteOffset = 0;
      const loc = child.attrs.get(AT.data_member_location);
      if (loc?.kind === 'const') byteOffset = loc.value;
      else if (loc?.kind === 'block') {
        // DWARF 2 style: DW_OP_plus_uconst N.
        const c = new Cursor(loc.bytes, 0);
        if (c.u8() === OP.plus_uconst) byteOffset = c.uleb();
      }
      const bitSize = this.#const(child, AT.bit_size) ?? 0;
      let bitOffset = byteOffset * 8;
      const dataBitOffset = this.#const(child, AT.data_bit_offset);
      if (dataBitOffset !== undefined) bitOffset = dataBitOffset;
      else if (bitSize !== 0) {
        // DWARF 2/3 DW_AT_bit_offset counts from the most significant bit of the storage unit.
        const oldBitOffset = this.#const(child, AT.bit_offset);
        if (oldBitOffset !== undefined) {
          const storageBytes = this.#const(child, AT.byte_size) ?? this.#typeRef(child).size;
          bitOffset = byteOffset * 8 + storageBytes * 8 - oldBitOffset - bitSize;
        }
      }
      const m = { name: child.tag === TAG.inheritance ? '' : (this.#string(child, AT.name) ?? ''), bitOffset, bitSize } as Record<string, unknown>;
      defineLazy(m, 'type', () => this.#typeRef(child));
      out.push(m as unknown as Member);
    }
    return out;
  }
}

/** Units that describe code (as opposed to type units). */
function isCodeUnit(unitType: number): boolean {
  return unitType === DW_UT.compile || unitType === DW_UT.partial || unitType === DW_UT.split_compile;
}

function rankFunction(fn: DwarfFunction): number {
  if (fn.lowPc !== undefined) return 0;
  if (!fn.declaration) return 1;
  return 2;
}
