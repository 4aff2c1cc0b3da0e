/**
 * stap aggregates (`x <<< v`): count/sum/min/max/avg/variance and the log and linear histograms, with
 * stap's exact integer arithmetic and its exact histogram text (runtime/stat-common.c, stat.c, map.c).
 *
 * A Stat is told at construction which extras the program uses (`{ log, linear, variance }`) so `add`
 * only maintains those; in particular @variance must be requested (`variance: shift`), as stap's
 * translator does with STAT_OP_VARIANCE. Behaviour taken from the stap runtime:
 * - Sums wrap at 64 bits; @avg is sum/count truncated toward zero.
 * - @variance is Welford's method on integers scaled by `<< shift`, with stap's 32-bit `delta`
 *   truncation. stap aggregates per-CPU partial results when read; tstap has one partial, so a scalar's
 *   @variance is (n·(avg_s − sum·2^shift/n)² + (n−1)·var_s)/(n−1) >> 2·shift (stat.c _stp_stat_get), and an
 *   array element's is var_s >> 2·shift (map.c _new_map_copy_stat). Both give 0 for a single value.
 * - Log buckets: 128, bucket 64 holds 0, bucket 64+k holds [2^(k-1), 2^k), bucket 64−k the negatives
 *   (-2^(k-1) down to -(2^k - 1)); bucket 0 holds INT64_MIN.
 * - Linear buckets: (stop−start)/interval + 3 (C division), bucket 0 is underflow, the last is overflow.
 * - Printing: rows from the lowest to the highest non-zero bucket widened by two (a log histogram does not
 *   widen below 0 unless it has negatives; a linear one drops empty under/overflow rows), scale =
 *   ceil(max/HIST_WIDTH), zero rows whose ±HIST_ELISION neighbours are all zero are elided with a `~` row.
 * - @min/@max/@avg/@variance, printing and bucket indexing of an empty aggregate throw
 *   StapError('empty aggregate'); @count and @sum give 0.
 */
import { StapError } from './errors.js';
import { add, div, mul, shl, sub, type Long } from './long.js';

export const HIST_LOG_BUCKETS = 128;
export const HIST_LOG_BUCKET0 = 64;
export const STP_MAX_BUCKETS = 128;
export const HIST_WIDTH = 50;
export const HIST_ELISION = 2;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO32 = 4294967296;

export interface LinearSpec {
  start: number;
  stop: number;
  interval: number;
}

export interface StatOptions {
  /** The program uses @hist_log on this aggregate. */
  log?: boolean;
  /** The program uses @hist_linear(x, start, stop, interval) on it. */
  linear?: LinearSpec;
  /**
   * The @variance bit shift (0..62) to track, or false (the default) when the program never uses
   * @variance on this aggregate — stap likewise runs Welford only for aggregates with @variance.
   */
  variance?: number | false;
  /** True for an element of a stats array (changes how @variance combines, see module comment). */
  element?: boolean;
}

export interface HistFormatOptions {
  /** HIST_ELISION (-D): zero rows kept around data; negative disables elision. Default 2. */
  elision?: number;
  /** HIST_WIDTH (-D): the bar width. Default 50. */
  width?: number;
}

/** Number of linear buckets including under/overflow; throws stap's warning text when out of range. */
export function linearBucketCount(spec: LinearSpec): number {
  if (spec.interval === 0) throw new StapError('histogram: interval cannot be zero.');
  const buckets = Math.trunc((spec.stop - spec.start) / spec.interval) + 3;
  if (buckets > STP_MAX_BUCKETS || buckets < 3) {
    throw new StapError(`histogram: Number of buckets must be between 1 and ${STP_MAX_BUCKETS - 2}`);
  }
  return buckets;
}

/** stap's _stp_val_to_bucket: the log-histogram bucket of a value. */
export function logBucketOf(v: Long): number {
  let bits: number;
  let negative: boolean;
  if (typeof v === 'number') {
    if (v === 0) return HIST_LOG_BUCKET0;
    negative = v < 0;
    const m = negative ? -v : v;
    bits = m < TWO32 ? 32 - Math.clz32(m) : 64 - Math.clz32(Math.floor(m / TWO32));
  } else {
    negative = v < 0n;
    bits = (negative ? -v : v).toString(2).length; // |INT64_MIN| = 2^63 has 64 bits: bucket 0
  }
  return negative ? HIST_LOG_BUCKET0 - bits : HIST_LOG_BUCKET0 + bits;
}

