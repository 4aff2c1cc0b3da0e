/**
 * How each event field becomes the value a handler sees: integers cast to their declared C type (syscall
 * tracepoints store every argument in an 8-byte slot marked unsigned, whatever its type), 64-bit integers as stap's
 * signed long, and how the kernel's event filter sees the same field, so that filter pushdown stays exact.
 */
import type { FieldFormat } from '../tracefs/format.js';

/** How the kernel's filter compares a field, relative to the value the handler sees. */
export type FilterView =
  /**
   * An integer both sides see with the same `bits` bits; the kernel compares it as `kernelSigned`, the handler as
   * `valueSigned` (they differ when the record's `signed:` flag disagrees with the declared C type).
   */
  | { kind: 'int'; bits: number; kernelSigned: boolean; valueSigned: boolean }
  /** A string the kernel compares byte for byte; a static char[N] holds fewer than `capacity` bytes plus a NUL. */
  | { kind: 'string'; capacity?: number }
  /** The kernel cannot compare it the way the handler does (narrowed slots, char pointers, arrays). */
  | { kind: 'none' };

export interface FieldPlan {
  /** The field as it should be decoded: offset, size and signedness of the declared type. */
  decode: FieldFormat;
  /** Decoded arrays stand for their first element (a handler reads an array field as a long). */
  firstElement: boolean;
  filter: FilterView;
}

/** Sizes and signedness of the C integer types that appear in tracepoint formats (x86_64 and other LP64 ABIs). */
const INTEGER_TYPES: Record<string, [number, boolean]> = {
  char: [1, true], 'signed char': [1, true], 'unsigned char': [1, false], bool: [1, false], _Bool: [1, false],
  u8: [1, false], __u8: [1, false], s8: [1, true], __s8: [1, true], int8_t: [1, true], uint8_t: [1, false],
  short: [2, true], 'short int': [2, true], 'signed short': [2, true], 'unsigned short': [2, false],
  'unsigned short int': [2, false], u16: [2, false], __u16: [2, false], s16: [2, true], __s16: [2, true],
  int16_t: [2, true], uint16_t: [2, false], umode_t: [2, false],
  int: [4, true], 'signed int': [4, true], signed: [4, true], 'unsigned int': [4, false], unsigned: [4, false],
  u32: [4, false], __u32: [4, false], s32: [4, true], __s32: [4, true], int32_t: [4, true], uint32_t: [4, false],
  pid_t: [4, true], uid_t: [4, false], gid_t: [4, false], qid_t: [4, false], clockid_t: [4, true], timer_t: [4, true],
  mqd_t: [4, true], key_t: [4, true], key_serial_t: [4, true], rwf_t: [4, true], fmode_t: [4, false],
  __kernel_pid_t: [4, true], __kernel_uid32_t: [4, false], __kernel_gid32_t: [4, false],
  long: [8, true], 'long int': [8, true], 'signed long': [8, true], 'unsigned long': [8, false],
  'unsigned long int': [8, false], 'long long': [8, true], 'long long int': [8, true],
  'unsigned long long': [8, false], 'unsigned long long int': [8, false], u64: [8, false], __u64: [8, false],
  s64: [8, true], __s64: [8, true], int64_t: [8, true], uint64_t: [8, false], loff_t: [8, true], off_t: [8, true],
  ssize_t: [8, true], size_t: [8, false], time_t: [8, true], __kernel_old_time_t: [8, true],
  aio_context_t: [8, false], __kernel_ulong_t: [8, false], __kernel_long_t: [8, true],
  cap_user_header_t: [8, false], cap_user_data_t: [8, false],
};

/** The C type with qualifiers and annotations removed, spaces normalised. */
export function normaliseCType(type: string): string {
  return type
    .replace(/\b(const|volatile|__user|__iomem|__rcu|__force)\b/g, ' ')
    .replace(/\s*\*\s*/g, '*')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Size in bytes and signedness of a declared integer or pointer type; undefined when the type is not known. */
export function declaredInteger(type: string, longSize = 8): { size: number; signed: boolean } | undefined {
  const t = normaliseCType(type);
  if (t.endsWith('*')) return { size: longSize, signed: false };
  if (/^enum\b/.test(t)) return { size: 4, signed: false };
  const known = INTEGER_TYPES[t];
  if (!known) return undefined;
  const [size, signed] = known;
  return { size: size === 8 ? longSize : size, signed };
}

/** `char *` and `const char *` fields are strings to the kernel's filter (FILTER_PTR_STRING), not numbers. */
function isCharPointer(type: string): boolean {
  return /^(signed |unsigned )?char\*$/.test(normaliseCType(type));
}

/**
 * The decode and filter plan of one field. `littleEndian` says where the low bytes of a wide slot are.
 */
export function planField(field: FieldFormat, littleEndian: boolean): FieldPlan {
  switch (field.kind) {
    case 'string':
      return { decode: field, firstElement: false, filter: { kind: 'string', capacity: field.arrayLength ? field.size : undefined } };
    case 'dynString':
      return { decode: field, firstElement: false, filter: { kind: 'string' } };
    case 'array':
      if ((field.arrayLength ?? 0) > 0 && field.elementSize) {
        // A fixed array read as a long is its first element, decoded like a scalar of the element's size.
        const size = field.elementSize;
        return {
          decode: { ...field, kind: 'int', size, signed: size === 8 ? true : field.signed, arrayLength: undefined, elementSize: undefined },
          firstElement: false, filter: { kind: 'none' },
        };
      }
      return { decode: field, firstElement: true, filter: { kind: 'none' } };
    case 'dynArray':
      return { decode: field, firstElement: true, filter: { kind: 'none' } };
    case 'int':
      break;
  }
  const slot = field.size;
  const declared = declaredInteger(field.type, 8);
  let size = slot;
  let signed = field.signed;
  let offset = field.offset;
  let narrowed = false;
  if (declared && declared.size <= slot && (declared.size < slot || declared.signed !== field.signed)) {
    size = declared.size;
    signed = declared.signed;
    narrowed = declared.size < slot;
    if (!littleEndian) offset += slot - declared.size;
  }
  // stap's long is signed 64-bit: an unsigned 64-bit value is its two's-complement reinterpretation.
  const valueSigned = size === 8 ? true : signed;
  const decode: FieldFormat = { ...field, offset, size, signed: valueSigned };
  let filter: FilterView = { kind: 'none' };
  if (!narrowed && !isCharPointer(field.type) && [1, 2, 4, 8].includes(slot)) {
    filter = { kind: 'int', bits: slot * 8, kernelSigned: field.signed, valueSigned };
  }
  return { decode, firstElement: false, filter };
}
