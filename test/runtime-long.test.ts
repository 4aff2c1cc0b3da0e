import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  add, sub, mul, div, mod, neg, shl, shr, ushr, band, bor, bxor, bnot,
  lt, le, gt, ge, eq, ne, truthy, fromBigInt, toBigInt, fromNumber, parseLong,
  toDecimalString, toUnsigned64, isCanonical, readInt64LE, INT64_MAX, INT64_MIN, type Long,
} from '../src/runtime/long.js';
import { StapError } from '../src/runtime/errors.js';

const MAX = 9223372036854775807n;
const MIN = -9223372036854775808n;
const wrap = (b: bigint): bigint => BigInt.asIntN(64, b);

// Reference model: C int64 arithmetic done with bigints.
const ref = {
  add: (a: bigint, b: bigint) => wrap(a + b),
  sub: (a: bigint, b: bigint) => wrap(a - b),
  mul: (a: bigint, b: bigint) => wrap(a * b),
  div: (a: bigint, b: bigint) => wrap(a / b),
  mod: (a: bigint, b: bigint) => (b === 1n || b === -1n ? 0n : a % b),
  and: (a: bigint, b: bigint) => a & b,
  or: (a: bigint, b: bigint) => a | b,
  xor: (a: bigint, b: bigint) => a ^ b,
};

// Values concentrated around the interesting boundaries: small, near 2^31, 2^32, 2^53 and int64 limits.
const interesting = fc.oneof(
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.bigInt({ min: MIN, max: MAX }),
  fc.constantFrom(0n, 1n, -1n, MAX, MIN, MAX - 1n, MIN + 1n, 2n ** 31n, -(2n ** 31n), 2n ** 32n, 2n ** 32n - 1n,
    2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n - 1n), -(2n ** 53n), 2n ** 53n + 1n, 2n ** 62n, -(2n ** 62n)),
  fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n }),
).map(fromBigInt);

