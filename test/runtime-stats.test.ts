import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  Stat, emptyStat, formatHistLog, formatHistLinear, histBucket, histBucketCount, logBucketOf, logBucketValue,
  linearBucketCount, linearBucketOf,
} from '../src/runtime/stats.js';
import { StapError } from '../src/runtime/errors.js';
import { fromBigInt, toBigInt, type Long } from '../src/runtime/long.js';

const INT64_MIN = -9223372036854775808n;
const INT64_MAX = 9223372036854775807n;

function statOf(values: Long[], options: ConstructorParameters<typeof Stat>[0] = {}): Stat {
  const s = new Stat(options);
  for (const v of values) s.add(v);
  return s;
}

/** The C code of stat-common.c/stat.c/map.c transliterated to bigints with explicit int64/int32 wrap. */
function modelVariance(values: bigint[], shift: number, element: boolean): bigint {
  const w64 = (x: bigint) => BigInt.asIntN(64, x);
  const w32 = (x: bigint) => BigInt.asIntN(32, x);
  const S = BigInt(shift);
  let count = 0n;
  let sum = 0n;
  let avgS = 0n;
  let m2 = 0n;
  let varS = 0n;
  for (const v of values) {
    if (count === 0n) {
      count = 1n;
      sum = v;
      avgS = w64(v << S);
      m2 = 0n;
    } else {
      count++;
      sum = w64(sum + v);
      const vs = w64(v << S);
      const delta = w32(w64(vs - avgS));
      avgS = w64(avgS + delta / count);
      m2 = w64(m2 + w64(delta * w64(vs - avgS)));
      varS = m2 / (count - 1n);
    }
  }
  let scaled: bigint;
  if (element) scaled = varS;
  else if (count === 1n) scaled = 0n;
  else {
    const aggAvgS = w64(sum << S) / count;
    const d = w64(avgS - aggAvgS);
    const s1 = w64(w64(count * d) * d);
    const s2 = w64((count - 1n) * varS);
    scaled = w64(s1 + s2) / (count - 1n);
  }
  return scaled >> BigInt((2 * shift) & 63);
}

describe('stats: extractors', () => {
  it('count, sum, min, max, avg', () => {
    const s = statOf([5, -3, 12, 7]);
    expect(s.count()).toBe(4);
    expect(s.sum()).toBe(21);
    expect(s.min()).toBe(-3);
    expect(s.max()).toBe(12);
    expect(s.avg()).toBe(5);
    expect(statOf([-7, 0]).avg()).toBe(-3); // truncates toward zero
    expect(statOf([fromBigInt(INT64_MAX), 1]).sum()).toBe(INT64_MIN); // wraps
    expect(statOf([fromBigInt(INT64_MIN), fromBigInt(INT64_MAX), 0]).min()).toBe(INT64_MIN);
    expect(statOf([fromBigInt(INT64_MIN), fromBigInt(INT64_MAX), 0]).max()).toBe(INT64_MAX);
    expect(statOf([2 ** 52, 2 ** 52, 2 ** 52]).sum()).toBe(3n * 2n ** 52n);
  });

  it('empty aggregates: @count and @sum are 0, the rest throw', () => {
    const s = new Stat({ log: true, linear: { start: 0, stop: 10, interval: 1 }, variance: 0 });
    expect(s.count()).toBe(0);
    expect(s.sum()).toBe(0);
    for (const f of [() => s.min(), () => s.max(), () => s.avg(), () => s.variance(), () => formatHistLog(s),
      () => formatHistLinear(s, 0, 10, 1), () => histBucket(s, 'log', 64)]) {
      expect(f).toThrow(StapError);
      expect(f).toThrow('empty aggregate');
    }
  });

  it('clear empties everything', () => {
    const s = statOf([1, 2, 3], { log: true });
    s.clear();
    expect(s.count()).toBe(0);
    expect(() => s.min()).toThrow('empty aggregate');
    s.add(8);
    expect(s.min()).toBe(8);
    expect(histBucket(s, 'log', 64 + 1)).toBe(0);
    expect(histBucket(s, 'log', 64 + 4)).toBe(1);
  });

  it('a frozen empty Stat stands in for missing array elements', () => {
    const e = emptyStat({ log: true });
    expect(e.count()).toBe(0);
    expect(() => e.add(1)).toThrow(TypeError);
  });
});

