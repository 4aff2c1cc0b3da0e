/**
 * stap's end-of-run display of globals that the script writes but never reads
 * (elaborate.cxx add_global_var_display), as a synthetic `end` probe built from ordinary AST:
 * `name=%d`, `name="%s"`, `name[k1,"k2"]=v` sorted by value descending, and
 * `name @count=… @min=… @max=… @sum=… @avg=…` for statistics.
 */
import type * as A from '../parser/ast.js';
import type { DerivedProbe, GlobalVar } from './program.js';

export function globalDisplayProbe(globals: GlobalVar[]): DerivedProbe | undefined {
  const shown = globals.filter(g => g.written && !g.read && !g.library && g.type !== 'unknown');
  if (!shown.length) return undefined;
  const tok = shown[0]!.tok;
  const sym = (g: { name: string }, ref?: A.VarBinding): A.Sym => ({ kind: 'sym', name: g.name, tok, ref });
  const str = (value: string): A.StringLit => ({ kind: 'str', value, tok });
  const printf = (format: string, args: A.Expr[]): A.Stmt => ({ kind: 'expr', tok, expr: { kind: 'print', fn: 'printf', format, args, tok } });
  const stat = (op: A.StatKind, e: A.Expr): A.StatOp => ({ kind: 'stat', op, operand: e, tok });
  const statFormat = ' @count=%d @min=%d @max=%d @sum=%d @avg=%d\\n';
  const statArgs = (e: () => A.Expr): A.Expr[] => (['count', 'min', 'max', 'sum', 'avg'] as const).map(op => stat(op, e()));
  const body: A.Stmt[] = [];
  for (const g of shown) {
    const ref = g as A.VarBinding;
    if (!g.isArray) {
      if (g.type === 'stats') {
        body.push({
          kind: 'if', tok,
          cond: stat('count', sym(g, ref)),
          then: printf(`${g.name}${statFormat}`, statArgs(() => sym(g, ref))),
          else: printf(`${g.name} @count=0x0\\n`, []),
        });
      } else {
        body.push(printf(g.type === 'string' ? `${g.name}="%s"\\n` : `${g.name}=%d\\n`, [sym(g, ref)]));
      }
      continue;
    }
    const keys = (g.keyTypes ?? []).map((t, i) => ({ name: `__k${i + 1}`, type: t }));
    const keySyms = () => keys.map(k => sym(k));
    const keyFmt = keys.map(k => (k.type === 'string' ? '"%s"' : '%d')).join(',');
    const element = (): A.ArrayIndex => ({ kind: 'index', base: sym(g, ref), indexes: keySyms(), tok });
    const line = g.type === 'stats'
      ? printf(`${g.name}[${keyFmt}]${statFormat}`, [...keySyms(), ...statArgs(element)])
      : printf(`${g.name}[${keyFmt}]=${g.type === 'string' ? '"%s"' : '%d'}\\n`, [...keySyms(), element()]);
    body.push({
      kind: 'foreach', tok, keys: keys.map(k => sym(k)), array: sym(g, ref), sortColumn: 0, sortDirection: -1,
      sortAggregate: g.type === 'stats' ? 'count' : undefined, body: line,
    });
  }
  return {
    id: '', pp: 'end', chain: ['end'], point: { kind: 'end', priority: 0n }, fields: [],
    body: { kind: 'block', tok, body }, locals: [], conditions: [], tok, synthetic: true,
  };
}