/** stap's _stp_bucket_to_val: the label printed for a log bucket. */
export function logBucketValue(bucket: number): bigint {
  if (bucket === HIST_LOG_BUCKET0) return 0n;
  if (bucket < HIST_LOG_BUCKET0) return -(1n << BigInt(63 - bucket));
  return 1n << BigInt(bucket - HIST_LOG_BUCKET0 - 1);
}

/** The linear bucket of a value (0 underflow, buckets-1 overflow); the subtraction wraps like int64. */
export function linearBucketOf(v: Long, spec: LinearSpec, buckets: number): number {
  let d: Long;
  if (typeof v === 'number') {
    const r = v - spec.start;
    d = r <= MAX_SAFE && r >= -MAX_SAFE ? r : sub(v, spec.start);
  } else {
    d = sub(v, spec.start);
  }
  if (d < 0) return 0;
  const idx = (typeof d === 'number' ? Math.floor(d / spec.interval) : Number(d / BigInt(spec.interval))) + 1;
  return idx >= buckets - 1 ? buckets - 1 : idx;
}

/** C `>>` on int64 with an int count: x86-64 masks the count to 6 bits. */
function sarMasked(v: Long, count: number): Long {
  const c = count & 63;
  if (c === 0) return v;
  if (typeof v === 'number') {
    const r = Math.floor(v / 2 ** c);
    return r === 0 ? 0 : r;
  }
  const r = v >> BigInt(c);
  return r >= -BigInt(MAX_SAFE) && r <= BigInt(MAX_SAFE) ? Number(r) : r;
}

function int32Of(v: Long): number {
  return typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v));
}

export class Stat {
  private n = 0;
  private total: Long = 0;
  private lo: Long = 0;
  private hi: Long = 0;
  // Welford state, scaled by 2^shift (stap's avg_s and _M2).
  private avgS: Long = 0;
  private m2: Long = 0;
  private readonly shift: number; // -1: @variance not tracked
  private readonly element: boolean;
  private readonly logCounts: Float64Array | null;
  private readonly linCounts: Float64Array | null;
  private readonly linear: LinearSpec | null;
  private readonly linBuckets: number;
  private readonly linStart: number;
  private readonly linInterval: number;
  private readonly hasHist: boolean;

  constructor(options: StatOptions = {}) {
    const variance = options.variance ?? false;
    if (variance !== false && (!Number.isInteger(variance) || variance < 0 || variance > 62)) {
      throw new Error(`@variance shift must be 0..62, got ${variance}`);
    }
    this.shift = variance === false ? -1 : variance;
    this.element = options.element === true;
    this.logCounts = options.log ? new Float64Array(HIST_LOG_BUCKETS) : null;
    this.linear = options.linear ? { ...options.linear } : null;
    this.linBuckets = this.linear ? linearBucketCount(this.linear) : 0;
    this.linCounts = this.linear ? new Float64Array(this.linBuckets) : null;
    this.linStart = this.linear ? this.linear.start : 0;
    this.linInterval = this.linear ? this.linear.interval : 1;
    this.hasHist = this.logCounts !== null || this.linCounts !== null;
  }

  /** `x <<< v`. */
  add(v: Long): void {
    const n = this.n;
    if (n === 0) {
      this.n = 1;
      this.total = v;
      this.lo = v;
      this.hi = v;
      if (this.shift >= 0) {
        this.avgS = this.shift === 0 ? v : shl(v, this.shift);
        this.m2 = 0;
      }
    } else {
      this.n = n + 1;
      const s = this.total;
      if (typeof s === 'number' && typeof v === 'number') {
        const r = s + v;
        this.total = r <= MAX_SAFE && r >= -MAX_SAFE ? r : add(s, v);
      } else {
        this.total = add(s, v);
      }
      if (v > this.hi) this.hi = v;
      if (v < this.lo) this.lo = v;
      if (this.shift >= 0) this.welford(v, n + 1);
    }
    if (this.hasHist) this.addToHistograms(v);
  }