describe('stats: variance', () => {
  it('hand-computed integer Welford values', () => {
    // 1..5, shift 0: per-CPU avg_s stays 1, M2 = 30, var_s = 30/4 = 7.
    expect(statOf([1, 2, 3, 4, 5], { variance: 0, element: true }).variance()).toBe(7);
    // Scalar: (5*(1-3)^2 + 4*7) / 4 = 12 (stat.c total-variance merge of the single partial).
    expect(statOf([1, 2, 3, 4, 5], { variance: 0 }).variance()).toBe(12);
    // Equal values have no variance; a single value gives 0.
    expect(statOf([9, 9, 9, 9], { variance: 0 }).variance()).toBe(0);
    expect(statOf([42], { variance: 0 }).variance()).toBe(0);
    expect(statOf([42], { variance: 0, element: true }).variance()).toBe(0);
    // 0 and 10: delta 10, avg_s 5, M2 = 10*5 = 50, var_s 50; scalar: (2*0 + 50)/1 = 50.
    expect(statOf([0, 10], { variance: 0 }).variance()).toBe(50);
    expect(statOf([0, 10], { variance: 4 }).variance(4)).toBe(50);
  });

  it('matches the transliterated C arithmetic for random data and shifts', () => {
    const values = fc.array(
      fc.oneof(fc.bigInt({ min: -1000n, max: 1000n }), fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }),
        fc.bigInt({ min: INT64_MIN, max: INT64_MAX })),
      { minLength: 1, maxLength: 40 },
    );
    fc.assert(
      fc.property(values, fc.integer({ min: 0, max: 62 }), fc.boolean(), (vals, shift, element) => {
        const s = statOf(vals.map(fromBigInt), { variance: shift, element });
        expect(toBigInt(s.variance(shift))).toBe(modelVariance(vals, shift, element));
      }),
      { numRuns: 1500 },
    );
  });

  it('refuses variance when not tracked or with another shift', () => {
    expect(() => statOf([1, 2], { variance: false }).variance()).toThrow('without @variance');
    expect(() => statOf([1, 2]).variance()).toThrow('without @variance'); // off unless requested
    expect(() => statOf([1, 2], { variance: 3 }).variance(2)).toThrow('differs');
    expect(() => new Stat({ variance: 63 })).toThrow();
  });
});

describe('stats: log histogram buckets', () => {
  it('maps values to power-of-two buckets with bucket 64 for 0', () => {
    expect(logBucketOf(0)).toBe(64);
    expect(logBucketOf(1)).toBe(65);
    expect(logBucketOf(2)).toBe(66);
    expect(logBucketOf(3)).toBe(66);
    expect(logBucketOf(4)).toBe(67);
    expect(logBucketOf(30)).toBe(69); // [16, 32)
    expect(logBucketOf(2 ** 32)).toBe(64 + 33);
    expect(logBucketOf(2 ** 32 - 1)).toBe(64 + 32);
    expect(logBucketOf(fromBigInt(INT64_MAX))).toBe(127);
    expect(logBucketOf(-1)).toBe(63);
    expect(logBucketOf(-3)).toBe(62);
    expect(logBucketOf(fromBigInt(INT64_MIN))).toBe(0);
    expect(logBucketOf(fromBigInt(INT64_MIN + 1n))).toBe(1);
    expect(logBucketValue(0)).toBe(INT64_MIN);
    expect(logBucketValue(63)).toBe(-1n);
    expect(logBucketValue(64)).toBe(0n);
    expect(logBucketValue(65)).toBe(1n);
    expect(logBucketValue(127)).toBe(2n ** 62n);
    for (let b = 1; b < 128; b++) expect(logBucketOf(fromBigInt(logBucketValue(b)))).toBe(b);
  });

  it('bucket indexing', () => {
    const s = statOf([10, 20, 30], { log: true });
    expect(histBucketCount(s, 'log')).toBe(128);
    expect(histBucket(s, 'log', 68)).toBe(1);
    expect(histBucket(s, 'log', 69)).toBe(2);
    expect(() => histBucket(s, 'log', 128)).toThrow('histogram index out of range');
    expect(() => histBucket(s, 'log', -1)).toThrow('histogram index out of range');
    expect(() => histBucket(s, 'linear', 0)).toThrow('without @hist_linear');
  });
});

