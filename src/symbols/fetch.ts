/**
 * Builds tracefs probe fetch arguments (`+8(+16(%di)):u32`, `+24(%di):string`) from a base location,
 * its C type and a stap-style member path (`->a->b`, `.c`, `[N]`): the dereference chain, offsets
 * and type suffix that make the kernel read exactly that value, or a clear error when tracefs
 * cannot express it.
 *
 * Memory spaces: uprobes read user memory everywhere (plain `+N(...)` derefs, `:string`, which
 * uprobes read from user space on every kernel that has them). Kernel probes read kernel memory;
 * pointers known to point into user space (the `userPointer` option, or BTF `__user` type tags)
 * are dereferenced with `+uN(...)` and strings fetched with `:ustring`.
 */

import { findMember, formatType, hasUserTag, isCharType, resolveType, type ArgLocation, type CType } from './types.js';

export class FetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FetchError';
  }
}

/**
 * tracefs MAX_ARGSTR_LEN: the text after `name=` (expression plus `:type`) may be at most 63 chars.
 * This binds before the dereference-depth limit (FETCH_INSN_MAX): 63 characters hold at most 14
 * `+0(` levels, which the kernel accepts.
 */
export const MAX_FETCH_ARG_LENGTH = 63;
/** tracefs MAX_ARRAY_LEN: `type[N]` takes N ≤ 64. */
export const MAX_FETCH_ARRAY_LENGTH = 64;

/** Where the value starts: held by a fetcharg (`%di`, `$arg1`, `$retval`) or in memory. */
export type FetchBase =
  | { readonly kind: 'value'; readonly arg: string }
  /** The value lives in memory at (value of `address`) + `offset`, e.g. a stack argument. */
  | { readonly kind: 'memory'; readonly address: string; readonly offset: number };

export type FetchMode =
  /** The value itself: numbers for scalars, `:string` for char arrays, `type[N]` for small scalar arrays. */
  | 'value'
  /** A string: at the address a pointer holds, or at an array's own address. */
  | 'string'
  /** The address of the lvalue (stap `&$p->m`): fetches the base address, the caller adds `addend`. */
  | 'address';

export interface FetchRequest {
  readonly base: FetchBase | string;
  readonly type: CType;
  /** stap member path: `->a->b`, `.a`, `[3]`, combinations; '' or omitted for the base itself. */
  readonly path?: string;
  readonly probe: 'uprobe' | 'kernel';
  /** Kernel probes only: the base value points into user memory (e.g. a syscall's `char __user *`). */
  readonly userPointer?: boolean;
  readonly mode?: FetchMode;
}

export interface FetchResult {
  /** The fetch argument, ready to follow `name=` in a probe definition. */
  readonly arg: string;
  /** C type of the fetched thing (after the path). */
  readonly type: CType;
  readonly kind: 'number' | 'string' | 'array';
  /** The tracefs type suffix used (`s32`, `string`, `u8[4]`, `b3@0/8`...). */
  readonly tracefsType: string;
  /** Address mode: add this to the fetched value to get the lvalue's address. */
  readonly addend?: number;
  /** Signed bitfields come back zero-extended; sign-extend from this many bits. */
  readonly signExtendBits?: number;
}

/** One step of a member path. */
export type PathStep = { readonly kind: 'member'; readonly name: string } | { readonly kind: 'index'; readonly index: number };

/** Parses `->a.b[3]->c` into steps. Whitespace is not allowed (stap tokens never carry it here). */
export function parseMemberPath(path: string): PathStep[] {
  const steps: PathStep[] = [];
  let i = 0;
  while (i < path.length) {
    if (path.startsWith('->', i) || path[i] === '.') {
      i += path[i] === '.' ? 1 : 2;
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(path.slice(i));
      if (!m) throw new FetchError(`expected a member name at '${path.slice(i) || '<end>'}' in '${path}'`);
      steps.push({ kind: 'member', name: m[0] });
      i += m[0].length;
    } else if (path[i] === '[') {
      const m = /^\[\s*(-?(?:0x[0-9a-fA-F]+|\d+))\s*\]/.exec(path.slice(i));
      if (!m) throw new FetchError(`expected a constant index at '${path.slice(i)}' in '${path}'`);
      steps.push({ kind: 'index', index: Number(m[1]!.replace(/^(-?)0x/, '$10x')) });
      i += m[0].length;
    } else {
      throw new FetchError(`unexpected '${path[i]}' in member path '${path}'`);
    }
  }
  return steps;
}

