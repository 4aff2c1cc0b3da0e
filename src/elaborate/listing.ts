/**
 * `-l PATTERN` and `-L PATTERN`: the probe points a pattern matches (alias names as the user
 * would write them, or concrete built-in points), and with -L each one's variables: the locals
 * its aliases set and the context variables (`$field:type`) of its event.
 */
import type * as A from '../parser/ast.js';
import { SemanticError } from '../diagnostics/diagnostics.js';
import type { PreprocessorContext } from '../preprocessor/conditions.js';
import { parseSource } from '../parser/parse-source.js';
import { elaborate } from './elaborate.js';
import type { Library } from './library.js';
import { siteOf } from './dynamic/site.js';
import { isCharArray } from '../symbols/types.js';
import type { DerivedProbe } from './program.js';

/** The typed values a kernel or user function probe offers: its parameters, and `$return` on a return probe. */
function dynamicVars(p: DerivedProbe): string[] {
  const site = siteOf(p.point);
  if (!site) return [];
  let values;
  try { values = site.values(); } catch { return []; }
  const vars = values.params.map(v => `$${v.name}:${isCharArray(v.type) ? 'string' : 'long'}`);
  if (site.isReturn && values.returnType && values.returnType.kind !== 'void') vars.push('$return:long');
  return vars;
}

export function listProbes(pattern: string, withVars: boolean, library: Library, ctx: PreprocessorContext): string[] {
  const parsed = parseSource({ name: '<pattern>', text: `probe ${pattern} {}`, guru: false }, ctx, library.macros, false);
  if (parsed.errors.length || !parsed.file) throw parsed.errors[0] ?? new SemanticError(`cannot parse probe point '${pattern}'`);
  // Listing must show every variable an alias offers: no elision.
  const { program } = elaborate([parsed.file], library, ctx, { unoptimized: false, keepLocals: true });
  const lines = new Set<string>();
  for (const p of program.probes) {
    // Only the pattern's own probes, not those of library files it pulled in (e.g. an `init` probe).
    if (p.synthetic || p.tok.file.name !== '<pattern>') continue;
    const name = p.alias ?? p.pp;
    if (!withVars) { lines.add(name); continue; }
    const vars = [
      ...p.locals.map(l => `${l.name}:${l.type}`),
      ...(p.point.kind === 'uprobe' || p.point.kind === 'kprobe' ? [] : p.fields.filter(f => !f.name.startsWith('__') && !f.fetch).map(f => `$${f.name}:${f.type}`)),
      ...dynamicVars(p),
    ];
    lines.add(vars.length ? `${name} ${vars.join(' ')}` : name);
  }
  return [...lines].sort();
}
