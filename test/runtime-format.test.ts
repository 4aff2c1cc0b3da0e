import { describe, it, expect, afterEach } from 'vitest';
import {
  parseFormat, formatArgCount, argTypes, sprintf, formatPrint, compileFormat, truncate, memoryReads, limits,
  FLAG_LEFT, FLAG_SIGN, FLAG_SPECIAL, FLAG_ZEROPAD, type FormatSpec, type FormatArg,
} from '../src/runtime/format.js';
import { StapError } from '../src/runtime/errors.js';
import { fromBigInt, type Long } from '../src/runtime/long.js';

function spec(fmt: string): FormatSpec[] {
  const s = parseFormat(fmt);
  if (!Array.isArray(s)) throw new Error(s.error);
  return s;
}

/** Formats with every entry point and checks they agree: general sprintf and compiled sprintf. */
function sp(fmt: string, ...args: FormatArg[]): string {
  const general = sprintf(spec(fmt), args);
  expect(compileFormat(fmt, 'sprintf')(args)).toBe(general);
  return general;
}

/** printf output from the general and the compiled path. */
function pr(fmt: string, ...args: FormatArg[]): string {
  const general = formatPrint(spec(fmt), args);
  expect(compileFormat(fmt, 'print')(args)).toBe(general);
  return general;
}

const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;
const VALUES: Long[] = [0, 1, -1, 42, -42, 255, INT64_MAX, INT64_MIN, 123456789012];

// Expected strings produced by glibc printf with the same conversions ("%5lld" for "%5d" …) — the cases
// where stap's number() and C agree.
const C_AGREES: [string, string[]][] = [
  ['%d', ['0', '1', '-1', '42', '-42', '255', '9223372036854775807', '-9223372036854775808', '123456789012']],
  ['%5d', ['    0', '    1', '   -1', '   42', '  -42', '  255', '9223372036854775807', '-9223372036854775808', '123456789012']],
  ['%-5d|', ['0    |', '1    |', '-1   |', '42   |', '-42  |', '255  |', '9223372036854775807|', '-9223372036854775808|', '123456789012|']],
  ['%05d', ['00000', '00001', '-0001', '00042', '-0042', '00255', '9223372036854775807', '-9223372036854775808', '123456789012']],
  ['%+d', ['+0', '+1', '-1', '+42', '-42', '+255', '+9223372036854775807', '-9223372036854775808', '+123456789012']],
  ['% d', [' 0', ' 1', '-1', ' 42', '-42', ' 255', ' 9223372036854775807', '-9223372036854775808', ' 123456789012']],
  ['%x', ['0', '1', 'ffffffffffffffff', '2a', 'ffffffffffffffd6', 'ff', '7fffffffffffffff', '8000000000000000', '1cbe991a14']],
  ['%X', ['0', '1', 'FFFFFFFFFFFFFFFF', '2A', 'FFFFFFFFFFFFFFD6', 'FF', '7FFFFFFFFFFFFFFF', '8000000000000000', '1CBE991A14']],
  ['%o', ['0', '1', '1777777777777777777777', '52', '1777777777777777777726', '377', '777777777777777777777', '1000000000000000000000', '1627646215024']],
  ['%.3d', ['000', '001', '-001', '042', '-042', '255', '9223372036854775807', '-9223372036854775808', '123456789012']],
  ['%8.3d', ['     000', '     001', '    -001', '     042', '    -042', '     255', '9223372036854775807', '-9223372036854775808', '123456789012']],
  ['%-8.3d|', ['000     |', '001     |', '-001    |', '042     |', '-042    |', '255     |', '9223372036854775807|', '-9223372036854775808|', '123456789012|']],
  ['%u', ['0', '1', '18446744073709551615', '42', '18446744073709551574', '255', '9223372036854775807', '9223372036854775808', '123456789012']],
  ['%+5d', ['   +0', '   +1', '   -1', '  +42', '  -42', ' +255', '+9223372036854775807', '-9223372036854775808', '+123456789012']],
  ['% 5d', ['    0', '    1', '   -1', '   42', '  -42', '  255', ' 9223372036854775807', '-9223372036854775808', ' 123456789012']],
  ['%i', ['0', '1', '-1', '42', '-42', '255', '9223372036854775807', '-9223372036854775808', '123456789012']],
  ['%ld', ['0', '1', '-1', '42', '-42', '255', '9223372036854775807', '-9223372036854775808', '123456789012']],
];

