/**
 * The C type model shared by the DWARF and BTF readers and the tracefs fetch-argument builder,
 * plus the arch-neutral contract that per-architecture register maps implement.
 *
 * Types form a graph with cycles (`struct list_head { struct list_head *next; }`), so readers build
 * them lazily: references to other types are getters that resolve on first access and then cache.
 */

/** Any C type. Discriminate on `kind`. */
export type CType =
  | VoidType
  | IntType
  | FloatType
  | PointerType
  | ArrayType
  | RecordType
  | EnumType
  | TypedefType
  | QualifiedType
  | FunctionType;

export interface VoidType {
  readonly kind: 'void';
  readonly name: 'void';
  readonly size: 0;
}

/** Integers, including char and _Bool. */
export interface IntType {
  readonly kind: 'int';
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  /** A character type (char, signed char, unsigned char): char arrays and pointers are strings. */
  readonly char: boolean;
  readonly bool: boolean;
}

export interface FloatType {
  readonly kind: 'float';
  readonly name: string;
  readonly size: number;
}

export interface PointerType {
  readonly kind: 'pointer';
  readonly name: '';
  readonly size: number;
  /** Pointers to references are modelled as pointers too (C++ `&`, `&&`). */
  readonly reference: boolean;
  readonly target: CType;
}

export interface ArrayType {
  readonly kind: 'array';
  readonly name: '';
  readonly element: CType;
  /** Number of elements; undefined for flexible or unknown-bound arrays (`int a[]`). */
  readonly count: number | undefined;
  readonly size: number;
}

export interface Member {
  /** '' for anonymous struct/union members, whose own members are reachable by name. */
  readonly name: string;
  readonly type: CType;
  /** Offset of the member's first bit from the start of the enclosing record (little-endian bit order). */
  readonly bitOffset: number;
  /** Width in bits for bitfields; 0 for ordinary members. */
  readonly bitSize: number;
}

export interface RecordType {
  readonly kind: 'struct' | 'union';
  /** '' for anonymous records. */
  readonly name: string;
  readonly size: number;
  /** False for forward declarations (`struct foo;`), which have no members. */
  readonly complete: boolean;
  readonly members: readonly Member[];
}

export interface EnumValue {
  readonly name: string;
  readonly value: bigint;
}

export interface EnumType {
  readonly kind: 'enum';
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  readonly values: readonly EnumValue[];
}

export interface TypedefType {
  readonly kind: 'typedef';
  readonly name: string;
  readonly target: CType;
  readonly size: number;
}

export type Qualifier = 'const' | 'volatile' | 'restrict' | 'atomic' | 'type_tag';

export interface QualifiedType {
  readonly kind: 'qualified';
  readonly name: '';
  readonly qualifier: Qualifier;
  /** For `type_tag` (BTF), the tag text, e.g. "user" for `__user` pointers. */
  readonly tag?: string;
  readonly target: CType;
  readonly size: number;
}

export interface Param {
  /** '' when the prototype does not name the parameter. */
  readonly name: string;
  readonly type: CType;
}

export interface FunctionType {
  readonly kind: 'function';
  readonly name: '';
  readonly size: 0;
  readonly returnType: CType;
  readonly params: readonly Param[];
  readonly variadic: boolean;
}

export const VOID: VoidType = Object.freeze({ kind: 'void', name: 'void', size: 0 });

/**
 * Defines `key` on `target` as a getter that computes once and then caches. Readers use this for
 * references to other types so that cyclic type graphs can be built on demand.
 */
export function defineLazy<T extends object, K extends string>(target: T, key: K, compute: () => unknown): void {
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get() {
      const value = compute();
      Object.defineProperty(target, key, { value, enumerable: true, configurable: false, writable: false });
      return value;
    },
  });
}

/** Strips typedefs and qualifiers: the type a value actually has in memory. */
export function resolveType(type: CType): CType {
  let t = type;
  while (t.kind === 'typedef' || t.kind === 'qualified') t = t.target;
  return t;
}

/** True for char, signed char and unsigned char (after typedefs and qualifiers). */
export function isCharType(type: CType): boolean {
  const t = resolveType(type);
  return t.kind === 'int' && t.char && t.size === 1;
}