/** Converts an ABI argument location into a fetch base. */
export function baseForArgLocation(location: ArgLocation): FetchBase {
  switch (location.kind) {
    case 'register':
      return { kind: 'value', arg: location.register };
    case 'stack':
      return { kind: 'memory', address: location.register, offset: location.offset };
    case 'indirect':
      return { kind: 'memory', address: location.register, offset: 0 };
    case 'registers':
      throw new FetchError(`the value is split over registers ${location.registers.join(', ')}; tracefs cannot fetch it as one value`);
    case 'unavailable':
      throw new FetchError(`the value cannot be fetched: ${location.reason}`);
  }
}

/** Where the current value is while walking a path. */
type Place =
  | { where: 'value'; arg: string }
  | { where: 'memory'; address: string; offset: number; user: boolean; bitOffset: number; bitSize: number };

/** `+8(%di)`, `-8(%di)`, `+u8(%di)` (user memory read from a kernel probe). */
function deref(address: string, offset: number, userRead: boolean): string {
  const sign = offset < 0 ? '-' : '+';
  return `${sign}${userRead ? 'u' : ''}${Math.abs(offset)}(${address})`;
}

function integerSuffix(size: number, signed: boolean, what: string): string {
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new FetchError(`${what} is ${size} bytes; tracefs fetches 1, 2, 4 or 8`);
  return `${signed ? 's' : 'u'}${size * 8}`;
}

/** Builds the fetch argument for `request`; throws FetchError when tracefs cannot express it. */
export function buildFetchArg(request: FetchRequest): FetchResult {
  const mode = request.mode ?? 'value';
  const uprobe = request.probe === 'uprobe';
  const base: FetchBase = typeof request.base === 'string' ? { kind: 'value', arg: request.base } : request.base;
  const userRead = (user: boolean) => user && !uprobe; // `+u` only means something to kernel probes
  // Memory reached through the base pointer is user memory for uprobes and for user pointers.
  const baseUser = uprobe || request.userPointer === true;

  let place: Place =
    base.kind === 'value'
      ? { where: 'value', arg: base.arg }
      : { where: 'memory', address: base.address, offset: base.offset, user: uprobe, bitOffset: 0, bitSize: 0 };
  let type = request.type;
  let described = base.kind === 'value' ? base.arg : deref(base.address, base.offset, false);

  /** The value of a pointer at the current place, as a fetcharg. */
  const pointerValue = (): string => {
    if (place.where === 'value') return place.arg;
    return deref(place.address, place.offset, userRead(place.user));
  };
  /** Whether memory a pointer points to is user memory. */
  const pointeeUser = (pointerType: CType, pointerPlace: Place): boolean => {
    const pointer = resolveType(pointerType);
    // clang-built kernels tag user pointees: PTR -> TYPE_TAG("user") -> char.
    if (uprobe || (pointer.kind === 'pointer' && hasUserTag(pointer.target))) return true;
    // Only the base pointer is known to be a user pointer; pointers read from kernel memory are kernel pointers.
    return pointerPlace.where === 'value' ? baseUser : pointerPlace.user;
  };

  for (const step of parseMemberPath(request.path ?? '')) {
    const t = resolveType(type);
    const stepText = step.kind === 'member' ? `->${step.name}` : `[${step.index}]`;
    if (place.where === 'memory' && place.bitSize !== 0) throw new FetchError(`${described}: a bitfield has no members or elements`);
    if (step.kind === 'member') {
      // stap's `->` also reaches into embedded structs, so `->` and `.` behave the same.
      let recordPlace: Place;
      let record: CType;
      if (t.kind === 'pointer') {
        record = t.target;
        recordPlace = { where: 'memory', address: pointerValue(), offset: 0, user: pointeeUser(type, place), bitOffset: 0, bitSize: 0 };
      } else if (t.kind === 'struct' || t.kind === 'union') {
        if (place.where !== 'memory') {
          throw new FetchError(`${described}: ${formatType(type)} is passed by value in registers; its members cannot be fetched`);
        }
        record = t;
        recordPlace = place;
      } else {
        throw new FetchError(`${described}${stepText}: ${formatType(type)} is not a struct, union or pointer to one`);
      }
      const r = resolveType(record);
      if (r.kind !== 'struct' && r.kind !== 'union') {
        throw new FetchError(`${described}${stepText}: ${formatType(type)} does not point to a struct or union`);
      }
      if (!r.complete) throw new FetchError(`${described}${stepText}: ${formatType(r)} is only declared here, its layout is unknown`);
      const member = findMember(r, step.name);
      if (!member) throw new FetchError(`${described}${stepText}: ${formatType(r)} has no member '${step.name}'`);
      const byteOffset = Math.floor(member.bitOffset / 8);
      const memory = recordPlace as Extract<Place, { where: 'memory' }>;
      place = {
        where: 'memory',
        address: memory.address,
        offset: memory.offset + byteOffset,
        user: memory.user,
        bitOffset: member.bitSize !== 0 ? member.bitOffset - byteOffset * 8 : 0,
        bitSize: member.bitSize,
      };
      type = member.type;
    } else {
      if (t.kind === 'pointer') {
        const elementSize = resolveType(t.target).size;
        if (elementSize <= 0) throw new FetchError(`${described}${stepText}: cannot index a pointer to ${formatType(t.target)}`);
        place = {
          where: 'memory',
          address: pointerValue(),
          offset: step.index * elementSize,
          user: pointeeUser(type, place),
          bitOffset: 0,
          bitSize: 0,
        };
        type = t.target;
      } else if (t.kind === 'array') {
        if (place.where !== 'memory') throw new FetchError(`${described}: an array held in a register cannot be indexed`);
        const elementSize = resolveType(t.element).size;
        place = { ...place, offset: place.offset + step.index * elementSize };
        type = t.element;
      } else {
        throw new FetchError(`${described}${stepText}: ${formatType(type)} is not a pointer or array`);
      }
    }
    described += stepText;
  }

  const result = finish(place, type, mode, described, uprobe, pointerValue, pointeeUser);
  if (result.arg.length > MAX_FETCH_ARG_LENGTH) {
    throw new FetchError(
      `${described}: the tracefs fetch argument '${result.arg}' is ${result.arg.length} characters, over the kernel's limit of ${MAX_FETCH_ARG_LENGTH}`,
    );
  }
  return result;
}

