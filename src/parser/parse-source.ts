/**
 * Pass 1 for one source file: lex, preprocess (macros, conditionals, arguments), parse.
 */
import { lex, type SourceFile } from '../lexer/lexer.js';
import { Preprocessor, type MacroTable } from '../preprocessor/preprocess.js';
import type { PreprocessorContext } from '../preprocessor/conditions.js';
import { ParseError } from '../diagnostics/diagnostics.js';
import { parse } from './parser.js';
import type { StapFile } from './ast.js';

export interface ParsedSource { file?: StapFile; errors: ParseError[] }

export function parseSource(source: SourceFile, ctx: PreprocessorContext, globalMacros: MacroTable, library: boolean): ParsedSource {
  let tokens;
  try {
    tokens = new Preprocessor(ctx, globalMacros).run(lex(source));
  } catch (e) {
    if (e instanceof ParseError) return { errors: [e] };
    if (e instanceof RangeError) return { errors: [new ParseError('nesting too deep', undefined, source.name)] };
    throw e;
  }
  const junk = tokens.find(t => t.kind === 'junk' && t.junkReason);
  const result = parse(tokens, source, library);
  if (junk && !result.errors.some(e => e.tok === junk)) result.errors.unshift(new ParseError(junk.junkReason!, junk));
  return result;
}

/** A `.stpm` file contributes only macro definitions, visible to every file. */
export function collectMacros(source: SourceFile, ctx: PreprocessorContext, into: MacroTable): ParseError[] {
  const pp = new Preprocessor(ctx, into);
  let rest;
  try {
    rest = pp.run(lex(source));
  } catch (e) {
    if (e instanceof ParseError) return [e];
    throw e;
  }
  for (const [name, m] of pp.localMacros) into.set(name, m);
  const stray = rest.find(t => t.kind !== 'junk');
  return stray ? [new ParseError('unexpected token outside of a macro definition in a .stpm file', stray)] : [];
}
