/**
 * Turns source text into stap tokens. Every token keeps its file, line and column so that
 * every later pass (and runtime errors) can point back at the script.
 */
import { chevrotainLexer, KEYWORD_SET } from './tokens.js';

export type TokenKind = 'identifier' | 'keyword' | 'number' | 'string' | 'operator' | 'embedded-code' | 'junk';

/** A source file as the diagnostics see it. */
export interface SourceFile {
  name: string;
  text: string;
  /** Parsed with guru privileges (tapset files and -g scripts). */
  guru: boolean;
  lines?: string[];
}

export interface Token {
  kind: TokenKind;
  /**
   * The token's content: operator or identifier text; for strings the value between the
   * quotes with `\"` unescaped and other escapes kept (as stap does); for embedded code the
   * text between `%{` and `%}`; for numbers the source text.
   */
  text: string;
  file: SourceFile;
  line: number;
  col: number;
  offset: number;
  /** Offset just past the token in its file, for adjacency checks (globs like `sys*open`). */
  end: number;
  /** Set on junk tokens: why the lexer rejected them. */
  junkReason?: string;
  /** The macro invocation this token was expanded from, if any. */
  expandedFrom?: Token;
}

/** stap's lexer returns these @-words as operators (so errors say `near operator '@min'`). */
const AT_OPERATORS: ReadonlySet<string> = new Set([
  '@cast', '@defined', '@probewrite', '@entry', '@perf', '@var', '@avg', '@count', '@sum', '@min', '@max',
  '@hist_linear', '@hist_log', '@const', '@variance', '@kregister', '@uregister', '@kderef', '@uderef', '@enum', '@enumname',
]);

/** `\"` becomes `"`; every other escape is kept as written (stap's lexer does the same). */
function stringContent(raw: string): string {
  return raw.includes('\\"') ? raw.replace(/\\(.)/g, (m, c) => (c === '"' ? '"' : m)) : raw;
}

export function lex(file: SourceFile): Token[] {
  const result = chevrotainLexer.tokenize(file.text);
  const out: Token[] = [];
  for (const t of result.tokens) {
    const name = t.tokenType.name;
    const base = { file, line: t.startLine ?? 1, col: t.startColumn ?? 1, offset: t.startOffset, end: t.startOffset + t.image.length };
    switch (name) {
      case 'Identifier':
        out.push({ kind: KEYWORD_SET.has(t.image) ? 'keyword' : 'identifier', text: t.image, ...base });
        break;
      case 'AtWord':
        out.push({ kind: AT_OPERATORS.has(t.image) ? 'operator' : 'identifier', text: t.image, ...base });
        break;
      case 'ArgRef': case 'ArgCount':
        out.push({ kind: 'identifier', text: t.image, ...base });
        break;
      case 'Number':
        out.push({ kind: 'number', text: t.image, ...base });
        break;
      case 'String':
        out.push({ kind: 'string', text: stringContent(t.image.slice(1, -1)), ...base });
        break;
      case 'Embedded':
        out.push({ kind: 'embedded-code', text: t.image.slice(2, -2), ...base });
        break;
      case 'Operator':
        out.push({ kind: 'operator', text: t.image, ...base });
        break;
      case 'UnterminatedString':
        out.push({ kind: 'junk', text: t.image, ...base, junkReason: 'Could not find matching closing quote' });
        break;
      case 'UnterminatedComment':
        out.push({ kind: 'junk', text: '/*', ...base, end: base.offset + 2, junkReason: 'Could not find matching \'*/\'' });
        break;
      case 'UnterminatedEmbedded':
        out.push({ kind: 'junk', text: '%{', ...base, end: base.offset + 2, junkReason: 'Could not find matching \'%}\'' });
        break;
      default:
        out.push({ kind: 'junk', text: t.image, ...base });
    }
  }
  return out;
}

export function sourceLine(file: SourceFile, line: number): string {
  if (!file.lines) file.lines = file.text.split('\n');
  return file.lines[line - 1] ?? '';
}
