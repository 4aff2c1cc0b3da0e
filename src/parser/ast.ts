/**
 * The stap abstract syntax tree. Every node carries `tok`, the token it came from, so that
 * diagnostics and runtime errors can say `near operator '/' at f.stp:3:9`.
 */
import type { SourceFile, Token } from '../lexer/lexer.js';

export type Expr =
  | NumberLit | StringLit | Sym | ArrayIndex | Call | Print | TargetVar | AtVar | Cast | Defined | Entry | Perf
  | AtConst | RegisterOp | DerefOp | ProbeWrite | StatOp | HistOp | Unary | Binary | Logical | Comparison
  | Concat | Regex | Ternary | In | Assign | Crement | EmbeddedExpr;

/** Every node: its token, and (expressions, after elaboration) its value type. */
interface Node { tok: Token; type?: Type }

/** Filled in by elaboration (pass 2): the value type of every expression. */
export type Type = 'long' | 'string' | 'stats' | 'unknown';

/** A resolved variable, as elaboration binds every symbol (see src/elaborate/program.ts). */
export interface VarBinding {
  scope: 'global' | 'local';
  name: string;
  /** A unique JavaScript identifier for code generation. */
  id: string;
  type: Type;
  /** Key types for arrays; undefined for scalars. */
  keyTypes?: Type[];
}

/** How a context variable (`$name`, `@var`, `$$vars`) is obtained at a probe hit. */
export type ContextRef =
  /** A field of the event record, by its position in the probe's decoded field list. */
  | { kind: 'field'; index: number; type: 'long' | 'string' }
  /** `$$vars`, `$$parms`, `$var$`: a printf format over several fields, in format order. */
  | { kind: 'pretty'; format: string; fields: { index: number; type: 'long' | 'string' }[] }
  /** A constant known at compile time (e.g. `@defined` results, syscall numbers). */
  | { kind: 'const'; value: bigint | string };

export interface NumberLit extends Node { kind: 'num'; value: bigint }
/** `value` keeps C escapes as written (`\n` is two characters), like stap's lexer. */
export interface StringLit extends Node { kind: 'str'; value: string }
export interface Sym extends Node { kind: 'sym'; name: string; ref?: VarBinding }
/** `a[i, j]`, `a[*, "k"]` (null = wildcard) or `@hist_log(x)[3]`. */
export interface ArrayIndex extends Node { kind: 'index'; base: Sym | HistOp; indexes: (Expr | null)[] }
export interface Call extends Node {
  kind: 'call'; name: string; args: Expr[];
  /** Elaboration: the user/library function's unique id, or the builtin's name. */
  target?: { kind: 'function'; id: string } | { kind: 'builtin'; name: string };
}
/** print, println, printf, printd, printdln, sprint, sprintf, ... and print_char. */
export interface Print extends Node {
  kind: 'print'; fn: string; format?: string; formatTok?: Token; delimiter?: string; hist?: HistOp; args: Expr[];
}

/** A member, index or pretty-print step after a context variable: `->f`, `[3]`, `[i]`, `$`, `$$`. */
export type Component =
  | { kind: 'member'; name: string; tok: Token }
  | { kind: 'index'; index: Expr; tok: Token }
  | { kind: 'pretty'; depth: 1 | 2; tok: Token };

/** `$var`, `$$vars`, `$var->f[2]`, `&$var`. */
export interface TargetVar extends Node { kind: 'tvar'; name: string; components: Component[]; addressOf: boolean; ref?: ContextRef }
/** `@var("name@file", "module")`. */
export interface AtVar extends Node { kind: 'atvar'; target: string; module?: string; components: Component[]; addressOf: boolean }
/** `@cast(p, "type", "module")->f` (name is `@cast`); an autocast `(p)->f` has name ''. */
export interface Cast extends Node { kind: 'cast'; name: string; operand: Expr; typeName?: string; module?: string; components: Component[]; addressOf: boolean }
export interface Defined extends Node { kind: 'defined'; operand: Expr }
export interface Entry extends Node { kind: 'entry'; operand: Expr }
export interface Perf extends Node { kind: 'perf'; operand: StringLit }
export interface AtConst extends Node { kind: 'const'; name: string }
/** `@kregister(n)` / `@uregister(n)`. */
export interface RegisterOp extends Node { kind: 'register'; user: boolean; operand: Expr }
/** `@kderef(size, addr)` / `@uderef(size, addr)`. */
export interface DerefOp extends Node { kind: 'deref'; user: boolean; size: Expr; addr: Expr }
export interface ProbeWrite extends Node { kind: 'probewrite'; name: string }

