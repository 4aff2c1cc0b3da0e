/**
 * The C integer types of tracepoint formats and kernel headers: size and signedness by name, for
 * casting event fields to their declared type and choosing tracefs fetch types.
 */

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
