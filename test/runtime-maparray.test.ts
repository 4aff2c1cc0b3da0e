import { describe, it, expect } from 'vitest';
import { StapMap, longMap, stringMap, statsMap, MAXMAPENTRIES, type Key, type Row } from '../src/runtime/maparray.js';
import { StapError } from '../src/runtime/errors.js';
import { fromBigInt, type Long } from '../src/runtime/long.js';
import { Stat, formatHistLog } from '../src/runtime/stats.js';

const keysOf = (rows: Row[]): Key[][] => rows.map((r) => [...r.keys]);
const firstKeys = (rows: Row[]): Key[] => rows.map((r) => r.keys[0]);

describe('maparray: element access', () => {
  it('reads of missing elements give 0 / "" / an empty Stat and create nothing', () => {
    const a = longMap({ name: 'a', keyTypes: ['long'] });
    const s = stringMap({ name: 's', keyTypes: ['string', 'long'] });
    const t = statsMap({ name: 't', keyTypes: ['string'], stat: { log: true } });
    expect(a.get1(5)).toBe(0);
    expect(a.get([5])).toBe(0);
    expect(s.get(['x', 1])).toBe('');
    expect(t.get1('x').count()).toBe(0);
    expect(() => t.get1('x').min()).toThrow('empty aggregate');
    expect(() => formatHistLog(t.get(['x']))).toThrow('empty aggregate');
    expect(a.size + s.size + t.size).toBe(0);
    expect(a.has1(5)).toBe(false);
  });

  it('set, has, delete; assigning 0 or "" still creates the row', () => {
    const a = longMap({ name: 'a', keyTypes: ['long', 'string'] });
    a.set([1, 'x'], 0);
    expect(a.has([1, 'x'])).toBe(true);
    expect(a.size).toBe(1);
    a.set([1, 'x'], 7);
    expect(a.get([1, 'x'])).toBe(7);
    a.delete([1, 'x']);
    expect(a.has([1, 'x'])).toBe(false);
    a.delete([2, 'nothing']);
    const s = stringMap({ name: 's', keyTypes: ['string'] });
    s.set1('k', '');
    expect(s.has1('k')).toBe(true);
    s.delete1('k');
    expect(s.size).toBe(0);
  });

  it('multi-key tuples never collide', () => {
    const ss = longMap({ name: 'ss', keyTypes: ['string', 'string'] });
    ss.set(['ab', 'c'], 1);
    ss.set(['a', 'bc'], 2);
    ss.set(['1:a', 'b'], 3);
    ss.set(['1', ':ab'], 4);
    expect([ss.get(['ab', 'c']), ss.get(['a', 'bc']), ss.get(['1:a', 'b']), ss.get(['1', ':ab'])]).toEqual([1, 2, 3, 4]);
    const ls = longMap({ name: 'ls', keyTypes: ['long', 'string'] });
    ls.set([12, '3'], 1);
    ls.set([1, '23'], 2);
    ls.set([1, ';23'], 3);
    expect([ls.get([12, '3']), ls.get([1, '23']), ls.get([1, ';23'])]).toEqual([1, 2, 3]);
    const sl = longMap({ name: 'sl', keyTypes: ['string', 'long', 'long'] });
    sl.set(['a', 1, 23], 1);
    sl.set(['a', 12, 3], 2);
    sl.set(['a1', 2, 3], 3);
    expect([sl.get(['a', 1, 23]), sl.get(['a', 12, 3]), sl.get(['a1', 2, 3])]).toEqual([1, 2, 3]);
    expect(ss.size + ls.size + sl.size).toBe(10);
  });

  it('keys of any int64 magnitude', () => {
    const a = longMap({ name: 'a', keyTypes: ['long'] });
    const big = fromBigInt(2n ** 60n + 3n);
    a.set1(big, 1);
    a.set1(fromBigInt(-(2n ** 63n)), 2);
    expect(a.get1(fromBigInt(2n ** 60n + 3n))).toBe(1);
    expect(a.get1(fromBigInt(-(2n ** 63n)))).toBe(2);
    expect(a.get1(fromBigInt(2n ** 60n + 2n))).toBe(0);
  });

  it('addTo wraps at 64 bits and returns the new value', () => {
    const a = longMap({ name: 'a', keyTypes: ['string'] });
    expect(a.addTo1('x', 1)).toBe(1);
    expect(a.addTo1('x', 1)).toBe(2);
    expect(a.addTo(['x'], -5)).toBe(-3);
    a.set1('m', fromBigInt(2n ** 63n - 1n));
    expect(a.addTo1('m', 1)).toBe(-(2n ** 63n));
    a.set1('n', Number.MAX_SAFE_INTEGER);
    expect(a.addTo(['n'], 1)).toBe(2n ** 53n);
  });

  it('aggregate builds per-element Stats with the requested histograms', () => {
    const t = statsMap({ name: 't', keyTypes: ['long', 'string'], stat: { log: true } });
    t.aggregate([1, 'r'], 10);
    t.aggregate([1, 'r'], 20);
    t.aggregate([2, 'w'], 5);
    const s = t.get([1, 'r']);
    expect(s).toBeInstanceOf(Stat);
    expect([s.count(), s.sum(), s.min(), s.max(), s.avg()]).toEqual([2, 30, 10, 20, 15]);
    expect(formatHistLog(s)).toContain('   16 |@');
    const u = statsMap({ name: 'u', keyTypes: ['long'], stat: { variance: 0 } });
    for (const v of [1, 2, 3, 4, 5]) u.aggregate1(0, v);
    expect(u.get1(0).variance()).toBe(7); // array elements use the per-CPU variance directly
  });
});

