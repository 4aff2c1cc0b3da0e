/**
 * BTF reader for the kernel's own type information (/sys/kernel/btf/vmlinux, and module files,
 * which are split BTF on top of vmlinux): kernel function prototypes and struct layouts without
 * debuginfo packages, converted to the shared type model.
 *
 * Loading only records where each type entry starts (one pass over ~5 MB); names are found on
 * demand by searching the string section for the exact NUL-delimited name and then the few types
 * that use that string offset, so no name map over 100k+ types is ever built.
 */

import { readFileSync } from 'node:fs';
import {
  defineLazy,
  lookupMember,
  memberOffset as typeMemberOffset,
  VOID,
  type ArrayType,
  type CType,
  type EnumType,
  type FloatType,
  type FunctionType,
  type IntType,
  type Member,
  type MemberLocation,
  type Param,
  type PointerType,
  type QualifiedType,
  type RecordType,
  type TypedefType,
} from './types.js';

export class BtfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BtfError';
  }
}

export const BTF_KIND = {
  UNKN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

const KIND_NAMES = Object.fromEntries(Object.entries(BTF_KIND).map(([k, v]) => [v, k])) as Record<number, string>;

const BTF_MAGIC = 0xeb9f;
const TYPE_HEADER_SIZE = 12;
const POINTER_SIZE = 8;

const BTF_INT_SIGNED = 1;
const BTF_INT_CHAR = 2;
const BTF_INT_BOOL = 4;

/** Bytes that follow the common 12-byte header, per kind. */
function trailingSize(kind: number, vlen: number): number {
  switch (kind) {
    case BTF_KIND.INT:
    case BTF_KIND.VAR:
    case BTF_KIND.DECL_TAG:
      return 4;
    case BTF_KIND.ARRAY:
      return 12;
    case BTF_KIND.STRUCT:
    case BTF_KIND.UNION:
    case BTF_KIND.DATASEC:
    case BTF_KIND.ENUM64:
      return 12 * vlen;
    case BTF_KIND.ENUM:
    case BTF_KIND.FUNC_PROTO:
      return 8 * vlen;
    case BTF_KIND.PTR:
    case BTF_KIND.FWD:
    case BTF_KIND.TYPEDEF:
    case BTF_KIND.VOLATILE:
    case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT:
    case BTF_KIND.FUNC:
    case BTF_KIND.FLOAT:
    case BTF_KIND.TYPE_TAG:
      return 0;
    default:
      return -1;
  }
}

export type FuncLinkage = 'static' | 'global' | 'extern';

/** A kernel function's prototype. */
export interface BtfFunction {
  readonly id: number;
  readonly name: string;
  readonly linkage: FuncLinkage;
  readonly returnType: CType;
  readonly params: readonly Param[];
  readonly variadic: boolean;
  readonly type: FunctionType;
}

export interface BtfVariable {
  readonly id: number;
  readonly name: string;
  readonly type: CType;
  readonly linkage: 'static' | 'global';
}

/** Raw view of one BTF type entry. */
interface RawType {
  kind: number;
  vlen: number;
  kindFlag: boolean;
  nameOff: number;
  sizeOrType: number;
  /** Offset of the entry's trailing data inside the owning Btf's buffer. */
  extra: number;
  owner: Btf;
}

export class Btf {
  /** The vmlinux BTF that split (module) BTF builds on. */
  readonly base: Btf | undefined;
  /** First type id defined in this file (1 for vmlinux; base.nextId for split BTF). */
  readonly firstId: number;
  /** One past the last type id defined here. */
  readonly nextId: number;
  readonly source: string;

  readonly #data: Buffer;
  readonly #strStart: number;
  readonly #strLen: number;
  /** Offset of each local type entry in #data. */
  readonly #offsets: Uint32Array;
  readonly #kinds: Uint8Array;
  readonly #nameOffs: Uint32Array;
  readonly #cache = new Map<number, CType>();
  readonly #nameCache = new Map<string, number[]>();

  private constructor(data: Buffer, base: Btf | undefined, source: string) {
    this.#data = data;
    this.base = base;
    this.source = source;
    if (data.length < 24) throw new BtfError(`${source}: too short for a BTF header`);
    const magic = data.readUInt16LE(0);
    if (magic !== BTF_MAGIC) {
      if (data.readUInt16BE(0) === BTF_MAGIC) throw new BtfError(`${source}: big-endian BTF is not supported`);
      throw new BtfError(`${source}: not BTF (magic 0x${magic.toString(16)})`);
    }
    const version = data[2];
    if (version !== 1) throw new BtfError(`${source}: unsupported BTF version ${version}`);
    const hdrLen = data.readUInt32LE(4);
    const typeOff = data.readUInt32LE(8);
    const typeLen = data.readUInt32LE(12);
    const strOff = data.readUInt32LE(16);
    const strLen = data.readUInt32LE(20);
    const typeStart = hdrLen + typeOff;
    this.#strStart = hdrLen + strOff;
    this.#strLen = strLen;
    if (typeStart + typeLen > data.length || this.#strStart + strLen > data.length) {
      throw new BtfError(`${source}: sections extend past the end of the data`);
    }
    this.firstId = base ? base.nextId : 1;

    // One pass to find where each entry starts; entries are variable length.
    let capacity = Math.max(16, Math.ceil(typeLen / 16));
    let offsets = new Uint32Array(capacity);
    let kinds = new Uint8Array(capacity);
    let nameOffs = new Uint32Array(capacity);
    let count = 0;
    let pos = typeStart;
    const end = typeStart + typeLen;
    while (pos < end) {
      if (pos + TYPE_HEADER_SIZE > end) throw new BtfError(`${source}: truncated type entry at offset ${pos - typeStart}`);
      const info = data.readUInt32LE(pos + 4);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const extra = trailingSize(kind, vlen);
      if (extra < 0) throw new BtfError(`${source}: unknown BTF kind ${kind} for type id ${this.firstId + count}`);
      if (count === capacity) {
        capacity *= 2;
        offsets = grow(offsets, capacity);
        kinds = grow(kinds, capacity);
        nameOffs = grow(nameOffs, capacity);
      }
      offsets[count] = pos;
      kinds[count] = kind;
      nameOffs[count] = data.readUInt32LE(pos);
      count++;
      pos += TYPE_HEADER_SIZE + extra;
    }
    this.#offsets = offsets.subarray(0, count);
    this.#kinds = kinds.subarray(0, count);
    this.#nameOffs = nameOffs.subarray(0, count);
    this.nextId = this.firstId + count;
  }

  /** Parses BTF bytes; pass `base` for split BTF (kernel modules). */
  static parse(data: Buffer, base?: Btf, source = '<buffer>'): Btf {
    return new Btf(data, base, source);
  }

  /** Number of types defined in this file (not counting base or id 0). */
  get localTypeCount(): number {
    return this.#offsets.length;
  }

  /** The string at a (possibly base-relative) string offset. */
  string(offset: number): string {
    if (this.base && offset < this.base.#strLen) return this.base.string(offset);
    const local = offset - (this.base ? this.base.#strLen : 0);
    if (local < 0 || local >= this.#strLen) throw new BtfError(`${this.source}: string offset ${offset} out of range`);
    const at = this.#strStart + local;
    const stop = this.#data.indexOf(0, at);
    return this.#data.toString('utf8', at, stop < 0 || stop > this.#strStart + this.#strLen ? this.#strStart + this.#strLen : stop);
  }

  /** BTF kind number of a type id. */
  kindOf(id: number): number {
    return this.#raw(id).kind;
  }

  kindName(id: number): string {
    return KIND_NAMES[this.kindOf(id)] ?? `KIND${this.kindOf(id)}`;
  }

  nameOf(id: number): string {
    if (id === 0) return 'void';
    return this.string(this.#raw(id).nameOff);
  }

  /** Ids of all types named `name` (optionally of the given kinds), base BTF first. */
  idsByName(name: string, kinds?: readonly number[]): number[] {
    let ids = this.#nameCache.get(name);
    if (!ids) {
      ids = [...(this.base ? this.base.idsByName(name) : []), ...this.#localIdsByName(name)];
      this.#nameCache.set(name, ids);
    }
    return kinds ? ids.filter((id) => kinds.includes(this.kindOf(id))) : ids;
  }

  /** The shared-model type for a type id (cached; references resolve lazily). */
  type(id: number): CType {
    if (id === 0) return VOID;
    const owner = this.#owner(id);
    if (owner !== this) return owner.type(id);
    let t = this.#cache.get(id);
    if (!t) {
      t = this.#build(id);
      this.#cache.set(id, t);
    }
    return t;
  }

  /** A kernel function's prototype by name (the first if BTF lists several). */
  findFunc(name: string): BtfFunction | undefined {
    const id = this.idsByName(name, [BTF_KIND.FUNC])[0];
    return id === undefined ? undefined : this.funcById(id);
  }

  /** All FUNC entries with this name (static functions can repeat across compilation units). */
  findFuncs(name: string): BtfFunction[] {
    return this.idsByName(name, [BTF_KIND.FUNC]).map((id) => this.funcById(id));
  }

  funcById(id: number): BtfFunction {
    const raw = this.#raw(id);
    if (raw.kind !== BTF_KIND.FUNC) throw new BtfError(`type id ${id} is ${this.kindName(id)}, not FUNC`);
    const proto = this.type(raw.sizeOrType);
    if (proto.kind !== 'function') throw new BtfError(`FUNC ${id} does not point at a FUNC_PROTO`);
    const linkage: FuncLinkage = raw.vlen === 0 ? 'static' : raw.vlen === 1 ? 'global' : 'extern';
    return {
      id,
      name: raw.owner.string(raw.nameOff),
      linkage,
      returnType: proto.returnType,
      params: proto.params,
      variadic: proto.variadic,
      type: proto,
    };
  }

  /** Names of all functions matching a predicate, e.g. a compiled glob. Decodes every FUNC name. */
  functionNames(filter: (name: string) => boolean = () => true): string[] {
    const out = this.base ? this.base.functionNames(filter) : [];
    for (let i = 0; i < this.#kinds.length; i++) {
      if (this.#kinds[i] !== BTF_KIND.FUNC) continue;
      const name = this.string(this.#nameOffs[i]!);
      if (filter(name)) out.push(name);
    }
    return out;
  }

  /** `struct name` (complete definition preferred over a forward declaration). */
  findStruct(name: string): RecordType | undefined {
    return this.#findRecord(name, BTF_KIND.STRUCT, 'struct');
  }

  /** `union name` (complete definition preferred over a forward declaration). */
  findUnion(name: string): RecordType | undefined {
    return this.#findRecord(name, BTF_KIND.UNION, 'union');
  }

  findTypedef(name: string): TypedefType | undefined {
    const id = this.idsByName(name, [BTF_KIND.TYPEDEF])[0];
    return id === undefined ? undefined : (this.type(id) as TypedefType);
  }

  findEnum(name: string): EnumType | undefined {
    const id = this.idsByName(name, [BTF_KIND.ENUM, BTF_KIND.ENUM64])[0];
    return id === undefined ? undefined : (this.type(id) as EnumType);
  }

  /** A global or static kernel variable (BTF VAR; vmlinux BTF lists per-cpu variables). */
  findVar(name: string): BtfVariable | undefined {
    const id = this.idsByName(name, [BTF_KIND.VAR])[0];
    if (id === undefined) return undefined;
    const raw = this.#raw(id);
    const linkage = raw.owner.#data.readUInt32LE(raw.extra) === 0 ? 'static' : 'global';
    return { id, name, type: this.type(raw.sizeOrType), linkage };
  }

  /* ----- internals ----- */

  #findRecord(name: string, kind: number, keyword: 'struct' | 'union'): RecordType | undefined {
    const ids = this.idsByName(name, [kind, BTF_KIND.FWD]);
    let fallback: RecordType | undefined;
    for (const id of ids) {
      const t = this.type(id);
      if (t.kind !== keyword) continue;
      if (t.complete) return t;
      fallback ??= t;
    }
    return fallback;
  }

  #owner(id: number): Btf {
    if (id >= this.firstId) {
      if (id >= this.nextId) throw new BtfError(`${this.source}: type id ${id} out of range (max ${this.nextId - 1})`);
      return this;
    }
    if (!this.base) throw new BtfError(`${this.source}: type id ${id} out of range`);
    return this.base.#owner(id);
  }

  #raw(id: number): RawType {
    if (id === 0) throw new BtfError('type id 0 is void');
    const owner = this.#owner(id);
    const index = id - owner.firstId;
    const pos = owner.#offsets[index]!;
    const data = owner.#data;
    const info = data.readUInt32LE(pos + 4);
    return {
      kind: (info >>> 24) & 0x1f,
      vlen: info & 0xffff,
      kindFlag: (info & 0x80000000) !== 0,
      nameOff: data.readUInt32LE(pos),
      sizeOrType: data.readUInt32LE(pos + 8),
      extra: pos + TYPE_HEADER_SIZE,
      owner,
    };
  }

  /** Local type ids whose name string is exactly `name`. */
  #localIdsByName(name: string): number[] {
    if (name === '') return [];
    const needle = Buffer.from(`\0${name}\0`, 'utf8');
    const strEnd = this.#strStart + this.#strLen;
    const base = this.base ? this.base.#strLen : 0;
    const wanted = new Set<number>();
    let at = this.#data.indexOf(needle, this.#strStart);
    while (at >= 0 && at + needle.length <= strEnd) {
      wanted.add(at + 1 - this.#strStart + base);
      at = this.#data.indexOf(needle, at + 1);
    }
    // In split BTF, names usually point into the base string section.
    if (this.base) for (const off of this.base.#stringOffsets(needle)) wanted.add(off);
    if (wanted.size === 0) return [];
    const out: number[] = [];
    const nameOffs = this.#nameOffs;
    for (let i = 0; i < nameOffs.length; i++) if (wanted.has(nameOffs[i]!)) out.push(this.firstId + i);
    return out;
  }

  #stringOffsets(needle: Buffer): number[] {
    const out: number[] = [];
    const strEnd = this.#strStart + this.#strLen;
    let at = this.#data.indexOf(needle, this.#strStart);
    while (at >= 0 && at + needle.length <= strEnd) {
      out.push(at + 1 - this.#strStart);
      at = this.#data.indexOf(needle, at + 1);
    }
    return out;
  }

  #build(id: number): CType {
    const raw = this.#raw(id);
    const data = this.#data;
    const name = this.string(raw.nameOff);
    switch (raw.kind) {
      case BTF_KIND.INT: {
        const encoding = data.readUInt32LE(raw.extra);
        const flags = (encoding >>> 24) & 0x0f;
        const t: IntType = {
          kind: 'int',
          name,
          size: raw.sizeOrType,
          signed: (flags & BTF_INT_SIGNED) !== 0,
          char: (flags & BTF_INT_CHAR) !== 0 || /^(?:(?:un)?signed )?char$/.test(name),
          bool: (flags & BTF_INT_BOOL) !== 0,
        };
        return t;
      }
      case BTF_KIND.PTR: {
        const t = { kind: 'pointer', name: '', size: POINTER_SIZE, reference: false } as Record<string, unknown>;
        defineLazy(t, 'target', () => this.type(raw.sizeOrType));
        return t as unknown as PointerType;
      }
      case BTF_KIND.ARRAY: {
        const elementId = data.readUInt32LE(raw.extra);
        const count = data.readUInt32LE(raw.extra + 8);
        const t = { kind: 'array', name: '', count } as Record<string, unknown>;
        defineLazy(t, 'element', () => this.type(elementId));
        defineLazy(t, 'size', () => (t as unknown as ArrayType).element.size * count);
        return t as unknown as ArrayType;
      }
      case BTF_KIND.STRUCT:
      case BTF_KIND.UNION: {
        const t = {
          kind: raw.kind === BTF_KIND.STRUCT ? 'struct' : 'union',
          name,
          size: raw.sizeOrType,
          complete: true,
        } as Record<string, unknown>;
        defineLazy(t, 'members', () => this.#members(raw));
        return t as unknown as RecordType;
      }
      case BTF_KIND.ENUM:
      case BTF_KIND.ENUM64: {
        const values = [];
        const wide = raw.kind === BTF_KIND.ENUM64;
        const stride = wide ? 12 : 8;
        for (let i = 0; i < raw.vlen; i++) {
          const o = raw.extra + i * stride;
          const valueName = this.string(data.readUInt32LE(o));
          let value: bigint;
          if (wide) {
            const unsigned = (BigInt(data.readUInt32LE(o + 8)) << 32n) | BigInt(data.readUInt32LE(o + 4));
            value = raw.kindFlag ? BigInt.asIntN(64, unsigned) : unsigned;
          } else {
            value = raw.kindFlag ? BigInt(data.readInt32LE(o + 4)) : BigInt(data.readUInt32LE(o + 4));
          }
          values.push({ name: valueName, value });
        }
        const t: EnumType = { kind: 'enum', name, size: raw.sizeOrType, signed: raw.kindFlag, values };
        return t;
      }
      case BTF_KIND.FWD: {
        const t: RecordType = { kind: raw.kindFlag ? 'union' : 'struct', name, size: 0, complete: false, members: [] };
        return t;
      }
      case BTF_KIND.TYPEDEF: {
        const t = { kind: 'typedef', name } as Record<string, unknown>;
        defineLazy(t, 'target', () => this.type(raw.sizeOrType));
        defineLazy(t, 'size', () => (t as unknown as TypedefType).target.size);
        return t as unknown as TypedefType;
      }
      case BTF_KIND.VOLATILE:
      case BTF_KIND.CONST:
      case BTF_KIND.RESTRICT:
      case BTF_KIND.TYPE_TAG: {
        const qualifier =
          raw.kind === BTF_KIND.VOLATILE ? 'volatile' : raw.kind === BTF_KIND.CONST ? 'const' : raw.kind === BTF_KIND.RESTRICT ? 'restrict' : 'type_tag';
        const t = { kind: 'qualified', name: '', qualifier } as Record<string, unknown>;
        if (qualifier === 'type_tag') t['tag'] = name;
        defineLazy(t, 'target', () => this.type(raw.sizeOrType));
        defineLazy(t, 'size', () => (t as unknown as QualifiedType).target.size);
        return t as unknown as QualifiedType;
      }
      case BTF_KIND.FUNC:
        // A FUNC's type is its prototype; the name and linkage are available via findFunc().
        return this.type(raw.sizeOrType);
      case BTF_KIND.FUNC_PROTO: {
        const params: Param[] = [];
        let variadic = false;
        for (let i = 0; i < raw.vlen; i++) {
          const o = raw.extra + i * 8;
          const paramName = this.string(data.readUInt32LE(o));
          const paramType = data.readUInt32LE(o + 4);
          // A trailing nameless void parameter marks `...`.
          if (paramType === 0 && i === raw.vlen - 1) {
            variadic = true;
            continue;
          }
          const p = { name: paramName } as Record<string, unknown>;
          defineLazy(p, 'type', () => this.type(paramType));
          params.push(p as unknown as Param);
        }
        const t = { kind: 'function', name: '', size: 0, params, variadic } as Record<string, unknown>;
        defineLazy(t, 'returnType', () => this.type(raw.sizeOrType));
        return t as unknown as FunctionType;
      }
      case BTF_KIND.FLOAT: {
        const t: FloatType = { kind: 'float', name, size: raw.sizeOrType };
        return t;
      }
      case BTF_KIND.VAR:
      case BTF_KIND.DATASEC:
      case BTF_KIND.DECL_TAG:
        throw new BtfError(`type id ${id} is a ${KIND_NAMES[raw.kind]}, not a type`);
      default:
        throw new BtfError(`type id ${id} has unknown kind ${raw.kind}`);
    }
  }

  #members(raw: RawType): Member[] {
    const data = this.#data;
    const out: Member[] = [];
    for (let i = 0; i < raw.vlen; i++) {
      const o = raw.extra + i * 12;
      const memberName = this.string(data.readUInt32LE(o));
      const typeId = data.readUInt32LE(o + 4);
      const offset = data.readUInt32LE(o + 8);
      let bitOffset: number;
      let bitSize: number;
      if (raw.kindFlag) {
        bitOffset = offset & 0xffffff;
        bitSize = offset >>> 24;
      } else {
        // Without kind_flag, a bitfield is an INT member whose encoding carries width and shift.
        bitOffset = offset;
        bitSize = 0;
        const target = typeId === 0 ? undefined : this.#raw(typeId);
        if (target && target.kind === BTF_KIND.INT) {
          const encoding = target.owner.#data.readUInt32LE(target.extra);
          const bits = encoding & 0xff;
          const intOffset = (encoding >>> 16) & 0xff;
          if (bits !== target.sizeOrType * 8 || intOffset !== 0) {
            bitSize = bits;
            bitOffset += intOffset;
          }
        }
      }
      const m = { name: memberName, bitOffset, bitSize } as Record<string, unknown>;
      defineLazy(m, 'type', () => this.type(typeId));
      out.push(m as unknown as Member);
    }
    return out;
  }
}

function grow<T extends Uint32Array | Uint8Array>(array: T, capacity: number): T {
  const next = new (array.constructor as { new (n: number): T })(capacity);
  next.set(array);
  return next;
}

/* ---------- loading ---------- */

export const KERNEL_BTF_PATH = '/sys/kernel/btf/vmlinux';

let kernelBtf: Btf | undefined;

/** Loads (once) the running kernel's BTF; pass a path to read another vmlinux BTF file uncached. */
export function loadKernelBtf(path: string = KERNEL_BTF_PATH): Btf {
  if (path === KERNEL_BTF_PATH && kernelBtf) return kernelBtf;
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BtfError(
      code === 'ENOENT' ? `${path} does not exist: this kernel was built without CONFIG_DEBUG_INFO_BTF` : `cannot read ${path}: ${(err as Error).message}`,
    );
  }
  const btf = Btf.parse(data, undefined, path);
  if (path === KERNEL_BTF_PATH) kernelBtf = btf;
  return btf;
}

/** Loads a kernel module's split BTF (/sys/kernel/btf/<module>) on top of vmlinux BTF. */
export function loadModuleBtf(module: string, base: Btf = loadKernelBtf(), dir = '/sys/kernel/btf'): Btf {
  if (module.includes('/')) throw new BtfError(`invalid module name '${module}'`);
  const path = `${dir}/${module}`;
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BtfError(code === 'ENOENT' ? `no BTF for module '${module}' (${path} missing: module not loaded or built without BTF)` : `cannot read ${path}: ${(err as Error).message}`);
  }
  return Btf.parse(data, base, path);
}

/** Byte offset of a dotted member path inside a struct/union (anonymous members looked through). */
export function memberOffset(structType: CType, path: string): number {
  return typeMemberOffset(structType, path);
}

/** Type, bit offset and bitfield width of a dotted member path. */
export function memberLocation(structType: CType, path: string): MemberLocation {
  return lookupMember(structType, path);
}