function finish(
  place: Place,
  type: CType,
  mode: FetchMode,
  described: string,
  uprobe: boolean,
  pointerValue: () => string,
  pointeeUser: (pointerType: CType, pointerPlace: Place) => boolean,
): FetchResult {
  const t = resolveType(type);
  const stringSuffix = (user: boolean) => (user && !uprobe ? 'ustring' : 'string');
  const memoryRead = (p: Extract<Place, { where: 'memory' }>) => `${p.offset < 0 ? '-' : '+'}${p.user && !uprobe ? 'u' : ''}${Math.abs(p.offset)}(${p.address})`;

  if (mode === 'address') {
    if (place.where !== 'memory') throw new FetchError(`${described} is held in a register and has no address`);
    if (place.bitSize !== 0) throw new FetchError(`${described} is a bitfield and has no address`);
    // tracefs has no arithmetic: fetch the base address and let the caller add the offset.
    return { arg: `${place.address}:x64`, type, kind: 'number', tracefsType: 'x64', addend: place.offset };
  }

  if (mode === 'string') {
    if (t.kind === 'pointer') {
      const suffix = stringSuffix(pointeeUser(type, place));
      // `+0(P):string` reads the string at the address P holds.
      return { arg: `+0(${pointerValue()}):${suffix}`, type, kind: 'string', tracefsType: suffix };
    }
    if (t.kind === 'array') {
      if (place.where !== 'memory') throw new FetchError(`${described}: an array held in a register has no string to read`);
      const suffix = stringSuffix(place.user);
      return { arg: `${memoryRead(place)}:${suffix}`, type, kind: 'string', tracefsType: suffix };
    }
    throw new FetchError(`${described}: ${formatType(type)} is not a pointer or array, so it cannot be read as a string`);
  }

  // mode 'value'
  switch (t.kind) {
    case 'int':
    case 'enum': {
      if (place.where === 'memory' && place.bitSize !== 0) return bitfield(place, type, t.signed, memoryRead);
      const suffix = integerSuffix(t.size, t.signed, `${described} (${formatType(type)})`);
      const arg = place.where === 'value' ? `${place.arg}:${suffix}` : `${memoryRead(place)}:${suffix}`;
      return { arg, type, kind: 'number', tracefsType: suffix };
    }
    case 'pointer': {
      const suffix = `x${t.size * 8}`;
      const arg = place.where === 'value' ? `${place.arg}:${suffix}` : `${memoryRead(place)}:${suffix}`;
      return { arg, type, kind: 'number', tracefsType: suffix };
    }
    case 'array': {
      if (place.where !== 'memory') throw new FetchError(`${described}: an array held in a register cannot be fetched`);
      if (isCharType(t.element)) {
        // A char array is read as a string at its own address, not dereferenced.
        const suffix = stringSuffix(place.user);
        return { arg: `${memoryRead(place)}:${suffix}`, type, kind: 'string', tracefsType: suffix };
      }
      const element = resolveType(t.element);
      if (element.kind !== 'int' && element.kind !== 'enum' && element.kind !== 'pointer') {
        throw new FetchError(`${described}: arrays of ${formatType(t.element)} cannot be fetched; index an element`);
      }
      if (t.count === undefined || t.count < 1 || t.count > MAX_FETCH_ARRAY_LENGTH) {
        throw new FetchError(
          `${described}: ${formatType(type)} has ${t.count ?? 'an unknown number of'} elements; tracefs arrays hold 1 to ${MAX_FETCH_ARRAY_LENGTH}`,
        );
      }
      const elementSuffix =
        element.kind === 'pointer' ? `x${element.size * 8}` : integerSuffix(element.size, element.signed, `${described} element`);
      const suffix = `${elementSuffix}[${t.count}]`;
      return { arg: `${memoryRead(place)}:${suffix}`, type, kind: 'array', tracefsType: suffix };
    }
    case 'float':
      throw new FetchError(`${described} is floating point (${formatType(type)}); tracefs cannot fetch floating-point values`);
    case 'struct':
    case 'union':
      throw new FetchError(`${described} is a whole ${formatType(type)}; fetch one of its members instead`);
    case 'void':
      throw new FetchError(`${described} has type void`);
    case 'function':
      throw new FetchError(`${described} is a function, not a value`);
    default:
      throw new FetchError(`${described}: cannot fetch ${formatType(type)}`);
  }
}