describe('maparray: capacity', () => {
  it('Array overflow, check MAXMAPENTRIES', () => {
    const a = longMap({ name: 'a', keyTypes: ['long'] });
    for (let i = 0; i < MAXMAPENTRIES; i++) a.set1(i, i);
    a.set1(5, 50); // updating an existing row is fine when full
    expect(() => a.set1(MAXMAPENTRIES, 1)).toThrow(StapError);
    expect(() => a.addTo1(-1, 1)).toThrow('Array overflow, check MAXMAPENTRIES');
    expect(a.size).toBe(MAXMAPENTRIES);
    a.delete1(0);
    a.set1(MAXMAPENTRIES, 1);
    expect(a.size).toBe(MAXMAPENTRIES);
  });

  it('Array overflow, check size limit (N) for declared sizes, and -D MAXMAPENTRIES', () => {
    const a = statsMap({ name: 'a', keyTypes: ['string'], size: 5 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) a.aggregate1(k, 1);
    expect(() => a.aggregate1('f', 1)).toThrow('Array overflow, check size limit (5)');
    const b = longMap({ name: 'b', keyTypes: ['long'], maxMapEntries: 3 });
    b.set1(1, 1);
    b.set1(2, 1);
    b.set1(3, 1);
    expect(() => b.set1(4, 1)).toThrow('Array overflow, check MAXMAPENTRIES');
  });

  it('rows keep their own copy of the key tuple', () => {
    const a = longMap({ name: 'a', keyTypes: ['long', 'string'] });
    const k: Key[] = [1, 'x'];
    a.set(k, 5);
    k[0] = 2;
    expect(keysOf(a.foreach())).toEqual([[1, 'x']]);
    expect(a.get([1, 'x'])).toBe(5);
  });

  it('multi-key % arrays keep working through heavy churn', () => {
    const w = longMap({ name: 'w', keyTypes: ['long', 'string', 'long'], size: 4, wrap: true });
    for (let i = 0; i < 10000; i++) w.addTo([i % 13, 'k' + (i % 5), i % 3], 1);
    expect(w.size).toBe(4);
    const rows = w.foreach();
    const want = [9996, 9997, 9998, 9999].map((i) => [i % 13, 'k' + (i % 5), i % 3]);
    expect(keysOf(rows)).toEqual(want);
    for (const key of want) expect(w.has(key)).toBe(true);
    expect(w.has([0, 'k0', 0])).toBe(false);
    w.deleteMatching([undefined, 'k1', undefined]);
    expect(w.size).toBe(3);
    w.set([9996 % 13, 'k1', 0], 7); // re-creating under a first key whose inner maps were emptied
    expect(w.get([9996 % 13, 'k1', 0])).toBe(7);
  });

  it('% arrays recycle the oldest row', () => {
    const w = longMap({ name: 'w', keyTypes: ['long'], size: 3, wrap: true });
    for (let i = 1; i <= 5; i++) w.set1(i, i * 10);
    expect(firstKeys(w.foreach())).toEqual([3, 4, 5]);
    w.set1(4, 0); // updating keeps the row's place
    w.set1(6, 60);
    expect(firstKeys(w.foreach())).toEqual([4, 5, 6]);
    const ws = statsMap({ name: 'ws', keyTypes: ['string'], size: 2, wrap: true });
    ws.aggregate1('a', 1);
    ws.aggregate1('b', 1);
    ws.aggregate1('c', 1);
    expect(firstKeys(ws.foreach())).toEqual(['b', 'c']);
  });
});

describe('maparray: slices', () => {
  function sample(): StapMap<Long> {
    const a = longMap({ name: 'a', keyTypes: ['long', 'string'] });
    a.set([1, 'x'], 1);
    a.set([2, 'y'], 2);
    a.set([3, 'x'], 3);
    a.set([1, 'y'], 4);
    return a;
  }

  it('[*, k] in A', () => {
    const a = sample();
    expect(a.hasMatching([undefined, 'x'])).toBe(true);
    expect(a.hasMatching([undefined, 'z'])).toBe(false);
    expect(a.hasMatching([2, undefined])).toBe(true);
    expect(a.hasMatching([undefined, undefined])).toBe(true);
    expect(a.hasMatching([1, 'y'])).toBe(true);
    expect(longMap({ name: 'e', keyTypes: ['long'] }).hasMatching([undefined])).toBe(false);
  });

  it('delete A[*, k]', () => {
    const a = sample();
    a.deleteMatching([undefined, 'x']);
    expect(keysOf(a.foreach())).toEqual([[2, 'y'], [1, 'y']]);
    a.deleteMatching([1, 'y']);
    expect(keysOf(a.foreach())).toEqual([[2, 'y']]);
    a.deleteMatching([undefined, undefined]);
    expect(a.size).toBe(0);
  });

  it('foreach over a slice', () => {
    const a = sample();
    expect(keysOf(a.foreach({ slice: [undefined, 'x'] }))).toEqual([[1, 'x'], [3, 'x']]);
    expect(keysOf(a.foreach({ slice: [1, undefined] }))).toEqual([[1, 'x'], [1, 'y']]);
  });

  it('limit counts rows before the slice filter (stap checks the limit first)', () => {
    const a = sample();
    expect(keysOf(a.foreach({ slice: [undefined, 'y'], limit: 2 }))).toEqual([[2, 'y']]);
    expect(keysOf(a.foreach({ slice: [undefined, 'y'], limit: 4 }))).toEqual([[2, 'y'], [1, 'y']]);
  });
});

describe('maparray: foreach order', () => {
  it('unsorted foreach walks creation order; re-created rows go to the end', () => {
    const a = longMap({ name: 'a', keyTypes: ['string'] });
    for (const k of ['q', 'b', 'z', 'a']) a.set1(k, 1);
    a.set1('b', 5);
    expect(firstKeys(a.foreach())).toEqual(['q', 'b', 'z', 'a']);
    a.delete1('q');
    a.set1('q', 1);
    expect(firstKeys(a.foreach())).toEqual(['b', 'z', 'a', 'q']);
    expect(a.foreach().map((r) => r.value)).toEqual([5, 1, 1, 1]);
  });

  it('sorts by value and by key column, both directions, stable on ties', () => {
    const a = longMap({ name: 'a', keyTypes: ['string', 'long'] });
    a.set(['p', 3], 20);
    a.set(['q', 1], 10);
    a.set(['r', 2], 20);
    a.set(['s', 2], 5);
    expect(keysOf(a.foreach({ sort: { column: 0, direction: 1 } }))).toEqual([['s', 2], ['q', 1], ['p', 3], ['r', 2]]);
    expect(keysOf(a.foreach({ sort: { column: 0, direction: -1 } }))).toEqual([['p', 3], ['r', 2], ['q', 1], ['s', 2]]);
    expect(keysOf(a.foreach({ sort: { column: 2, direction: 1 } }))).toEqual([['q', 1], ['r', 2], ['s', 2], ['p', 3]]);
    expect(keysOf(a.foreach({ sort: { column: 1, direction: -1 } }))).toEqual([['s', 2], ['r', 2], ['q', 1], ['p', 3]]);
  });

  it('strings sort by bytes, longs numerically across the number/bigint split', () => {
    const s = longMap({ name: 's', keyTypes: ['string'] });
    for (const k of ['b', 'B', '\xe9t\xe9', 'a', '', 'ab']) s.set1(k, 0);
    expect(firstKeys(s.foreach({ sort: { column: 1, direction: 1 } }))).toEqual(['', 'B', 'a', 'ab', 'b', '\xe9t\xe9']);
    const l = longMap({ name: 'l', keyTypes: ['long'] });
    const vals: Long[] = [fromBigInt(2n ** 60n), -1, fromBigInt(-(2n ** 63n)), 2 ** 53 - 1, 0, fromBigInt(2n ** 53n)];
    vals.forEach((v, i) => l.set1(i, v));
    expect(l.foreach({ sort: { column: 0, direction: 1 } }).map((r) => r.value)).toEqual([
      -(2n ** 63n), -1, 0, 2 ** 53 - 1, 2n ** 53n, 2n ** 60n,
    ]);
    const sv = stringMap({ name: 'sv', keyTypes: ['long'] });
    sv.set1(1, 'pear');
    sv.set1(2, 'apple');
    sv.set1(3, 'fig');
    expect(firstKeys(sv.foreach({ sort: { column: 0, direction: 1 } }))).toEqual([2, 3, 1]);
  });

  it('limit after sorting; limit <= 0 visits nothing', () => {
    const a = longMap({ name: 'a', keyTypes: ['long'] });
    for (let i = 0; i < 100; i++) a.set1(i, (i * 37) % 100);
    const top = a.foreach({ sort: { column: 0, direction: -1 }, limit: 3 });
    expect(top.map((r) => r.value)).toEqual([99, 98, 97]);
    expect(a.foreach({ sort: { column: 0, direction: 1 }, limit: 40 }).map((r) => r.value)).toEqual(
      Array.from({ length: 40 }, (_, i) => i),
    );
    expect(a.foreach({ limit: 0 })).toEqual([]);
    expect(a.foreach({ limit: -5, sort: { column: 0, direction: 1 } })).toEqual([]);
    expect(a.foreach({ limit: fromBigInt(2n ** 60n) }).length).toBe(100);
  });

  it('limit 1..30 uses stap\'s partial sort: same top rows, its own leftover order', () => {
    // Values 1,5,2,4,3 sorted descending with limit 2: _stp_map_sortn leaves the list as 5,4,2,1,3.
    const a = longMap({ name: 'a', keyTypes: ['string'] });
    ['a', 'b', 'c', 'd', 'e'].forEach((k, i) => a.set1(k, [1, 5, 2, 4, 3][i]));
    expect(a.foreach({ sort: { column: 0, direction: -1 }, limit: 2 }).map((r) => r.value)).toEqual([5, 4]);
    expect(a.foreach().map((r) => r.value)).toEqual([5, 4, 2, 1, 3]);
    // With limit 1, rows not better than the first stay where they were.
    const b = longMap({ name: 'b', keyTypes: ['string'] });
    ['a', 'b', 'c', 'd'].forEach((k, i) => b.set1(k, [5, 1, 4, 2][i]));
    expect(b.foreach({ sort: { column: 0, direction: -1 }, limit: 1 }).map((r) => r.value)).toEqual([5]);
    expect(b.foreach().map((r) => r.value)).toEqual([5, 1, 4, 2]);
    // A limit above 30 sorts everything.
    expect(b.foreach({ sort: { column: 0, direction: -1 }, limit: 31 }).map((r) => r.value)).toEqual([5, 4, 2, 1]);
    expect(b.foreach().map((r) => r.value)).toEqual([5, 4, 2, 1]);
  });

  it('partial sort agrees with the full stable sort on the first N rows', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 20;
    for (let trial = 0; trial < 200; trial++) {
      const len = 1 + (trial % 40);
      const n = 1 + (trial % 30);
      const dir = trial % 2 === 0 ? 1 : -1;
      const a = longMap({ name: 'a', keyTypes: ['long'] });
      const b = longMap({ name: 'b', keyTypes: ['long'] });
      for (let i = 0; i < len; i++) {
        const v = rand();
        a.set1(i, v);
        b.set1(i, v);
      }
      const partial = a.foreach({ sort: { column: 0, direction: dir as 1 | -1 }, limit: n });
      const full = b.foreach({ sort: { column: 0, direction: dir as 1 | -1 } }).slice(0, n);
      expect(firstKeys(partial)).toEqual(firstKeys(full));
    }
  });

  it('sorting a value array reorders it, which decides what a % array recycles', () => {
    const w = longMap({ name: 'w', keyTypes: ['string'], size: 3, wrap: true });
    w.set1('a', 1);
    w.set1('b', 3);
    w.set1('c', 2);
    expect(firstKeys(w.foreach({ sort: { column: 0, direction: -1 } }))).toEqual(['b', 'c', 'a']);
    w.set1('d', 9); // recycles the list head, now 'b'
    expect(firstKeys(w.foreach())).toEqual(['c', 'a', 'd']);
  });

  it('stats arrays sort on @count by default or the named extractor, without reordering', () => {
    const t = statsMap({ name: 't', keyTypes: ['string'] });
    const data: Record<string, number[]> = { a: [1, 1, 1], b: [100], c: [-50, 60], d: [7, 7] };
    for (const [k, vs] of Object.entries(data)) for (const v of vs) t.aggregate1(k, v);
    const order = (sort: Parameters<typeof t.foreach>[0]) => firstKeys(t.foreach(sort));
    expect(order({ sort: { column: 0, direction: -1 } })).toEqual(['a', 'c', 'd', 'b']); // c, d tie on count 2
    expect(order({ sort: { column: 0, direction: -1, aggregate: 'count' } })).toEqual(['a', 'c', 'd', 'b']);
    expect(order({ sort: { column: 0, direction: -1, aggregate: 'sum' } })).toEqual(['b', 'd', 'c', 'a']);
    expect(order({ sort: { column: 0, direction: 1, aggregate: 'min' } })).toEqual(['c', 'a', 'd', 'b']);
    expect(order({ sort: { column: 0, direction: -1, aggregate: 'max' } })).toEqual(['b', 'c', 'd', 'a']);
    expect(order({ sort: { column: 0, direction: -1, aggregate: 'avg' } })).toEqual(['b', 'd', 'c', 'a']);
    expect(order({ sort: { column: 0, direction: -1, aggregate: 'variance' } })).toEqual(['a', 'c', 'd', 'b']);
    expect(order({ sort: { column: 1, direction: -1 } })).toEqual(['d', 'c', 'b', 'a']);
    expect(order({})).toEqual(['a', 'b', 'c', 'd']); // still creation order
  });
});