/** `char[N]` (possibly typedef'd/qualified): fetched as a string at its own address. */
export function isCharArray(type: CType): boolean {
  const t = resolveType(type);
  return t.kind === 'array' && isCharType(t.element);
}

/** `char *` (possibly typedef'd/qualified): fetched as a string at the address it holds. */
export function isCharPointer(type: CType): boolean {
  const t = resolveType(type);
  return t.kind === 'pointer' && isCharType(t.target);
}

/** True if a qualifier chain on this type (before the first non-qualifier) carries BTF `type_tag("user")`. */
export function hasUserTag(type: CType): boolean {
  let t = type;
  while (t.kind === 'typedef' || t.kind === 'qualified') {
    if (t.kind === 'qualified' && t.qualifier === 'type_tag' && t.tag === 'user') return true;
    t = t.target;
  }
  return false;
}

/** Spells a type the way C would, e.g. `const char *`, `struct file *`, `int [4]`, `int (*)(int)`. */
export function formatType(type: CType): string {
  return formatDeclaration(type, '').trim();
}

/** Spells a declaration of `declarator` with the given type, e.g. `char *argv[4]` style output. */
export function formatDeclaration(type: CType, declarator: string): string {
  switch (type.kind) {
    case 'void':
    case 'int':
    case 'float':
    case 'typedef':
      return joinDeclarator(type.name, declarator);
    case 'struct':
    case 'union':
    case 'enum':
      return joinDeclarator(`${type.kind} ${type.name || '<anonymous>'}`, declarator);
    case 'qualified': {
      const spelled = type.qualifier === 'type_tag' ? `__attribute__((btf_type_tag("${type.tag ?? ''}")))` : type.qualifier;
      const inner = type.target;
      // Qualifiers on pointers go after the star: `char *const p`.
      if (inner.kind === 'pointer') return formatDeclaration(inner, `${spelled} ${declarator}`.trimEnd());
      return `${spelled} ${formatDeclaration(inner, declarator)}`;
    }
    case 'pointer': {
      const star = type.reference ? '&' : '*';
      const needsParens = type.target.kind === 'array' || type.target.kind === 'function';
      const inner = needsParens ? `(${star}${declarator})` : `${star}${declarator}`;
      return formatDeclaration(type.target, inner);
    }
    case 'array':
      return formatDeclaration(type.element, `${declarator}[${type.count ?? ''}]`);
    case 'function': {
      const params = type.params.map((p) => formatDeclaration(p.type, p.name).trim());
      if (type.variadic) params.push('...');
      return formatDeclaration(type.returnType, `${declarator}(${params.join(', ') || 'void'})`);
    }
  }
}

function joinDeclarator(base: string, declarator: string): string {
  if (declarator === '') return base;
  // `int[4]` reads better than `int [4]`; everything else needs a separating space.
  if (declarator.startsWith('[')) return `${base}${declarator}`;
  return `${base} ${declarator}`;
}

/** Where a (possibly nested) member sits inside a record. */
export interface MemberLocation {
  readonly type: CType;
  /** Bit offset from the start of the outermost record. */
  readonly bitOffset: number;
  /** 0 unless the member is a bitfield. */
  readonly bitSize: number;
}

/**
 * Finds a direct member by name, looking through anonymous struct/union members the way C does
 * (kernel structs lean on this heavily). Returns its offset relative to `record`.
 */
export function findMember(record: CType, name: string): MemberLocation | undefined {
  const t = resolveType(record);
  if (t.kind !== 'struct' && t.kind !== 'union') return undefined;
  for (const m of t.members) {
    if (m.name === name) return { type: m.type, bitOffset: m.bitOffset, bitSize: m.bitSize };
  }
  for (const m of t.members) {
    if (m.name !== '') continue;
    const inner = findMember(m.type, name);
    if (inner) return { type: inner.type, bitOffset: m.bitOffset + inner.bitOffset, bitSize: inner.bitSize };
  }
  return undefined;
}

export class TypeModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TypeModelError';
  }
}

/**
 * Resolves a dotted member path (`"f_path.dentry"`) inside a record without following pointers:
 * every step must name a member of an embedded struct/union.
 */