describe('stats: printing log histograms', () => {
  it('hello.stp: h <<< 10,20,30,40,50 (30 lands in [16,32), 40 and 50 in [32,64))', () => {
    const h = statOf([10, 20, 30, 40, 50], { log: true });
    expect(formatHistLog(h)).toBe(
      'value |-------------------------------------------------- count\n' +
        '    2 |                                                   0\n' +
        '    4 |                                                   0\n' +
        '    8 |@                                                  1\n' +
        '   16 |@@                                                 2\n' +
        '   32 |@@                                                 2\n' +
        '   64 |                                                   0\n' +
        '  128 |                                                   0\n' +
        '\n',
    );
  });

  it('negative values, the zero bucket and elision', () => {
    const h = statOf([-5, -1, 0, 3, 1000], { log: true });
    expect(formatHistLog(h)).toBe(
      'value |-------------------------------------------------- count\n' +
        '  -16 |                                                   0\n' +
        '   -8 |                                                   0\n' +
        '   -4 |@                                                  1\n' +
        '   -2 |                                                   0\n' +
        '   -1 |@                                                  1\n' +
        '    0 |@                                                  1\n' +
        '    1 |                                                   0\n' +
        '    2 |@                                                  1\n' +
        '    4 |                                                   0\n' +
        '    8 |                                                   0\n' +
        '      ~\n' +
        '  128 |                                                   0\n' +
        '  256 |                                                   0\n' +
        '  512 |@                                                  1\n' +
        ' 1024 |                                                   0\n' +
        ' 2048 |                                                   0\n' +
        '\n',
    );
  });

  it('does not widen below 0 without negatives', () => {
    const h = statOf([0, 1], { log: true });
    expect(formatHistLog(h)).toBe(
      'value |-------------------------------------------------- count\n' +
        '    0 |@                                                  1\n' +
        '    1 |@                                                  1\n' +
        '    2 |                                                   0\n' +
        '    4 |                                                   0\n' +
        '\n',
    );
  });

  it('scales bars when the largest count exceeds 50', () => {
    const values: number[] = [];
    for (let i = 0; i < 120; i++) values.push(5);
    for (let i = 0; i < 7; i++) values.push(100);
    const h = statOf(values, { log: true });
    // scale = ceil(120/50) = 3: 120 -> 40 bars, 7 -> 2 bars; counts padded to width 50-bars+1+3.
    expect(formatHistLog(h)).toBe(
      'value |-------------------------------------------------- count\n' +
        '    1 |                                                     0\n' +
        '    2 |                                                     0\n' +
        '    4 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@           120\n' +
        '    8 |                                                     0\n' +
        '   16 |                                                     0\n' +
        '   32 |                                                     0\n' +
        '   64 |@@                                                   7\n' +
        '  128 |                                                     0\n' +
        '  256 |                                                     0\n' +
        '\n',
    );
  });

  it('int64 extremes widen the value column to 20', () => {
    const h = statOf([fromBigInt(INT64_MIN), fromBigInt(INT64_MAX)], { log: true });
    const lines = formatHistLog(h, { elision: -1 }).split('\n');
    expect(lines[0]).toBe(' '.repeat(15) + 'value |' + '-'.repeat(50) + ' count');
    expect(lines[1]).toBe('-9223372036854775808 |@' + ' '.repeat(50) + '1');
    expect(lines).toContain(' '.repeat(19) + '0 |' + ' '.repeat(51) + '0');
    expect(lines[lines.length - 3]).toBe('  4611686018427387904 |@'.slice(1) + ' '.repeat(50) + '1');
    expect(lines.length).toBe(1 + 128 + 2); // header, every bucket (no elision), blank line, ''
  });

  it('HIST_ELISION and HIST_WIDTH options', () => {
    const h = statOf([1, 1000], { log: true });
    const full = formatHistLog(h, { elision: -1 });
    expect(full).not.toContain('~');
    expect(full.split('\n').length).toBe(1 + 13 + 2); // rows 0, 1, 2, 4, ..., 2048
    // With HIST_ELISION=0 every zero row goes; a skipped leading row also yields a '~' (stap's loop).
    const tight = formatHistLog(h, { elision: 0 });
    expect(tight).toBe(
      'value |-------------------------------------------------- count\n' +
        '      ~\n' +
        '    1 |@                                                  1\n' +
        '      ~\n' +
        '  512 |@                                                  1\n' +
        '\n',
    );
    expect(formatHistLog(statOf([3], { log: true }), { width: 10 })).toBe(
      'value |---------- count\n' +
        '    0 |           0\n' +
        '    1 |           0\n' +
        '    2 |@          1\n' +
        '    4 |           0\n' +
        '    8 |           0\n' +
        '\n',
    );
  });
});