describe('format: parsing', () => {
  it('splits literals and conversions and folds %%', () => {
    expect(spec('a%%b %5.2s%-d')).toEqual([
      { kind: 'literal', text: 'a%b ' },
      { kind: 'conversion', conv: 's', flags: 0, width: 5, precision: 2, base: 10 },
      { kind: 'conversion', conv: 'd', flags: FLAG_LEFT | FLAG_SIGN, width: null, precision: null, base: 10 },
    ]);
    expect(spec('%*.*x')).toEqual([{ kind: 'conversion', conv: 'x', flags: 0, width: '*', precision: '*', base: 16 }]);
    expect(spec('100%')).toEqual([{ kind: 'literal', text: '100%' }]);
    expect(spec('%p')[0]).toMatchObject({ conv: 'p', flags: FLAG_SPECIAL, base: 16 });
    expect(spec('%08.3d')[0]).toMatchObject({ flags: FLAG_ZEROPAD | FLAG_SIGN, width: 8, precision: 3 });
    expect(spec('%-08d')[0]).toMatchObject({ flags: FLAG_LEFT | FLAG_SIGN, width: 8 });
  });

  it('accepts what Debian stap 4.8 accepts at -p2', () => {
    for (const f of ['%d', '%ld', '%#x', '%b', '%4b', '%m', '%#M', '%p', '%c', '%u', '%o', '%X', '%i', '%08.3d', '%+d', '% d']) {
      expect(Array.isArray(parseFormat(f)), f).toBe(true);
    }
  });

  it('rejects with stap error texts', () => {
    for (const f of ['%lld', '%f', '%n', '%hd', '%zu', '%+-5d', '%0-5d', '%#-x', '%5q']) {
      expect(parseFormat(f), f).toEqual({ error: 'invalid or missing conversion specifier' });
    }
    for (const f of ['abc%5', '%-', '%5.', '%.3', '%*']) {
      expect(parseFormat(f), f).toEqual({ error: 'trailing incomplete print format conversion' });
    }
    // An empty trailing conversion is dropped, as stap does.
    expect(parseFormat('ab%l')).toEqual([{ kind: 'literal', text: 'ab' }]);
    expect(parseFormat('ab%.')).toEqual([{ kind: 'literal', text: 'ab' }]);
  });

  it('counts arguments and their types', () => {
    expect(formatArgCount(spec('%-*d'))).toBe(2);
    expect(formatArgCount(spec('%.*M'))).toBe(2);
    expect(formatArgCount(spec('%%'))).toBe(0);
    expect(formatArgCount(spec('%*.*s %d'))).toBe(4);
    expect(argTypes(spec('%*.*s %d %m %c %b %p'))).toEqual(['long', 'long', 'string', 'long', 'long', 'long', 'long', 'long']);
  });
});

describe('format: integer conversions', () => {
  for (const [fmt, want] of C_AGREES) {
    it(`${fmt} matches C`, () => {
      VALUES.forEach((v, i) => expect(sp(fmt, v)).toBe(want[i]));
    });
  }

  it('# always adds the prefix, also for 0 (stap number())', () => {
    expect(sp('%#x', 0)).toBe('0x0');
    expect(sp('%#X', 255)).toBe('0XFF');
    expect(sp('%#o', 0)).toBe('00');
    expect(sp('%#o', 8)).toBe('010');
    expect(sp('%#10x', 0)).toBe('       0x0');
    expect(sp('%-10p|', 42)).toBe('0x2a      |'); // '%-#10x' would be two flags: a parse error
    expect(sp('%#x', -1)).toBe('0xffffffffffffffff');
    expect(sp('%#d', 5)).toBe('5');
  });

  it('%p is %#x of the 64-bit value, unpadded', () => {
    expect(sp('%p', 0)).toBe('0x0');
    expect(sp('%p', 0xffff88801234)).toBe('0xffff88801234');
    expect(sp('%p', -1)).toBe('0xffffffffffffffff');
    expect(sp('%20p|', 4096)).toBe('              0x1000|');
    expect(sp('%-20p|', 4096)).toBe('0x1000              |');
    expect(sp('%020p', 4096)).toBe('0x000000000000001000'); // zero padding goes after the prefix
  });

  it('zero padding also applies with a precision, and %.0d of 0 prints 0', () => {
    expect(sp('%08.3d', 5)).toBe('00000005');
    expect(sp('%08.3d', -5)).toBe('-0000005');
    expect(sp('%.0d', 0)).toBe('0');
    expect(sp('%-05d|', 3)).toBe('3    |');
  });

  it('+ and space apply only to signed conversions', () => {
    expect(sp('%+u', 5)).toBe('5');
    expect(sp('% x', 5)).toBe('5');
    expect(sp('%+x', -1)).toBe('ffffffffffffffff');
  });

  it('bigint and boundary values', () => {
    expect(sp('%d %u %x', fromBigInt(2n ** 53n), fromBigInt(-(2n ** 60n)), fromBigInt(2n ** 62n))).toBe(
      '9007199254740992 17293822569102704640 4000000000000000',
    );
    expect(sp('%25d|', INT64_MIN)).toBe('     -9223372036854775808|');
    expect(sp('%o', INT64_MIN)).toBe('1000000000000000000000');
  });
});

