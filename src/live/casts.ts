/**
 * How each event field becomes the value a handler sees: integers cast to their declared C type (syscall
 * tracepoints store every argument in an 8-byte slot marked unsigned, whatever its type), 64-bit integers as stap's
 * signed long, and how the kernel's event filter sees the same field, so that filter pushdown stays exact.
 */
import type { FieldFormat } from '../tracefs/format.js';
import { declaredInteger, normaliseCType } from '../symbols/c-integers.js';

export { declaredInteger, normaliseCType };

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