describe('stats: linear histograms', () => {
  it('bucket arithmetic', () => {
    const spec = { start: 0, stop: 1500, interval: 50 };
    expect(linearBucketCount(spec)).toBe(33);
    expect(linearBucketOf(-1, spec, 33)).toBe(0);
    expect(linearBucketOf(0, spec, 33)).toBe(1);
    expect(linearBucketOf(49, spec, 33)).toBe(1);
    expect(linearBucketOf(444, spec, 33)).toBe(9);
    expect(linearBucketOf(1549, spec, 33)).toBe(31);
    expect(linearBucketOf(1550, spec, 33)).toBe(32);
    expect(linearBucketOf(fromBigInt(INT64_MAX), spec, 33)).toBe(32);
    // value - start wraps in int64: INT64_MAX - (-10) is negative, so it counts as underflow, as in stap.
    expect(linearBucketOf(fromBigInt(INT64_MAX), { start: -10, stop: 10, interval: 5 }, 7)).toBe(0);
    expect(() => linearBucketCount({ start: 0, stop: 1000, interval: 1 })).toThrow(
      'histogram: Number of buckets must be between 1 and 126',
    );
    expect(() => linearBucketCount({ start: 10, stop: 0, interval: 1 })).toThrow('between 1 and 126');
    expect(() => linearBucketCount({ start: 0, stop: 10, interval: 0 })).toThrow('interval cannot be zero');
  });

  it('elision.exp: values 444 and 999 with (0,1500,50)', () => {
    const h = statOf([444, 999], { linear: { start: 0, stop: 1500, interval: 50 } });
    expect(formatHistLinear(h, 0, 1500, 50)).toBe(
      'value |-------------------------------------------------- count\n' +
        '  300 |                                                   0\n' +
        '  350 |                                                   0\n' +
        '  400 |@                                                  1\n' +
        '  450 |                                                   0\n' +
        '  500 |                                                   0\n' +
        '      ~\n' +
        '  850 |                                                   0\n' +
        '  900 |                                                   0\n' +
        '  950 |@                                                  1\n' +
        ' 1000 |                                                   0\n' +
        ' 1050 |                                                   0\n' +
        '\n',
    );
  });

  it('linear_overunder.exp: @hist_linear(agg, 250, 1000, 50) with under- and overflow', () => {
    const values: number[] = [];
    const add = (v: number, n: number) => { for (let i = 0; i < n; i++) values.push(v); };
    add(100, 680);
    add(260, 94);
    for (let b = 300; b < 1000; b += 50) add(b + 1, 3); // fill the middle rows so none is elided
    add(1020, 23);
    add(5000, 102);
    const h = statOf(values, { linear: { start: 250, stop: 1000, interval: 50 } });
    const lines = formatHistLinear(h, 250, 1000, 50).split('\n');
    expect(lines[0]).toBe('value |-------------------------------------------------- count');
    expect(lines[1]).toBe(' <250 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@   680');
    expect(lines[2]).toBe('  250 |@@@@@@                                              94');
    expect(lines[3]).toBe('  300 |                                                     3');
    expect(lines[lines.length - 4]).toBe(' 1000 |@                                                   23');
    expect(lines[lines.length - 3]).toBe('>1000 |@@@@@@@                                            102');
    expect(lines[lines.length - 2]).toBe('');
    expect(lines.length).toBe(1 + 18 + 2);
  });

  it('drops empty under/overflow rows and shows them when used', () => {
    const h = statOf([-3, 2], { linear: { start: 0, stop: 10, interval: 2 } });
    expect(formatHistLinear(h, 0, 10, 2)).toBe(
      'value |-------------------------------------------------- count\n' +
        '   <0 |@                                                  1\n' +
        '    0 |                                                   0\n' +
        '    2 |@                                                  1\n' +
        '    4 |                                                   0\n' +
        '    6 |                                                   0\n' +
        '\n',
    );
    const inside = statOf([4], { linear: { start: 0, stop: 10, interval: 2 } });
    expect(formatHistLinear(inside, 0, 10, 2)).toBe(
      'value |-------------------------------------------------- count\n' +
        '    0 |                                                   0\n' +
        '    2 |                                                   0\n' +
        '    4 |@                                                  1\n' +
        '    6 |                                                   0\n' +
        '    8 |                                                   0\n' +
        '\n',
    );
    expect(histBucketCount(inside, 'linear')).toBe(8);
    expect(histBucket(inside, 'linear', 3)).toBe(1);
    expect(() => histBucket(inside, 'linear', 8)).toThrow('histogram index out of range');
    expect(() => formatHistLinear(inside, 0, 10, 5)).toThrow('different @hist_linear');
  });

  it('negative ranges', () => {
    // Bucket "0" covers [0, 25): 20 would land there; 30 overflows.
    const h = statOf([-100, -55, 30], { linear: { start: -100, stop: 0, interval: 25 } });
    expect(formatHistLinear(h, -100, 0, 25)).toBe(
      'value |-------------------------------------------------- count\n' +
        ' -100 |@                                                  1\n' +
        '  -75 |@                                                  1\n' +
        '  -50 |                                                   0\n' +
        '  -25 |                                                   0\n' +
        '    0 |                                                   0\n' +
        '   >0 |@                                                  1\n' +
        '\n',
    );
  });
});
