/**
 * The token vocabulary of the stap language and the chevrotain lexer that produces it.
 * Pattern order matters: chevrotain takes the first pattern that matches, so longer
 * operators come before their prefixes and `$#`/`@#` before identifiers and comments.
 */
import { createToken, Lexer, type TokenType } from 'chevrotain';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /(?:[ \t\r\n\f\v]|\xc2\xa0|\xa0)+/, group: Lexer.SKIPPED, line_breaks: true });
// Non-breaking spaces (UTF-8 C2 A0, read as latin1) count as blanks: scripts pasted from web pages carry them./
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED, line_breaks: true });
export const UnterminatedComment = createToken({ name: 'UnterminatedComment', pattern: /\/\*[\s\S]*/, line_breaks: true });
export const LineComment = createToken({ name: 'LineComment', pattern: /(?:#|\/\/)[^\n]*/, group: Lexer.SKIPPED });
export const Embedded = createToken({ name: 'Embedded', pattern: /%\{[\s\S]*?%\}/, line_breaks: true });
export const UnterminatedEmbedded = createToken({ name: 'UnterminatedEmbedded', pattern: /%\{[\s\S]*/, line_breaks: true });
export const String = createToken({ name: 'String', pattern: /"(?:[^"\\\n]|\\[^\n])*"/ });
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\n]|\\[^\n])*\\?/ });
export const Number = createToken({ name: 'Number', pattern: /0[xX][0-9a-fA-F]+|[0-9]+/ });
export const ArgCount = createToken({ name: 'ArgCount', pattern: /[$@]#/ });
export const ArgRef = createToken({ name: 'ArgRef', pattern: /[$@][0-9]+(?![A-Za-z_$])/ });
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_$][A-Za-z0-9_$]*/ });
export const AtWord = createToken({ name: 'AtWord', pattern: /@[A-Za-z_][A-Za-z0-9_]*/ });

export const KEYWORDS = [
  'probe', 'global', 'private', 'function', 'if', 'else', 'for', 'foreach', 'in', 'limit', 'return',
  'delete', 'while', 'break', 'continue', 'next', 'string', 'long', 'try', 'catch',
] as const;
export const KEYWORD_SET: ReadonlySet<string> = new Set(KEYWORDS);

/** Operators, longest first so that a prefix never wins over the whole operator. */
export const OPERATORS = [
  '%(', '%?', '%:', '%)',
  '<<<', '>>>', '<<=', '>>=',
  '->', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '.=', '==', '!=', '<=', '>=',
  '=~', '!~', '&&', '||', '<<', '>>',
  '+', '-', '*', '/', '%', '=', '<', '>', '!', '~', '&', '|', '^', '.', '?', ':', ';', ',',
  '(', ')', '[', ']', '{', '}',
] as const;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export const Operator = createToken({
  name: 'Operator',
  pattern: new RegExp(OPERATORS.map(escapeRegex).join('|')),
});

export const Junk = createToken({ name: 'Junk', pattern: /[^\s]/ });

export const ALL_TOKENS: TokenType[] = [
  WhiteSpace, BlockComment, UnterminatedComment, LineComment, Embedded, UnterminatedEmbedded,
  String, UnterminatedString, Number, ArgCount, ArgRef, Identifier, AtWord, Operator, Junk,
];

export const chevrotainLexer = new Lexer(ALL_TOKENS, {
  positionTracking: 'full',
  ensureOptimizations: false,
  skipValidations: true,
});
