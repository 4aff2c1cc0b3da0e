// The whole tapset library of Debian's systemtap package must parse (with guru privileges,
// as stap parses tapsets). It is a corpus only: none of it ships with tstap.
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { systemContext } from '../src/preprocessor/conditions.js';
import { collectMacros, parseSource } from '../src/parser/parse-source.js';
import { formatParseError } from '../src/diagnostics/diagnostics.js';
import type { MacroTable } from '../src/preprocessor/preprocess.js';

const CORPUS = '/usr/share/systemtap/tapset';

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (/\.stpm?$/.test(name)) out.push(p);
  }
  return out;
}

const present = existsSync(CORPUS);
if (!present) console.log(`SKIP tapset corpus: ${CORPUS} is absent (apt-get install systemtap-common; .ci/run does)`);

describe.skipIf(!present)('Debian systemtap 4.8 tapset corpus', () => {
  it('parses every file with -g', () => {
    const files = walk(CORPUS);
    const ctx = systemContext({ guru: true });
    const macros: MacroTable = new Map();
    const failures: string[] = [];
    for (const f of files.filter(f => f.endsWith('.stpm'))) {
      const errs = collectMacros({ name: f, text: readFileSync(f, 'latin1'), guru: true }, ctx, macros);
      failures.push(...errs.map(formatParseError));
    }
    let lines = 0;
    const scripts = files.filter(f => f.endsWith('.stp'));
    for (const f of scripts) {
      const text = readFileSync(f, 'latin1');
      lines += text.split('\n').length;
      const r = parseSource({ name: f, text, guru: true }, ctx, macros, true);
      failures.push(...r.errors.map(formatParseError));
    }
    console.log(`tapset corpus: ${files.length} files (${scripts.length} .stp), ${lines} lines, ${failures.length} errors`);
    expect(failures.slice(0, 5).join('\n')).toBe('');
    expect(files.length).toBeGreaterThan(600);
  });
});