  private welford(v: Long, count: number): void {
    const vs = this.shift === 0 ? v : shl(v, this.shift);
    let avgS = this.avgS;
    let delta: number;
    if (typeof vs === 'number' && typeof avgS === 'number') {
      const d = vs - avgS;
      delta = d <= MAX_SAFE && d >= -MAX_SAFE ? d | 0 : int32Of(sub(vs, avgS));
    } else {
      delta = int32Of(sub(vs, avgS)); // stap keeps delta in a C int
    }
    const step = Math.trunc(delta / count);
    avgS = step === 0 ? avgS : add(avgS, step);
    this.avgS = avgS;
    this.m2 = add(this.m2, mul(delta, sub(vs, avgS)));
  }

  private addToHistograms(v: Long): void {
    if (this.logCounts !== null) this.logCounts[logBucketOf(v)]++;
    const lin = this.linCounts;
    if (lin !== null) {
      const d = typeof v === 'number' ? v - this.linStart : NaN;
      if (d >= 0 && d <= MAX_SAFE) {
        const idx = Math.floor(d / this.linInterval) + 1;
        lin[idx < lin.length - 1 ? idx : lin.length - 1]++;
      } else if (d < 0 && d >= -MAX_SAFE) {
        lin[0]++;
      } else {
        lin[linearBucketOf(v, this.linear!, this.linBuckets)]++; // bigints and int64 wrap-around
      }
    }
  }

  /** `delete x`: back to empty. */
  clear(): void {
    this.n = 0;
    this.total = 0;
    this.lo = 0;
    this.hi = 0;
    this.avgS = 0;
    this.m2 = 0;
    this.logCounts?.fill(0);
    this.linCounts?.fill(0);
  }

  isEmpty(): boolean {
    return this.n === 0;
  }

  private requireData(): void {
    if (this.n === 0) throw new StapError('empty aggregate');
  }

  count(): Long {
    return this.n;
  }
  sum(): Long {
    return this.total;
  }
  min(): Long {
    this.requireData();
    return this.lo;
  }
  max(): Long {
    this.requireData();
    return this.hi;
  }
  /** @avg: sum / count, truncated toward zero. */
  avg(): Long {
    this.requireData();
    return div(this.total, this.n);
  }

  /** The @variance shift this Stat tracks, or -1. */
  varianceShift(): number {
    return this.shift;
  }

  /** @variance(x[, shift]); `shift` must be the one given at construction. */
  variance(shift?: number): Long {
    this.requireData();
    if (this.shift < 0) throw new Error('this aggregate was built without @variance tracking');
    if (shift !== undefined && shift !== this.shift) {
      throw new Error(`@variance shift ${shift} differs from the tracked shift ${this.shift}`);
    }
    const n = this.n;
    const varianceS: Long = n >= 2 ? div(this.m2, n - 1) : 0;
    let scaled: Long;
    if (this.element) {
      scaled = varianceS;
    } else if (n === 1) {
      scaled = 0; // stap divides by count-1 = 0 with a NULL error pointer: 0
    } else {
      const aggAvgS = div(shl(this.total, this.shift), n);
      const d = sub(this.avgS, aggAvgS);
      const s1 = mul(mul(n, d), d);
      const s2 = mul(n - 1, varianceS);
      scaled = div(add(s1, s2), n - 1);
    }
    return sarMasked(scaled, 2 * this.shift);
  }

  /** The linear histogram parameters given at construction, or null. */
  linearSpec(): LinearSpec | null {
    return this.linear ? { ...this.linear } : null;
  }

  /** Bucket counts of a histogram (zeros when empty); throws Error if that histogram is not tracked. */
  histogramCounts(kind: 'log' | 'linear'): Float64Array {
    const counts = kind === 'log' ? this.logCounts : this.linCounts;
    if (counts === null) throw new Error(`this aggregate was built without @hist_${kind}`);
    return counts;
  }
}

/** A read of a missing stats-array element: empty, and frozen so it cannot be accumulated into. */
export function emptyStat(options: StatOptions = {}): Stat {
  const stat = new Stat(options);
  Object.freeze(stat);
  return stat;
}

/** Number of buckets `foreach (b in @hist_*(x))` visits. */
export function histBucketCount(stat: Stat, kind: 'log' | 'linear'): number {
  return stat.histogramCounts(kind).length;
}

/** `@hist_log(x)[i]` / `@hist_linear(x, …)[i]`. */
export function histBucket(stat: Stat, kind: 'log' | 'linear', index: Long): Long {
  if (stat.isEmpty()) throw new StapError('empty aggregate');
  const counts = stat.histogramCounts(kind);
  if (typeof index !== 'number' || index < 0 || index >= counts.length) {
    throw new StapError('histogram index out of range');
  }
  return counts[index];
}

