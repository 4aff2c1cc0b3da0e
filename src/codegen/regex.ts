/**
 * stap regular expressions are POSIX ERE; they become JavaScript RegExp literals. The syntax
 * shared by both passes through; POSIX bracket classes are translated; back-references, which
 * ERE does not have, are refused by the elaborator's format checks before we get here.
 */
const CLASSES: Record<string, string> = {
  alpha: 'A-Za-z', digit: '0-9', alnum: 'A-Za-z0-9', upper: 'A-Z', lower: 'a-z', space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t', punct: '!-\\/:-@\\[-`{-~', xdigit: '0-9A-Fa-f', cntrl: '\\x00-\\x1f\\x7f', print: '\\x20-\\x7e', graph: '\\x21-\\x7e',
};

export function translateRegex(ere: string): string {
  let src = ere.replace(/\[:([a-z]+):\]/g, (m, name: string) => CLASSES[name] ?? m);
  // A literal '/' must be escaped inside a RegExp literal.
  src = src.replace(/(^|[^\\])\//g, '$1\\/');
  return `new RegExp(${JSON.stringify(src)}, 's')`;
}
