/**
 * Compile-time diagnostics in stap's words and layout: `parse error: ...`, `semantic error: ...`,
 * `WARNING: ...`, each with the offending token, its location and a source excerpt.
 */
import { sourceLine, type Token } from '../lexer/lexer.js';

/** `operator '/' at f.stp:3:9`, `keyword at f.stp:1:1`, as stap prints a token. */
export function describeToken(tok: Token): string {
  return `${tokenHead(tok)} at ${location(tok)}`;
}

export function tokenHead(tok: Token): string {
  switch (tok.kind) {
    case 'keyword': return 'keyword';
    case 'embedded-code': return 'embedded-code';
    case 'string': return `string "${printable(tok.text)}"`;
    default: return `${tok.kind} '${printable(tok.text)}'`;
  }
}

function printable(s: string): string {
  // stap replaces unprintable bytes with '?'; also keep huge junk short.
  const cut = s.length > 80 ? s.slice(0, 80) : s;
  return cut.replace(/[^\x20-\x7e]/g, '?');
}

export function location(tok: Token): string {
  return `${tok.file.name}:${tok.line}:${tok.col}`;
}

/** The `source:` excerpt with a caret under the token's column. */
export function sourceExcerpt(tok: Token, indent: string): string {
  let text = sourceLine(tok.file, tok.line);
  let col = tok.col - 1;
  if (text.length > 200) {
    // Keep a window around the token so a 1 MB line doesn't flood the terminal.
    const start = Math.max(0, col - 60);
    text = text.slice(start, start + 160);
    col -= start;
  }
  const caretPad = text.slice(0, col).replace(/[^\t]/g, ' ');
  return `${indent}source: ${text.replace(/[^\t\x20-\x7e]/g, '?')}\n${' '.repeat(indent.length + 8)}${caretPad}^\n`;
}

export class ParseError extends Error {
  constructor(message: string, readonly tok: Token | undefined, readonly eofFile?: string) {
    super(message);
  }
}

export function formatParseError(e: ParseError): string {
  let s = `parse error: ${e.message}\n`;
  if (e.tok) {
    s += `        saw: ${describeToken(e.tok)}\n`;
    if (e.tok.expandedFrom) s += `     in expansion of macro: ${describeToken(e.tok.expandedFrom)}\n`;
    s += sourceExcerpt(e.tok, '     ');
  } else {
    s += `        saw: ${e.eofFile ?? '<input>'} EOF\n`;
  }
  return s;
}

/** A pass-2 error or warning, attached to a token like stap's semantic_error. */
export class SemanticError extends Error {
  constructor(message: string, readonly tok?: Token, readonly chain?: SemanticError) {
    super(message);
  }
}

export function formatSemanticError(e: SemanticError, prefix = 'semantic error'): string {
  let s = `${prefix}: ${e.message}`;
  if (e.tok) s += `: ${describeToken(e.tok)}\n` + sourceExcerpt(e.tok, '        ');
  else s += '\n';
  if (e.chain) s += formatSemanticError(e.chain);
  return s;
}