function decimalWidth(v: bigint): number {
  return v.toString().length;
}

function renderHistogram(
  counts: Float64Array,
  kind: 'log' | 'linear',
  linear: LinearSpec | null,
  opts: HistFormatOptions,
): string {
  const width = opts.width ?? HIST_WIDTH;
  const elision = opts.elision ?? HIST_ELISION;
  const buckets = counts.length;
  let low = -1;
  let high = 0;
  let valmax = 0;
  for (let i = 0; i < buckets; i++) {
    const c = counts[i];
    if (c > 0) {
      if (low === -1) low = i;
      high = i;
      if (c > valmax) valmax = c;
    }
  }
  for (let i = 0; i < 2; i++) {
    if (kind === 'log') {
      if (low !== HIST_LOG_BUCKET0 && low > 0) low--;
    } else if (low > 0) {
      low--;
    }
    if (high < buckets - 1) high++;
  }
  let under = 0;
  let over = 0;
  if (kind === 'linear') {
    if (low === 0 && counts[0] === 0) low++;
    if (high === buckets - 1 && counts[high] === 0) high--;
    if (low === 0) under = 1;
    if (high === buckets - 1) over = 1;
  }
  const scale = valmax <= width ? 1 : Math.ceil(valmax / width);
  const cntSpace = String(valmax).length;

  const label = (i: number): bigint => {
    if (kind === 'log') return logBucketValue(i);
    const start = BigInt(linear!.start);
    const interval = BigInt(linear!.interval);
    if (i === 0) return start;
    if (i === buckets - 1) return start + BigInt(i - 2) * interval;
    return start + BigInt(i - 1) * interval;
  };
  let valSpace: number;
  if (kind === 'linear') {
    // Quirk kept from stap: the width uses start + interval*high, not the printed label.
    const start = BigInt(linear!.start);
    valSpace = Math.max(decimalWidth(start) + under, decimalWidth(start + BigInt(linear!.interval) * BigInt(high)) + over);
  } else {
    valSpace = Math.max(decimalWidth(logBucketValue(high)), decimalWidth(logBucketValue(low)));
  }
  if (valSpace < 5) valSpace = 5;

  let out = ' '.repeat(valSpace - 5) + 'value |' + '-'.repeat(width) + ' count\n';
  let eliding = false;
  for (let i = low; i <= high; i++) {
    if (elision >= 0) {
      const maxElide = Math.min(elision, buckets);
      const from = Math.max(low, i - maxElide);
      const to = Math.min(high, i + maxElide);
      let elide = true;
      for (let k = from; k <= to; k++) {
        if (counts[k] !== 0) {
          elide = false;
          break;
        }
      }
      if (elide) {
        eliding = true;
        continue;
      }
      if (eliding) {
        out += ' '.repeat(valSpace) + ' ~\n';
        eliding = false;
      }
    }
    const prefix = kind === 'linear' ? (i === 0 ? '<' : i === buckets - 1 ? '>' : '') : '';
    const value = label(i).toString();
    out += prefix.padStart(valSpace - value.length) + value + ' |';
    const bars = Math.floor(counts[i] / scale);
    out += '@'.repeat(bars) + String(counts[i]).padStart(width - bars + 1 + cntSpace) + '\n';
  }
  return out + '\n';
}

/** `print(@hist_log(x))`: stap's exact text, ending with a blank line. */
export function formatHistLog(stat: Stat, opts: HistFormatOptions = {}): string {
  if (stat.isEmpty()) throw new StapError('empty aggregate');
  return renderHistogram(stat.histogramCounts('log'), 'log', null, opts);
}

/** `print(@hist_linear(x, start, stop, interval))`: stap's exact text, ending with a blank line. */
export function formatHistLinear(
  stat: Stat,
  start: number,
  stop: number,
  interval: number,
  opts: HistFormatOptions = {},
): string {
  const spec = stat.linearSpec();
  if (spec === null || spec.start !== start || spec.stop !== stop || spec.interval !== interval) {
    throw new Error(`aggregate was built for a different @hist_linear than (${start}, ${stop}, ${interval})`);
  }
  if (stat.isEmpty()) throw new StapError('empty aggregate');
  return renderHistogram(stat.histogramCounts('linear'), 'linear', spec, opts);
}
