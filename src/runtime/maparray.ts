/**
 * stap associative arrays: 1–9 keys of long or string type, holding longs, strings or aggregates, with
 * stap's capacity limits, `%` wrap-around, wildcard slices and foreach ordering (runtime/map.c,
 * map-gen.c, translate.cxx visit_foreach_loop).
 *
 * Behaviour taken from stap:
 * - Rows live in a list in creation order; a new key is appended, updating a key keeps its place, a
 *   deleted and re-added key goes to the end. Unsorted foreach walks that list. (For stats arrays stap
 *   walks hash order of the per-CPU merge, which is not reproducible; tstap uses creation order.)
 * - Creating a row in a full array throws StapError('Array overflow, check MAXMAPENTRIES'), or
 *   '… check size limit (N)' for `global a[N]`; a `%` array instead recycles the row at the head of the
 *   list (the oldest, unless a sort moved another one there).
 * - Reads never create rows: a missing long reads 0, a missing string "", a missing aggregate an empty
 *   (frozen) Stat. Assigning 0 or "" does create the row.
 * - foreach sorting (`+` ascending, `-` descending) on the value or one key column is stable: ties keep
 *   list order, there is no secondary key. Strings compare by bytes (strcmp), longs numerically. On stats
 *   arrays the value sort uses @count unless @sum/@min/@max/@avg is given (stap maps @variance to
 *   @count too). With `limit N` and 1 <= N <= 30 stap uses a partial sort (_stp_map_sortn) whose first N
 *   rows equal the full stable sort; its exact resulting list order is reproduced too.
 * - Sorting a long/string array reorders the array itself (stap sorts the map's list in place), which
 *   affects later unsorted foreach loops and which row a `%` array recycles. Stats arrays sort a copy.
 * - `limit N` counts rows visited before the slice filter (stap tests the limit first), so
 *   `foreach ([a,b] in A[*, "k"] limit 5)` looks at the first 5 rows and runs the body for the matching ones.
 */
import { StapError } from './errors.js';
import { add, div, type Long } from './long.js';
import { Stat, emptyStat, type StatOptions } from './stats.js';

export type KeyType = 'long' | 'string';
export type Key = Long | string;
export type ValueType = 'long' | 'string' | 'stats';
export type MapValue = Long | string | Stat;

/** MAXMAPENTRIES default. */
export const MAXMAPENTRIES = 2048;

export interface StapMapOptions {
  /** The global's name (kept for diagnostics; stap's messages do not contain it). */
  name: string;
  keyTypes: readonly KeyType[];
  valueType: ValueType;
  /** Declared size, `global a[N]`. */
  size?: number;
  /** MAXMAPENTRIES as set by -D (default 2048); used when no size is declared. */
  maxMapEntries?: number;
  /** `global a%`: recycle the oldest row instead of failing. */
  wrap?: boolean;
  /** For stats arrays: which histograms/variance each element tracks. */
  stat?: StatOptions;
}

/** One array row. Treat rows as read-only. */
export interface Row<V extends MapValue = MapValue> {
  readonly keys: readonly Key[];
  value: V;
}

export type StatSortField = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'variance';

export interface SortSpec {
  /** 0 sorts on the value, 1..N on that key column. */
  column: number;
  /** 1 for `+` (ascending), -1 for `-` (descending). */
  direction: 1 | -1;
  /** Stats arrays, value sort: the extractor (default @count). */
  aggregate?: StatSortField;
}

export interface ForeachOptions {
  sort?: SortSpec;
  /** `limit N`, evaluated once by the caller. */
  limit?: Long;
  /** `A[*, "k"]`: undefined entries are wildcards. */
  slice?: readonly (Key | undefined)[];
}

function toInt32(v: Long): number {
  return typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v));
}

function statSortValue(stat: Stat, field: StatSortField | undefined): Long {
  switch (field) {
    case 'sum':
      return stat.sum();
    case 'min':
      return stat.min();
    case 'max':
      return stat.max();
    case 'avg':
      return div(stat.sum(), stat.count());
    default:
      return stat.count();
  }
}