export function lookupMember(record: CType, path: string | readonly string[]): MemberLocation {
  const steps = typeof path === 'string' ? path.split('.') : path;
  if (steps.length === 0 || steps.some((s) => s === '')) throw new TypeModelError(`invalid member path '${String(path)}'`);
  let current: MemberLocation = { type: record, bitOffset: 0, bitSize: 0 };
  for (const step of steps) {
    const t = resolveType(current.type);
    if (t.kind !== 'struct' && t.kind !== 'union') {
      throw new TypeModelError(`'${step}': ${formatType(current.type)} is not a struct or union`);
    }
    if (!t.complete) throw new TypeModelError(`'${step}': ${formatType(t)} is only declared, its members are unknown`);
    const found = findMember(t, step);
    if (!found) throw new TypeModelError(`${formatType(t)} has no member named '${step}'`);
    current = { type: found.type, bitOffset: current.bitOffset + found.bitOffset, bitSize: found.bitSize };
  }
  return current;
}

/** Byte offset of a dotted member path; errors for bitfields, which have no byte address. */
export function memberOffset(record: CType, path: string | readonly string[]): number {
  const loc = lookupMember(record, path);
  if (loc.bitSize !== 0 || loc.bitOffset % 8 !== 0) {
    throw new TypeModelError(`member '${String(path)}' is a bitfield (bit offset ${loc.bitOffset}), it has no byte offset`);
  }
  return loc.bitOffset / 8;
}

/* ---------- Architecture register maps (implemented per arch, e.g. regs-x86_64.ts) ---------- */

/** Where a function argument or return value is found, in tracefs terms. */
export type ArgLocation =
  /** The whole value is in one register (tracefs name, e.g. `%di`). */
  | { readonly kind: 'register'; readonly register: string }
  /** A small aggregate split over several registers, lowest eightbyte first. */
  | { readonly kind: 'registers'; readonly registers: readonly string[] }
  /** In memory at `offset` bytes from the stack pointer register, at function entry. */
  | { readonly kind: 'stack'; readonly register: string; readonly offset: number }
  /** The register holds the address of the value (e.g. a struct returned in memory). */
  | { readonly kind: 'indirect'; readonly register: string }
  /** tracefs cannot fetch it (floating-point registers, unsupported classification). */
  | { readonly kind: 'unavailable'; readonly reason: string };

/** A stap `register("name")` resolved to the tracefs register it reads. */
export interface StapRegister {
  /** tracefs fetcharg, e.g. `%ax`. */
  readonly fetcharg: string;
  /** 32 for the `eax`-style names, which read the low half (sign-extended by register(), masked by u_register()). */
  readonly width: 32 | 64;
}

export interface ArchRegisterMap {
  /** uname-style machine name, e.g. "x86_64". */
  readonly arch: string;
  /** ELF e_machine value this map serves. */
  readonly elfMachine: number;
  /** tracefs fetchargs of the integer argument registers, in ABI order. */
  readonly integerArgRegisters: readonly string[];
  readonly returnRegister: string;
  readonly stackPointer: string;
  readonly instructionPointer: string;
  /** Location of the `index`-th (0-based) integer-class argument at function entry. */
  entryArgLocation(index: number): ArgLocation;
  /** Locations of all parameters at function entry, following the calling convention's classification. */
  entryArgLocations(params: readonly CType[], returnType: CType): ArgLocation[];
  /** Where the return value is when a return probe fires. */
  returnValueLocation(returnType: CType): ArgLocation;
  /** Maps a stap `register()` name to tracefs; undefined if unknown. */
  stapRegister(name: string): StapRegister | undefined;
  /** Maps a DWARF register number to its tracefs fetcharg; undefined if tracefs cannot read it. */
  dwarfRegister(regno: number): string | undefined;
  /** What kernels with syscall wrappers put before `sys_NAME` for the system call's entry point (`__x64_`). */
  readonly syscallWrapperPrefix: string;
  /** print_regs(): stap's printf layout of the general registers and their stap names, in order. */
  readonly registerDump: { readonly format: string; readonly registers: readonly string[] };
}
