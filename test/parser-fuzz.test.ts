// Hostile input never crashes the front end: mutated scripts and random bytes either parse or
// produce ParseErrors, never another exception (which the CLI would show as a stack trace).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { systemContext } from '../src/preprocessor/conditions.js';
import { parseSource } from '../src/parser/parse-source.js';
import { ParseError } from '../src/diagnostics/diagnostics.js';

const seedsDir = resolve(import.meta.dirname, 'fixtures/seeds');
const seeds = readdirSync(seedsDir).map(f => readFileSync(join(seedsDir, f), 'latin1'));
seeds.push('@define m(a,b) %( %( @a > @b %? @a %: @b %) %) probe begin { x = @m(1, 2); foreach ([k-] in a limit 3) { delete a[k] } }');
seeds.push('probe kernel.function("f").return, process("/bin/ls").function("*")? if (x) { printf("%d %s\\n", $a->b[2], @cast(p, "task_struct")->comm$) }');

const ctx = systemContext({ args: ['1', 'two'] });
const FRAGMENTS = ['%(', '%?', '%:', '%)', '@define', '{', '}', '(', ')', '[', ']', '"', '/*', '%{', '$1', '@1', '<<<', '->', ',', ';', '?', '!', 'probe', 'foreach', 'in', '@hist_log(', '\u0000', '\u00a0', '\n'];

function frontEndSurvives(text: string): boolean {
  try {
    const r = parseSource({ name: 'fuzz.stp', text, guru: false }, ctx, new Map(), false);
    return r.errors.every(e => e instanceof ParseError);
  } catch (e) {
    if (e instanceof ParseError) return true;
    throw e;
  }
}

const mutation = fc.record({
  seed: fc.nat(seeds.length - 1),
  edits: fc.array(fc.record({
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    del: fc.nat(20),
    ins: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 6 })),
  }), { minLength: 1, maxLength: 6 }),
});

describe('parser under hostile input', () => {
  it('survives mutated scripts', () => {
    fc.assert(fc.property(mutation, ({ seed, edits }) => {
      let s = seeds[seed]!;
      for (const e of edits) {
        const i = Math.floor(e.at * s.length);
        s = s.slice(0, i) + e.ins + s.slice(i + e.del);
      }
      return frontEndSurvives(s);
    }), { numRuns: 600 });
  });

  it('survives random bytes', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), s => frontEndSurvives(s)), { numRuns: 300 });
  });

  it('reports deep nesting as a parse error', () => {
    const r = parseSource({ name: 'deep.stp', text: 'probe begin { x = ' + '('.repeat(20000) + '1' + ')'.repeat(20000) + ' }', guru: false }, ctx, new Map(), false);
    expect(r.errors[0]?.message).toMatch(/nesting too deep/);
  });
});