/**
 * stap's _stp_map_sortn on a copy of the list: bubble-sorts the first n rows, then insertion-sorts the
 * rest into that top-n window, exactly as the runtime's list operations do.
 */
function partialSort<R>(rows: R[], n: number, outOfOrder: (a: R, b: R) => boolean): R[] {
  const len = rows.length;
  if (len === 0) return rows;
  const head = len;
  const next = new Int32Array(len + 1);
  const prev = new Int32Array(len + 1);
  for (let i = 0; i < len; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  prev[0] = head;
  next[head] = 0;
  prev[head] = len - 1;
  const unlink = (x: number): void => {
    next[prev[x]] = next[x];
    prev[next[x]] = prev[x];
  };
  const linkAfter = (x: number, at: number): void => {
    next[x] = next[at];
    prev[x] = at;
    prev[next[at]] = x;
    next[at] = x;
  };
  const cmp = (x: number, y: number): boolean => outOfOrder(rows[x], rows[y]);

  let a = next[head];
  let swaps = 1;
  while (swaps) {
    let num = n;
    swaps = 0;
    a = next[head];
    let c = next[next[a]];
    while (next[a] !== head && --num > 0) {
      const b = next[a];
      if (cmp(a, b)) {
        swaps++;
        unlink(a);
        linkAfter(a, b);
      }
      a = prev[c];
      c = next[c];
    }
  }
  let last = a;
  a = next[a];
  while (a !== head) {
    const tmp = next[a];
    let c = last;
    while (c !== head && cmp(c, a)) c = prev[c];
    if (c !== last) {
      unlink(a);
      linkAfter(a, c);
      last = prev[last];
    }
    a = tmp;
  }
  const out: R[] = [];
  for (let x = next[head]; x !== head; x = next[x]) out.push(rows[x]);
  return out;
}

/** `row.value += delta` on a long row, without a bigint when both fit in a double exactly. */
function bump(row: Row<Long>, delta: Long): Long {
  const v = row.value;
  if (typeof v === 'number' && typeof delta === 'number') {
    const r = v + delta;
    if (r <= Number.MAX_SAFE_INTEGER && r >= -Number.MAX_SAFE_INTEGER) return (row.value = r);
  }
  return (row.value = add(v, delta));
}

export class StapMap<V extends MapValue = MapValue> {
  readonly name: string;
  readonly keyTypes: readonly KeyType[];
  readonly valueType: ValueType;
  readonly capacity: number;
  readonly wrap: boolean;
  /**
   * Lookup: for one key a Map from key to row; for n keys nested Maps, one level per key column, so no
   * composite key string is built or hashed per access.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly index = new Map<Key, any>();
  /** The row list in stap's order (creation order, or the last in-place sort). */
  private order = new Set<Row<V>>();
  private readonly arity: number;
  private readonly overflowMessage: string;
  private readonly missing: V;
  private readonly statOptions: StatOptions;

  constructor(options: StapMapOptions) {
    if (options.keyTypes.length < 1 || options.keyTypes.length > 9) {
      throw new Error(`array ${options.name}: 1 to 9 keys, got ${options.keyTypes.length}`);
    }
    this.name = options.name;
    this.keyTypes = [...options.keyTypes];
    this.arity = this.keyTypes.length;
    this.valueType = options.valueType;
    this.wrap = options.wrap === true;
    this.capacity = options.size ?? options.maxMapEntries ?? MAXMAPENTRIES;
    this.overflowMessage =
      options.size !== undefined
        ? `Array overflow, check size limit (${options.size})`
        : 'Array overflow, check MAXMAPENTRIES';
    this.statOptions = { variance: false, ...options.stat, element: true };
    this.missing = (
      options.valueType === 'long' ? 0 : options.valueType === 'string' ? '' : emptyStat(this.statOptions)
    ) as V;
  }

  get size(): number {
    return this.order.size;
  }

  /** The row for a key tuple, or undefined. */
  private find(keys: readonly Key[]): Row<V> | undefined {
    let level = this.index;
    const last = this.arity - 1;
    for (let i = 0; i < last; i++) {
      level = level.get(keys[i]);
      if (level === undefined) return undefined;
    }
    return level.get(keys[last]);
  }

  /**
   * Creates a row (the key tuple must be absent), enforcing the capacity or recycling the oldest row.
   * The row keeps `keys` itself: callers pass an array they own.
   */
  private insert(keys: readonly Key[], value: V): Row<V> {
    if (this.order.size >= this.capacity) {
      if (!this.wrap) throw new StapError(this.overflowMessage);
      this.remove(this.order.values().next().value as Row<V>);
    }
    const row: Row<V> = { keys, value };
    let level = this.index;
    const last = this.arity - 1;
    for (let i = 0; i < last; i++) {
      let next = level.get(keys[i]);
      if (next === undefined) level.set(keys[i], (next = new Map()));
      level = next;
    }
    level.set(keys[last], row);
    this.order.add(row);
    return row;
  }

  /** Unlinks a row, dropping inner maps that become empty. */
  private remove(row: Row<V>): void {
    this.order.delete(row);
    if (this.arity === 1) {
      this.index.delete(row.keys[0]);
      return;
    }
    const path = [this.index];
    for (let i = 0; i < this.arity - 1; i++) path.push(path[i].get(row.keys[i]));
    for (let i = this.arity - 1; i >= 0; i--) {
      path[i].delete(row.keys[i]);
      if (i > 0 && path[i].size > 0) break;
    }
  }

  // --- Element access (generic: keys as an array) -------------------------------------------------

  /** `A[k…]`: the value, or 0 / "" / an empty Stat when missing (no row is created). */
  get(keys: readonly Key[]): V {
    const row = this.find(keys);
    return row === undefined ? this.missing : row.value;
  }

  /** `A[k…] = v`. */
  set(keys: readonly Key[], value: V): void {
    const row = this.find(keys);
    if (row !== undefined) row.value = value;
    else this.insert(keys.slice(), value);
  }

  /** `[k…] in A`. */
  has(keys: readonly Key[]): boolean {
    return this.find(keys) !== undefined;
  }

  /** `delete A[k…]`. */
  delete(keys: readonly Key[]): void {
    const row = this.find(keys);
    if (row !== undefined) this.remove(row);
  }

  /** `A[k…] += delta` (and ++/--) on a long array; returns the new value. */
  addTo(keys: readonly Key[], delta: Long): Long {
    const row = this.find(keys) as Row<Long> | undefined;
    if (row === undefined) {
      this.insert(keys.slice(), delta as V);
      return delta;
    }
    return bump(row, delta);
  }

  /** `A[k…] <<< v` on a stats array. */
  aggregate(keys: readonly Key[], value: Long): void {
    let row = this.find(keys) as Row<Stat> | undefined;
    if (row === undefined) row = this.insert(keys.slice(), new Stat(this.statOptions) as V) as Row<Stat>;
    row.value.add(value);
  }

  // --- Single-key fast paths (only for one-key arrays) ---------------------------------------------

  get1(key: Key): V {
    const row: Row<V> | undefined = this.index.get(key);
    return row === undefined ? this.missing : row.value;
  }

  set1(key: Key, value: V): void {
    const row: Row<V> | undefined = this.index.get(key);
    if (row !== undefined) row.value = value;
    else this.insert([key], value);
  }

  has1(key: Key): boolean {
    return this.index.has(key);
  }

  delete1(key: Key): void {
    const row: Row<V> | undefined = this.index.get(key);
    if (row !== undefined) this.remove(row);
  }

  addTo1(key: Key, delta: Long): Long {
    const row: Row<Long> | undefined = this.index.get(key);
    if (row === undefined) {
      this.insert([key], delta as V);
      return delta;
    }
    return bump(row, delta);
  }

  aggregate1(key: Key, value: Long): void {
    const row: Row<Stat> | undefined = this.index.get(key);
    if (row !== undefined) {
      row.value.add(value);
      return;
    }
    const stat = new Stat(this.statOptions);
    this.insert([key], stat as V);
    stat.add(value);
  }

  // --- Whole-array and slice operations ------------------------------------------------------------

  /** `delete A`. */
  clear(): void {
    this.index.clear();
    this.order.clear();
  }

  private static matches(keys: readonly Key[], slice: readonly (Key | undefined)[]): boolean {
    for (let i = 0; i < slice.length; i++) {
      const want = slice[i];
      if (want !== undefined && keys[i] !== want) return false;
    }
    return true;
  }

  /** `[*, k] in A`: some row matches the slice (undefined = wildcard). */
  hasMatching(slice: readonly (Key | undefined)[]): boolean {
    if (!slice.includes(undefined)) return this.has(slice as Key[]);
    for (const row of this.order) if (StapMap.matches(row.keys, slice)) return true;
    return false;
  }

  /** `delete A[*, k]`. */
  deleteMatching(slice: readonly (Key | undefined)[]): void {
    if (!slice.includes(undefined)) {
      this.delete(slice as Key[]);
      return;
    }
    for (const row of this.order) if (StapMap.matches(row.keys, slice)) this.remove(row);
  }

  /**
   * The rows a `foreach` visits, in order: sorted as requested (reordering a long/string array as stap
   * does), cut to `limit`, then filtered by `slice`. The array must not change during the loop.
   */
  foreach(options: ForeachOptions = {}): Row<V>[] {
    let rows = Array.from(this.order);
    const sort = options.sort;
    if (sort !== undefined && rows.length > 1) {
      const key = this.sortKey(sort);
      const ascending = sort.direction > 0;
      const n = options.limit === undefined ? 0 : toInt32(options.limit);
      if (n !== 0 && n <= 30) {
        // stap's comparator says "a belongs after b": strictly greater for +, strictly less for -.
        rows = partialSort(rows, n, ascending ? (a, b) => key(a) > key(b) : (a, b) => key(a) < key(b));
      } else {
        const keyed = rows.map((row) => ({ row, k: key(row) }));
        keyed.sort(
          ascending
            ? (a, b) => (a.k > b.k ? 1 : a.k < b.k ? -1 : 0)
            : (a, b) => (a.k < b.k ? 1 : a.k > b.k ? -1 : 0),
        );
        rows = keyed.map((e) => e.row);
      }
      if (this.valueType !== 'stats') this.reorder(rows);
    }
    if (options.limit !== undefined) {
      const limit = options.limit;
      if (limit <= 0) rows = [];
      else if (limit < rows.length) rows = rows.slice(0, Number(limit));
    }
    const slice = options.slice;
    if (slice !== undefined && slice.some((k) => k !== undefined)) {
      rows = rows.filter((row) => StapMap.matches(row.keys, slice));
    }
    return rows;
  }

  private sortKey(sort: SortSpec): (row: Row<V>) => Long | string {
    if (sort.column > 0) {
      if (sort.column > this.keyTypes.length) throw new Error(`array ${this.name}: no key column ${sort.column}`);
      const col = sort.column - 1;
      return (row) => row.keys[col];
    }
    if (this.valueType === 'stats') {
      const field = sort.aggregate;
      return (row) => statSortValue(row.value as Stat, field);
    }
    return (row) => row.value as Long | string;
  }

  /** Makes the list order match `rows` (stap sorts value arrays in place). */
  private reorder(rows: readonly Row<V>[]): void {
    let i = 0;
    let same = true;
    for (const row of this.order) {
      if (row !== rows[i++]) {
        same = false;
        break;
      }
    }
    if (!same) this.order = new Set(rows);
  }
}

/** A long-valued array. */
export function longMap(options: Omit<StapMapOptions, 'valueType' | 'stat'>): StapMap<Long> {
  return new StapMap<Long>({ ...options, valueType: 'long' });
}

/** A string-valued array. */
export function stringMap(options: Omit<StapMapOptions, 'valueType' | 'stat'>): StapMap<string> {
  return new StapMap<string>({ ...options, valueType: 'string' });
}

/** A stats array (`A[k] <<< v`). */
export function statsMap(options: Omit<StapMapOptions, 'valueType'>): StapMap<Stat> {
  return new StapMap<Stat>({ ...options, valueType: 'stats' });
}