export type StatKind = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'variance';
export interface StatOp extends Node { kind: 'stat'; op: StatKind; operand: Expr; shift?: bigint }
export interface HistOp extends Node { kind: 'hist'; htype: 'log' | 'linear'; operand: Expr; params: bigint[] }

export interface Unary extends Node { kind: 'unary'; op: '-' | '+' | '!' | '~'; operand: Expr }
/** Arithmetic, bitwise and shift operators. */
export interface Binary extends Node { kind: 'binary'; op: string; left: Expr; right: Expr }
export interface Logical extends Node { kind: 'logical'; op: '&&' | '||'; left: Expr; right: Expr }
export interface Comparison extends Node { kind: 'compare'; op: string; left: Expr; right: Expr }
export interface Concat extends Node { kind: 'concat'; left: Expr; right: Expr }
export interface Regex extends Node { kind: 'regex'; op: '=~' | '!~'; left: Expr; right: StringLit }
export interface Ternary extends Node { kind: 'ternary'; cond: Expr; then: Expr; else: Expr }
/** `k in a`, `[k1, *] in a`. */
export interface In extends Node { kind: 'in'; target: ArrayIndex }
/** `=`, compound assignments, `.=` and `<<<`. */
export interface Assign extends Node { kind: 'assign'; op: string; left: Expr; right: Expr }
export interface Crement extends Node { kind: 'crement'; op: '++' | '--'; post: boolean; operand: Expr }
export interface EmbeddedExpr extends Node { kind: 'embedded-expr'; code: string }

export type Stmt =
  | Block | ExprStmt | IfStmt | WhileStmt | ForStmt | ForeachStmt | ReturnStmt | NextStmt | BreakStmt
  | ContinueStmt | DeleteStmt | TryStmt | NullStmt | EmbeddedStmt;

export interface Block extends Node { kind: 'block'; body: Stmt[] }
export interface ExprStmt extends Node { kind: 'expr'; expr: Expr }
export interface IfStmt extends Node { kind: 'if'; cond: Expr; then: Stmt; else?: Stmt }
export interface WhileStmt extends Node { kind: 'while'; cond: Expr; body: Stmt }
export interface ForStmt extends Node { kind: 'for'; init?: Expr; cond: Expr; incr?: Expr; body: Stmt }
export interface ForeachStmt extends Node {
  kind: 'foreach';
  value?: Sym;
  keys: Sym[];
  array: Sym | HistOp;
  /** `A[*, "k"]` slice of the iterated array (null = wildcard). */
  slice?: (Expr | null)[];
  /** 0 = by value, N = by key N (1-based); undefined = unsorted. */
  sortColumn?: number;
  sortDirection?: 1 | -1;
  sortAggregate?: StatKind;
  limit?: Expr;
  body: Stmt;
}
export interface ReturnStmt extends Node { kind: 'return'; value?: Expr }
export interface NextStmt extends Node { kind: 'next' }
export interface BreakStmt extends Node { kind: 'break' }
export interface ContinueStmt extends Node { kind: 'continue' }
export interface DeleteStmt extends Node { kind: 'delete'; target: Expr }
export interface TryStmt extends Node { kind: 'try'; body: Block; catchVar?: Sym; handler: Block }
export interface NullStmt extends Node { kind: 'null' }
export interface EmbeddedStmt extends Node { kind: 'embedded'; code: string }

export interface PPComponent { name: string; arg?: NumberLit | StringLit; tok: Token }
export interface ProbePoint {
  components: PPComponent[];
  optional: boolean;
  sufficient: boolean;
  condition?: Expr;
  tok: Token;
}

export type ValueType = 'long' | 'string';

export interface GlobalDecl extends Node {
  kind: 'global'; name: string; init?: NumberLit | StringLit; maxSize?: number; wrap: boolean; private: boolean;
}
export interface Param { name: string; type?: ValueType; tok: Token }
export interface FunctionDecl extends Node {
  kind: 'function'; name: string; params: Param[]; returnType?: ValueType; priority?: bigint;
  body: Block | EmbeddedStmt; private: boolean;
}
export interface ProbeDecl extends Node { kind: 'probe'; points: ProbePoint[]; body: Block; private: boolean }
export interface AliasDecl extends Node {
  kind: 'alias'; names: ProbePoint[]; points: ProbePoint[]; epilogue: boolean; body: Block; epilogueBody?: Block;
}
export interface EmbeddedDecl extends Node { kind: 'embedded'; code: string }

export type Decl = GlobalDecl | FunctionDecl | ProbeDecl | AliasDecl | EmbeddedDecl;

export interface StapFile {
  file: SourceFile;
  /** Declarations in source order. */
  decls: Decl[];
  /** True for library (tapset) files. */
  library: boolean;
}