describe('format: strings, chars, memory, binary', () => {
  it('%s with width, left alignment and precision', () => {
    expect(sp('[%s]', 'hello')).toBe('[hello]');
    expect(sp('[%8s]', 'hello')).toBe('[   hello]');
    expect(sp('[%-8s]', 'hello')).toBe('[hello   ]');
    expect(sp('[%.2s]', 'hello')).toBe('[he]');
    expect(sp('[%5.2s]', 'hello')).toBe('[   he]');
    expect(sp('[%.0s]', 'hello')).toBe('[]');
    expect(sp('[%.*s]', 3, 'hello')).toBe('[hel]');
    expect(sp('[%*s]', 7, 'ab')).toBe('[     ab]');
    expect(sp('[%s]', '')).toBe('[]');
  });

  it('%0s appends a NUL byte after the field (printf keeps it, sprintf ends there)', () => {
    expect(pr('[%05s]', 'ab')).toBe('[   ab\0]');
    expect(sp('[%05s]', 'ab')).toBe('[   ab');
  });

  it('%c prints the low byte; %#c escapes', () => {
    expect(sp('%c%c%c', 104, 105, 0x141)).toBe('hiA');
    expect(sp('[%3c]', 65)).toBe('[  A]');
    expect(sp('[%-3c]', 65)).toBe('[A  ]');
    expect(pr('%c', 0)).toBe('\0');
    expect(sp('a%cb', 0)).toBe('a');
    expect(pr('%c', 255)).toBe('\xff');
    expect(sp('%#c', 10)).toBe('\\n');
    expect(sp('%#c', 9)).toBe('\\t');
    expect(sp('%#c', 0)).toBe('\\000');
    expect(sp('%#c', 7)).toBe('\\a');
    expect(sp('%#c', 0x27)).toBe("\\'");
    expect(sp('%#c', 0x5c)).toBe('\\\\');
    expect(sp('%#c', 0x7f)).toBe('\\177');
    expect(sp('%#c', 0xff)).toBe('\\377');
    expect(sp('%#c', 0x80)).toBe('\\200');
    expect(sp('%#c', 65)).toBe('A');
    expect(sp('[%#6c]', 10)).toBe('[    \\n]');
  });

  it('%m and %M print the given memory bytes; precision is the byte count', () => {
    expect(pr('%m', 'xyz')).toBe('x');
    expect(pr('%.3m', 'xyz!')).toBe('xyz');
    expect(pr('[%6.3m]', 'xyz')).toBe('[   xyz]');
    expect(pr('[%-6.3m]', 'xyz')).toBe('[xyz   ]');
    expect(pr('%.4M', '\x01\xab\x00\xff')).toBe('01ab00ff');
    expect(pr('%.*M', 2, 'AB')).toBe('4142');
    expect(pr('[%6.2M]', 'AB')).toBe('[  4142]');
    expect(sp('%M', '\x7f')).toBe('7f');
  });

  it('%m and %M refuse dumps larger than PAGE_SIZE', () => {
    expect(() => formatPrint(spec('%.*M'), [5000, 'x'])).toThrow(StapError);
    expect(() => formatPrint(spec('%.*M'), [5000, 'x'])).toThrow('5000 is too many bytes for a memory dump');
    expect(() => sprintf(spec('%.4097m'), ['x'])).toThrow('4097 is too many bytes for a memory dump');
    expect(memoryReads(spec('a %#.3m %d %M'), [0x1000, 7, 0x2000])).toEqual([
      { argIndex: 0, address: 0x1000, length: 3, user: true },
      { argIndex: 2, address: 0x2000, length: 1, user: false },
    ]);
  });

  it('%b writes little-endian raw bytes; width picks the size', () => {
    expect(pr('%b', 0x0102)).toBe('\x02\x01\0\0\0\0\0\0');
    expect(pr('%1b', 0x41)).toBe('A');
    expect(pr('%2b', 0x4142)).toBe('BA');
    expect(pr('%4b', -2)).toBe('\xfe\xff\xff\xff');
    expect(pr('%8b', INT64_MIN)).toBe('\0\0\0\0\0\0\0\x80');
    expect(pr('%.2b', 0x4142)).toBe('BA');
    expect(pr('%3b', 0x41)).toBe('A\0\0\0\0\0\0\0'); // width 3 is no size: 8 bytes, no padding
    expect(pr('%10.4b', 0x41424344)).toBe('\0\0\0\0\0\0DCBA');
    expect(pr('%-10.4b|', 0x41424344)).toBe('DCBA\0\0\0\0\0\0|');
    expect(sp('%1b%1b', 0x41, 0x42)).toBe('AB');
  });

  it('%% and literals', () => {
    expect(sp('100%% sure')).toBe('100% sure');
    expect(sp('%d%%', 50)).toBe('50%');
    expect(pr('plain text\n')).toBe('plain text\n');
  });
});