describe('long: canonical form', () => {
  it('keeps safe integers as numbers and the rest as bigints', () => {
    expect(fromBigInt(5n)).toBe(5);
    expect(fromBigInt(2n ** 53n - 1n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(fromBigInt(2n ** 53n)).toBe(2n ** 53n);
    expect(fromBigInt(-(2n ** 53n))).toBe(-(2n ** 53n));
    expect(fromBigInt(2n ** 64n + 7n)).toBe(7);
    expect(fromBigInt(2n ** 63n)).toBe(MIN);
    expect(isCanonical(5)).toBe(true);
    expect(isCanonical(5n)).toBe(false);
    expect(isCanonical(-0)).toBe(false);
    expect(isCanonical(MIN)).toBe(true);
  });

  it('bitwise results at -2^53 are bigints', () => {
    expect(band(-(2 ** 53 - 1), -2)).toBe(-(2n ** 53n));
    expect(bor(-(2 ** 53), 0)).toBe(-(2n ** 53n));
  });

  it('never produces -0', () => {
    for (const r of [mul(0, -5), div(0, -5), mod(-4, 2), neg(0), div(-1, 2), shr(-0, 1), fromNumber(-0.5)]) {
      expect(Object.is(r, -0)).toBe(false);
    }
  });
});

describe('long: 64-bit wrap-around', () => {
  it('0x7fffffffffffffff + 1 wraps to INT64_MIN', () => {
    expect(add(INT64_MAX, 1)).toBe(MIN);
    expect(sub(INT64_MIN, 1)).toBe(MAX);
    expect(add(Number.MAX_SAFE_INTEGER, 1)).toBe(2n ** 53n);
    expect(sub(2n ** 53n, 1)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('multiplication overflow wraps', () => {
    expect(mul(2n ** 62n, 2)).toBe(MIN);
    expect(mul(2n ** 62n, 4)).toBe(0);
    expect(mul(4294967296, 4294967296)).toBe(0);
    expect(mul(4294967297, 4294967297)).toBe(8589934593); // (2^32+1)^2 mod 2^64
    expect(mul(INT64_MAX, INT64_MAX)).toBe(1);
    expect(mul(94906265, 94906265)).toBe(9007199136250225); // just below 2^53: stays a number
    expect(mul(94906267, 94906267)).toBe(9007199515875289n); // just above: bigint
  });

  it('negation of INT64_MIN stays INT64_MIN', () => {
    expect(neg(INT64_MIN)).toBe(MIN);
    expect(neg(INT64_MAX)).toBe(MIN + 1n);
    expect(neg(5)).toBe(-5);
  });

  it('matches the reference model on random operands', () => {
    fc.assert(
      fc.property(interesting, interesting, (a, b) => {
        const A = toBigInt(a);
        const B = toBigInt(b);
        const check = (got: Long, want: bigint) => {
          expect(isCanonical(got)).toBe(true);
          expect(toBigInt(got)).toBe(want);
        };
        check(add(a, b), ref.add(A, B));
        check(sub(a, b), ref.sub(A, B));
        check(mul(a, b), ref.mul(A, B));
        check(band(a, b), ref.and(A, B));
        check(bor(a, b), ref.or(A, B));
        check(bxor(a, b), ref.xor(A, B));
        check(bnot(a), ~A);
        check(neg(a), wrap(-A));
        if (B !== 0n) {
          check(div(a, b), ref.div(A, B));
          check(mod(a, b), ref.mod(A, B));
        }
        expect(lt(a, b)).toBe(A < B);
        expect(le(a, b)).toBe(A <= B);
        expect(gt(a, b)).toBe(A > B);
        expect(ge(a, b)).toBe(A >= B);
        expect(eq(a, b)).toBe(A === B);
        expect(ne(a, b)).toBe(A !== B);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('long: division and modulo', () => {
  it('truncates toward zero with C signs', () => {
    expect(div(7, 2)).toBe(3);
    expect(div(-7, 2)).toBe(-3);
    expect(div(7, -2)).toBe(-3);
    expect(div(-7, -2)).toBe(3);
    expect(mod(7, 2)).toBe(1);
    expect(mod(-7, 2)).toBe(-1);
    expect(mod(7, -2)).toBe(1);
    expect(mod(-7, -2)).toBe(-1);
    expect(div(Number.MAX_SAFE_INTEGER, 3)).toBe(3002399751580330);
    expect(div(INT64_MAX, 10)).toBe(922337203685477580n);
    expect(mod(INT64_MIN, 10)).toBe(-8);
  });

  it('INT64_MIN / -1 wraps to INT64_MIN and INT64_MIN % -1 is 0 (stap _stp_div64/_stp_mod64)', () => {
    expect(div(INT64_MIN, -1)).toBe(MIN);
    expect(mod(INT64_MIN, -1)).toBe(0);
  });

  it('throws division by 0', () => {
    for (const f of [() => div(1, 0), () => mod(1, 0), () => div(2n ** 60n, 0), () => mod(INT64_MIN, 0)]) {
      expect(f).toThrow(StapError);
      expect(f).toThrow('division by 0');
    }
  });
});

describe('long: shifts', () => {
  it('shift left and right within 0..63', () => {
    expect(shl(1, 10)).toBe(1024);
    expect(shl(1, 62)).toBe(2n ** 62n);
    expect(shl(1, 63)).toBe(MIN);
    expect(shl(3, 63)).toBe(MIN);
    expect(shl(-1, 1)).toBe(-2);
    expect(shl(0x12345678, 40)).toBe(fromBigInt(0x12345678n << 40n));
    expect(shr(-8, 1)).toBe(-4);
    expect(shr(-1, 63)).toBe(-1);
    expect(shr(-7, 1)).toBe(-4);
    expect(shr(INT64_MIN, 63)).toBe(-1);
    expect(shr(1024, 3)).toBe(128);
    expect(ushr(-1, 1)).toBe(MAX);
    expect(ushr(-1, 63)).toBe(1);
    expect(ushr(-16, 60)).toBe(15);
    expect(ushr(16, 2)).toBe(4);
  });

  it('counts outside 0..63 leave the value unchanged (clamp to [0,64], x86-64 masks 64 to 0)', () => {
    expect(shl(5, 64)).toBe(5);
    expect(shl(5, 100)).toBe(5);
    expect(shl(5, -1)).toBe(5);
    expect(shr(-5, 64)).toBe(-5);
    expect(ushr(-5, 64)).toBe(-5);
    expect(shl(5, 2n ** 60n)).toBe(5);
  });
});

describe('long: literals, text and conversions', () => {
  it('parses decimal, hex and octal and wraps values above 2^63', () => {
    expect(parseLong('0')).toBe(0);
    expect(parseLong('1234')).toBe(1234);
    expect(parseLong('0x10')).toBe(16);
    expect(parseLong('0XfF')).toBe(255);
    expect(parseLong('017')).toBe(15);
    expect(parseLong('9223372036854775807')).toBe(MAX);
    expect(parseLong('9223372036854775808')).toBe(MIN);
    expect(parseLong('0xffffffffffffffff')).toBe(-1);
    expect(parseLong('18446744073709551615')).toBe(-1);
    expect(parseLong('18446744073709551616')).toBeUndefined();
    expect(parseLong('0x1ffffffffffffffff')).toBeUndefined();
    expect(parseLong('08')).toBeUndefined();
    expect(parseLong('12a')).toBeUndefined();
    expect(parseLong('')).toBeUndefined();
  });

  it('prints decimal and unsigned forms', () => {
    expect(toDecimalString(-42)).toBe('-42');
    expect(toDecimalString(INT64_MIN)).toBe('-9223372036854775808');
    expect(toUnsigned64(-1)).toBe(18446744073709551615n);
    expect(toUnsigned64(INT64_MIN)).toBe(9223372036854775808n);
    expect(toUnsigned64(7)).toBe(7n);
  });

  it('truthy and number conversion', () => {
    expect(truthy(0)).toBe(false);
    expect(truthy(-1)).toBe(true);
    expect(truthy(INT64_MIN)).toBe(true);
    expect(fromNumber(2 ** 64)).toBe(0);
    expect(fromNumber(2 ** 63)).toBe(MIN);
    expect(fromNumber(-12.7)).toBe(-12);
  });

  it('reads little-endian int64 without losing bits', () => {
    const buf = Buffer.alloc(8);
    for (const v of [0n, 1n, -1n, 2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n), MAX, MIN, 0x0123456789abcdefn, -0x12345678n]) {
      buf.writeBigInt64LE(v, 0);
      expect(readInt64LE(buf, 0)).toBe(fromBigInt(v));
    }
  });
});
