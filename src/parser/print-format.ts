/**
 * Pass-1 checks of print formats, as stap's parser does them: a printf format must be a
 * valid format string (`invalid or missing conversion specifier`).
 */
import { ParseError } from '../diagnostics/diagnostics.js';
import { parseFormat } from '../runtime/format.js';
import { cUnescape } from './escapes.js';
import type { Print } from './ast.js';

export function checkPrintFormat(p: Print): void {
  if (p.format === undefined) return;
  const spec = parseFormat(cUnescape(p.format));
  if ('error' in spec) throw new ParseError(spec.error, p.formatTok ?? p.tok);
}