describe('format: dynamic widths', () => {
  it('takes * width/precision as C int, clamping negatives to 0', () => {
    expect(sp('[%*d]', 5, 42)).toBe('[   42]');
    expect(sp('[%*d]', -5, 42)).toBe('[42]');
    expect(sp('[%.*d]', 4, 7)).toBe('[0007]');
    expect(sp('[%*d]', 4294967301, 1)).toBe('[    1]'); // (int)(2^32 + 5) == 5
    expect(sp('[%-*s]', 4, 'a')).toBe('[a   ]');
  });
});

describe('format: buffer limits', () => {
  afterEach(() => {
    limits.maxStringLen = 512;
  });

  it('sprintf results are at most MAXSTRINGLEN-1 bytes', () => {
    const long = 'x'.repeat(600);
    expect(sp('%s%s', long, long).length).toBe(511);
    expect(sp('%511s', 'a').length).toBe(511);
    expect(sp('%510s|', 'a')).toBe(' '.repeat(509) + 'a|');
    // Width clamps to the space left (512 - pos); the last byte is then overwritten by the NUL.
    expect(sp('ab%600d', 5)).toBe('ab' + ' '.repeat(509));
    expect(sp('%600d', 5)).toBe(' '.repeat(511));
    limits.maxStringLen = 16;
    expect(sp('%s', 'abcdefghijklmnopqrstuvwxyz')).toBe('abcdefghijklmno');
  });

  it('printf output is at most STP_BUFFER_SIZE bytes', () => {
    const out = pr('%d %9000d', 1, 2);
    expect(out.length).toBe(8192);
    expect(out).toBe('1 ' + ' '.repeat(8189) + '2');
    expect(pr('%10000d', 7)).toBe(' '.repeat(8191) + '7');
    // A literal-only format and a lone %s are printed whole.
    expect(pr('y'.repeat(9000)).length).toBe(9000);
  });

  it('truncate cuts string results to MAXSTRINGLEN-1', () => {
    expect(truncate('abc')).toBe('abc');
    expect(truncate('a'.repeat(512)).length).toBe(511);
    expect(truncate('a'.repeat(511)).length).toBe(511);
    expect(truncate('abcdef', 4)).toBe('abc');
  });
});

describe('format: compiled formats', () => {
  it('handles the common shapes', () => {
    const f = compileFormat('%s: pid=%d fd=%u flags=%x/%X p=%p c=%c o=%o\n');
    expect(f(['open', 1234, 3, 0x8241, 255, 0x7fff0000, 65, 8])).toBe('open: pid=1234 fd=3 flags=8241/FF p=0x7fff0000 c=A o=10\n');
    expect(compileFormat('%d|%5d|%-3s|')([fromBigInt(INT64_MIN), 7, 'x'])).toBe('-9223372036854775808|    7|x  |');
    expect(compileFormat('hello %s\n')(['world'])).toBe('hello world\n');
    expect(compileFormat('no args')([])).toBe('no args');
  });

  it('throws on bad formats', () => {
    expect(() => compileFormat('%q')).toThrow('invalid or missing conversion specifier');
  });
});
