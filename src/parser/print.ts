/**
 * The `-p1` parse tree dump, in stap's layout (staptree.cxx print methods): fully
 * parenthesised expressions, `;` after every statement of a block, declarations grouped
 * as embeds, globals, aliases, probes, functions.
 */
import type * as A from './ast.js';

/** stap's lex_cast_qstring: quote, escaping backslashes and double quotes. */
function qstring(s: string): string {
  return '"' + s.replace(/[\\"]/g, '\\$&') + '"';
}

/** literal_string::print escapes only double quotes: other escapes are already in the value. */
function literalString(s: string): string {
  return '"' + s.replace(/"/g, '\\"') + '"';
}

export function printExpr(e: A.Expr): string {
  switch (e.kind) {
    case 'num': return e.value.toString();
    case 'str': return literalString(e.value);
    case 'sym': return e.name;
    case 'index':
      return (e.base.kind === 'sym' ? e.base.name : printExpr(e.base)) + '[' + e.indexes.map(i => (i ? printExpr(i) : '*')).join(', ') + ']';
    case 'call': return `${e.name}(${e.args.map(printExpr).join(', ')})`;
    case 'print': {
      let s = e.fn + '(';
      const parts: string[] = [];
      if (e.format !== undefined) parts.push(qstring(e.format));
      if (e.delimiter !== undefined) parts.push(qstring(e.delimiter));
      let head = parts.join('');
      if (e.hist) head += printExpr(e.hist);
      s += head;
      e.args.forEach((a, i) => { if (i > 0 || e.format !== undefined || e.delimiter !== undefined) s += ', '; s += printExpr(a); });
      return s + ')';
    }
    case 'tvar': return (e.addressOf ? '&' : '') + e.name + printComponents(e.components);
    case 'atvar':
      return (e.addressOf ? '&' : '') + `@var("${e.target}"` + (e.module !== undefined ? ', ' + qstring(e.module) : '') + ')' + printComponents(e.components);
    case 'cast':
      if (!e.name) return (e.addressOf ? '&' : '') + '(' + printExpr(e.operand) + ')' + printComponents(e.components);
      return (e.addressOf ? '&' : '') + `${e.name}(${printExpr(e.operand)}, ${qstring(e.typeName ?? '')}` +
        (e.module !== undefined ? ', ' + qstring(e.module) : '') + ')' + printComponents(e.components);
    case 'defined': return `@defined(${printExpr(e.operand)})`;
    case 'entry': return `@entry(${printExpr(e.operand)})`;
    case 'perf': return `@perf(${printExpr(e.operand)})`;
    case 'const': return `@const(${qstring(e.name)})`;
    case 'probewrite': return `@probewrite(${e.name})`;
    case 'register': return `@${e.user ? 'u' : 'k'}register(${printExpr(e.operand)})`;
    case 'deref': return `@${e.user ? 'u' : 'k'}deref(${printExpr(e.size)}, ${printExpr(e.addr)})`;
    case 'stat':
      return `@${e.op}(${printExpr(e.operand)}${e.op === 'variance' && e.shift !== undefined ? ', ' + e.shift : ''})`;
    case 'hist':
      return `@hist_${e.htype}(${printExpr(e.operand)}${e.params.map(p => ', ' + p).join('')})`;
    case 'unary': return `${e.op}(${printExpr(e.operand)})`;
    case 'binary': case 'logical': case 'compare': case 'assign':
      return `(${printExpr(e.left)}) ${e.op} (${printExpr(e.right)})`;
    case 'concat': return `(${printExpr(e.left)}) . (${printExpr(e.right)})`;
    case 'regex': return `(${printExpr(e.left)}) ${e.op} ${printExpr(e.right)}`;
    case 'ternary': return `(${printExpr(e.cond)})?(${printExpr(e.then)}):(${printExpr(e.else)})`;
    case 'in':
      return '[' + e.target.indexes.map(i => (i ? printExpr(i) : '*')).join(', ') + '] in ' +
        (e.target.base.kind === 'sym' ? e.target.base.name : printExpr(e.target.base));
    case 'crement': return e.post ? `(${printExpr(e.operand)})${e.op}` : `${e.op}(${printExpr(e.operand)})`;
    case 'embedded-expr': return `%{ ${e.code} %}`;
  }
}

function printComponents(cs: A.Component[]): string {
  return cs.map(c => (c.kind === 'member' ? '->' + c.name : c.kind === 'pretty' ? '->' + '$'.repeat(c.depth) : '[' + printExpr(c.index) + ']')).join('');
}

export function printStmt(s: A.Stmt): string {
  switch (s.kind) {
    case 'block': return '{\n' + s.body.map(b => printStmt(b) + ';\n').join('') + '}';
    case 'expr': return printExpr(s.expr);
    case 'if':
      return `if (${printExpr(s.cond)}) ${printStmt(s.then)}\n` + (s.else ? `else ${printStmt(s.else)}\n` : '');
    case 'while': return `while (${printExpr(s.cond)}) ${printStmt(s.body)}`;
    case 'for':
      return `for (${s.init ? printExpr(s.init) : ''}; ${printExpr(s.cond)}; ${s.incr ? printExpr(s.incr) : ''}) ${printStmt(s.body)}`;
    case 'foreach': {
      let o = 'foreach (';
      if (s.value) o += s.value.name + ' = ';
      o += '[' + s.keys.map((k, i) => k.name + (s.sortDirection && s.sortColumn === i + 1 ? (s.sortDirection > 0 ? '+' : '-') : '')).join(', ') + '] in ';
      o += s.array.kind === 'sym' ? s.array.name : printExpr(s.array);
      if (s.slice) o += '[' + s.slice.map(i => (i ? printExpr(i) : '*')).join(', ') + ']';
      if (s.sortDirection && s.sortColumn === 0) {
        if (s.sortAggregate && s.sortAggregate !== 'variance') o += ' @' + s.sortAggregate;
        o += s.sortDirection > 0 ? '+' : '-';
      }
      if (s.limit) o += ' limit ' + printExpr(s.limit);
      return o + ') ' + printStmt(s.body);
    }
    case 'return': return s.value ? 'return ' + printExpr(s.value) : 'return';
    case 'next': case 'break': case 'continue': return s.kind;
    case 'delete': return 'delete ' + printExpr(s.target);
    case 'try':
      return 'try {\n' + printStmt(s.body) + '\n} catch ' + (s.catchVar ? `(${s.catchVar.name}) ` : '') + '{\n' + printStmt(s.handler) + '\n}\n';
    case 'null': return ';';
    case 'embedded': return `%{${s.code}%}`;
  }
}

export function printProbePoint(p: A.ProbePoint, extras = true): string {
  let o = p.components.map(c => c.name + (c.arg ? `(${printExpr(c.arg)})` : '')).join('.');
  if (!extras) return o;
  if (p.sufficient) o += '!';
  else if (p.optional) o += '?';
  if (p.condition) o += ` if (${printExpr(p.condition)})`;
  return o;
}

/** One file of the dump: `# file NAME` then its declarations grouped as stap groups them. */
export function printFile(f: A.StapFile): string {
  let o = `# file ${f.file.name}\n`;
  for (const d of f.decls) if (d.kind === 'embedded') o += `%{${d.code}%}`;
  for (const d of f.decls) {
    if (d.kind !== 'global') continue;
    o += 'global ' + d.name + (d.wrap ? '%' : '') + (d.maxSize ? `[${d.maxSize}]` : '') + (d.init ? ' = ' + printExpr(d.init) : '') + '\n';
  }
  for (const d of f.decls) {
    if (d.kind !== 'alias') continue;
    o += 'probe ' + d.names.map(n => printProbePoint(n)).join(' = ') + (d.epilogue ? ' += ' : ' = ') +
      d.points.map(p => printProbePoint(p)).join(', ') + printStmt(d.body) + '\n';
  }
  for (const d of f.decls) {
    if (d.kind !== 'probe') continue;
    o += 'probe ' + d.points.map(p => printProbePoint(p)).join(',') + printStmt(d.body) + '\n';
  }
  for (const d of f.decls) {
    if (d.kind !== 'function') continue;
    o += `function ${d.name} (${d.params.map(p => p.name).join(', ')})\n` + printStmt(d.body) + '\n';
  }
  return o;
}