/**
 * tracefs bitfields read a container (`b<width>@<shift>/<container bits>`) at a byte address;
 * choose the smallest container starting at the member's first byte that holds all its bits.
 */
function bitfield(
  place: Extract<Place, { where: 'memory' }>,
  type: CType,
  signed: boolean,
  memoryRead: (p: Extract<Place, { where: 'memory' }>) => string,
): FetchResult {
  const needed = place.bitOffset + place.bitSize;
  const container = [8, 16, 32, 64].find((bits) => bits >= needed);
  if (container === undefined) throw new FetchError(`bitfield of ${place.bitSize} bits at bit ${place.bitOffset} does not fit a 64-bit container`);
  const suffix = `b${place.bitSize}@${place.bitOffset}/${container}`;
  return {
    arg: `${memoryRead(place)}:${suffix}`,
    type,
    kind: 'number',
    tracefsType: suffix,
    ...(signed ? { signExtendBits: place.bitSize } : {}),
  };
}

/** The C type a member path leads to from a value of `type` (what buildFetchArg would fetch there). */
export function typeAtPath(type: CType, path: string): CType {
  for (const step of parseMemberPath(path)) {
    const t = resolveType(type);
    if (step.kind === 'member') {
      const record = resolveType(t.kind === 'pointer' ? t.target : t);
      if (record.kind !== 'struct' && record.kind !== 'union') throw new FetchError(`${formatType(type)} is not a struct, union or pointer to one`);
      const member = findMember(record, step.name);
      if (!member) throw new FetchError(`${formatType(record)} has no member '${step.name}'`);
      type = member.type;
    } else if (t.kind === 'pointer') {
      type = t.target;
    } else if (t.kind === 'array') {
      type = t.element;
    } else {
      throw new FetchError(`${formatType(type)} is not a pointer or array`);
    }
  }
  return type;
}
