/**
 * Recursive-descent parser for the stap language, over the preprocessed token stream.
 * Precedence follows stap's parse.cxx (assignment lowest, postfix highest). Errors are
 * ParseErrors in stap's words; the top level recovers at the next declaration keyword so
 * one run reports several errors.
 */
import type { SourceFile, Token } from '../lexer/lexer.js';
import { ParseError } from '../diagnostics/diagnostics.js';
import { checkPrintFormat } from './print-format.js';
import type * as A from './ast.js';

/** One expansion of a braced probe point, with the `?`/`!` written inside the braces. */
interface PointSequence { components: A.PPComponent[]; optional: boolean; sufficient: boolean }

/** Nesting deeper than this (parentheses, blocks) is refused rather than overflowing the stack. */
const MAX_NESTING = 400;

const ASSIGN_OPS = new Set(['=', '<<<', '+=', '-=', '*=', '/=', '%=', '<<=', '>>=', '&=', '^=', '|=', '.=']);
const COMPARE_OPS = new Set(['<', '>', '<=', '>=', '==', '!=']);
const STAT_OPS = new Set(['@count', '@sum', '@min', '@max', '@avg', '@variance']);
const TOP_LEVEL_START = new Set(['probe', 'global', 'function', 'private']);

/** Names parsed as print_format nodes, as stap's print_format::create accepts them. */
export function isPrintFunction(name: string): boolean {
  return name === 'print_char' || /^s?print(f|d?(ln)?)$/.test(name);
}

export interface ParseResult { file: A.StapFile; errors: ParseError[] }

export function parse(tokens: Token[], file: SourceFile, library: boolean): ParseResult {
  const p = new Parser(tokens, file);
  const decls = p.parseFile();
  return { file: { file, decls, library }, errors: p.errors };
}

class Parser {
  private pos = 0;
  private depth = 0;
  readonly errors: ParseError[] = [];

  constructor(private readonly toks: Token[], private readonly file: SourceFile) {}

  // ---- token helpers -------------------------------------------------------------------

  private peek(k = 0): Token | undefined { return this.toks[this.pos + k]; }
  private next(): Token {
    const t = this.toks[this.pos];
    if (!t) throw this.eof('unexpected end-of-file');
    this.pos++;
    return t;
  }
  private eof(msg: string): ParseError { return new ParseError(msg, undefined, this.file.name); }
  private fail(msg: string, tok = this.peek()): never {
    if (tok?.kind === 'junk') throw new ParseError(tok.junkReason ?? 'unexpected junk', tok);
    throw tok ? new ParseError(msg, tok) : this.eof(msg);
  }
  private isOp(text: string, k = 0): boolean {
    const t = this.toks[this.pos + k];
    return !!t && t.kind === 'operator' && t.text === text;
  }
  private isKw(text: string, k = 0): boolean {
    const t = this.toks[this.pos + k];
    return !!t && t.kind === 'keyword' && t.text === text;
  }
  private expectOp(text: string): Token {
    if (!this.isOp(text)) this.fail(`expected '${text}'`);
    return this.next();
  }
  private expectKw(text: string): Token {
    if (!this.isKw(text)) this.fail(`expected '${text}'`);
    return this.next();
  }
  private expectIdent(): Token {
    const t = this.peek();
    if (!t || t.kind !== 'identifier' || t.text[0] === '@' || t.text[0] === '$') this.fail('expected identifier');
    return this.next();
  }
  private nest<T>(f: () => T): T {
    if (++this.depth > MAX_NESTING) this.fail(`nesting too deep (more than ${MAX_NESTING} levels)`);
    try { return f(); } finally { this.depth--; }
  }
  private checkGuru(t: Token): void {
    if (!t.file.guru) throw new ParseError('embedded code in unprivileged script; need stap -g', t);
  }

  // ---- top level -----------------------------------------------------------------------

  parseFile(): A.Decl[] {
    const decls: A.Decl[] = [];
    while (this.pos < this.toks.length) {
      const start = this.pos;
      try {
        this.parseDeclaration(decls);
      } catch (e) {
        if (e instanceof RangeError) {
          this.errors.push(new ParseError('nesting too deep', this.toks[start]));
        } else if (e instanceof ParseError) {
          this.errors.push(e);
        } else throw e;
        this.depth = 0;
        this.recover(start);
      }
    }
    return decls;
  }

  /** Skip to the next token that can start a declaration. */
  private recover(start: number): void {
    if (this.pos <= start) this.pos = start + 1;
    while (this.pos < this.toks.length) {
      const t = this.toks[this.pos]!;
      if ((t.kind === 'keyword' && TOP_LEVEL_START.has(t.text)) || (t.kind === 'embedded-code' && this.pos > start)) return;
      this.pos++;
    }
  }

  private parseDeclaration(decls: A.Decl[]): void {
    const t = this.peek()!;
    if (t.kind === 'embedded-code') {
      this.next();
      this.checkGuru(t);
      decls.push({ kind: 'embedded', code: t.text, tok: t });
      return;
    }
    if (t.kind === 'keyword') {
      switch (t.text) {
        case 'probe': this.next(); decls.push(this.parseProbe(t)); return;
        case 'global': this.next(); this.parseGlobals(decls, false); return;
        case 'function': this.next(); decls.push(this.parseFunction(false)); return;
        case 'private': {
          this.next();
          if (this.isKw('function')) { this.next(); decls.push(this.parseFunction(true)); return; }
          if (this.isKw('global')) this.next();
          this.parseGlobals(decls, true);
          return;
        }
      }
    }
    this.fail('expected \'probe\', \'global\', \'private\', \'function\', or \'%{\'');
  }

  private parseGlobals(decls: A.Decl[], isPrivate: boolean): void {
    for (;;) {
      const name = this.expectIdent();
      const g: A.GlobalDecl = { kind: 'global', name: name.text, wrap: false, private: isPrivate, tok: name };
      if (this.isOp('%')) { this.next(); g.wrap = true; }
      if (this.isOp('[')) {
        this.next();
        const n = this.peek();
        if (!n || n.kind !== 'number') this.fail('expected number');
        this.next();
        const size = parseNumber(n);
        if (size <= 0n || size > 1_000_000_000n) throw new ParseError('array size out of range', n);
        g.maxSize = Number(size);
        this.expectOp(']');
      }
      if (this.isOp('%')) { this.next(); g.wrap = true; }
      if (this.isOp('=')) {
        this.next();
        g.init = this.parseLiteral();
      }
      decls.push(g);
      if (this.isOp(',')) { this.next(); continue; }
      if (this.isOp(';')) this.next();
      return;
    }
  }

  private parseType(): A.ValueType {
    const t = this.peek();
    if (this.isKw('long') || this.isKw('string')) { this.next(); return t!.text as A.ValueType; }
    return this.fail('expected \'string\' or \'long\'');
  }

  private parseFunction(isPrivate: boolean): A.FunctionDecl {
    const name = this.expectIdent();
    const f: A.FunctionDecl = { kind: 'function', name: name.text, params: [], private: isPrivate, tok: name, body: undefined! };
    if (this.isOp(':')) { this.next(); f.returnType = this.parseType(); }
    this.expectOp('(');
    if (!this.isOp(')')) {
      for (;;) {
        const p = this.expectIdent();
        const param: A.Param = { name: p.text, tok: p };
        if (this.isOp(':')) { this.next(); param.type = this.parseType(); }
        f.params.push(param);
        if (this.isOp(',')) { this.next(); continue; }
        break;
      }
    }
    this.expectOp(')');
    if (this.isOp(':')) {
      this.next();
      const n = this.peek();
      if (!n || n.kind !== 'number') this.fail('expected number');
      f.priority = parseNumber(this.next());
    }
    const b = this.peek();
    if (b?.kind === 'embedded-code') {
      this.next();
      this.checkGuru(b);
      f.body = { kind: 'embedded', code: b.text, tok: b };
    } else if (this.isOp('{')) {
      f.body = this.parseBlock();
    } else {
      this.fail('expected \'{\' or \'%{\'');
    }
    return f;
  }

  private parseProbe(kw: Token): A.ProbeDecl | A.AliasDecl {
    const points = this.parseProbePoints();
    if (this.isOp('=') || this.isOp('+=')) {
      const names = points;
      let epilogue = this.next().text === '+=';
      let targets = this.parseProbePoints();
      while (this.isOp('=') || this.isOp('+=')) {
        names.push(...targets);
        epilogue = this.next().text === '+=';
        targets = this.parseProbePoints();
      }
      for (const n of names) {
        if (n.optional || n.sufficient || n.condition) throw new ParseError('probe point alias name cannot be optional nor conditional', n.tok);
      }
      const body = this.parseBlock();
      const alias: A.AliasDecl = { kind: 'alias', names, points: targets, epilogue, body, tok: kw };
      if (this.isOp(',') && this.isOp('{', 1)) {
        this.next();
        alias.epilogueBody = this.parseBlock();
      }
      return alias;
    }
    return { kind: 'probe', points, body: this.parseBlock(), private: false, tok: kw };
  }

  // ---- probe points --------------------------------------------------------------------

  private parseProbePoints(): A.ProbePoint[] {
    const all: A.ProbePoint[] = [];
    for (;;) {
      const first = this.peek();
      const seqs = this.parsePointAlternatives();
      const [optional, sufficient] = this.pointSuffix();
      let condition: A.Expr | undefined;
      if (this.isKw('if')) {
        this.next();
        this.expectOp('(');
        condition = this.parseExpression();
        this.expectOp(')');
      }
      for (const seq of seqs) {
        all.push({
          components: seq.components, optional: optional || seq.optional, sufficient: sufficient || seq.sufficient,
          condition, tok: seq.components[0]?.tok ?? first!,
        });
      }
      if (this.isOp(',') && !this.isOp('{', 1)) { this.next(); continue; }
      return all;
    }
  }

  /** `?` (optional) or `!` (optional and sufficient) after a probe point or a braced alternative. */
  private pointSuffix(): [optional: boolean, sufficient: boolean] {
    if (!this.isOp('?') && !this.isOp('!')) return [false, false];
    return [true, this.next().text === '!'];
  }

  /**
   * A dotted sequence, where any element may be `{alt1,alt2}` (each alternative may end in `?` or
   * `!`, as in `kernel.{trace("a")!, trace("b")}`): returns the expanded product.
   */
  private parsePointAlternatives(): PointSequence[] {
    let product: PointSequence[] = [{ components: [], optional: false, sufficient: false }];
    for (;;) {
      let options: PointSequence[];
      if (this.isOp('{')) {
        this.next();
        options = [];
        for (;;) {
          const alternatives = this.parsePointAlternatives();
          const [optional, sufficient] = this.pointSuffix();
          for (const a of alternatives) options.push({ components: a.components, optional: a.optional || optional, sufficient: a.sufficient || sufficient });
          if (this.isOp(',')) { this.next(); continue; }
          break;
        }
        this.expectOp('}');
      } else {
        options = [{ components: [this.parseComponent()], optional: false, sufficient: false }];
      }
      const nextProduct: PointSequence[] = [];
      for (const prefix of product) {
        for (const o of options) {
          nextProduct.push({ components: [...prefix.components, ...o.components], optional: prefix.optional || o.optional, sufficient: prefix.sufficient || o.sufficient });
        }
      }
      product = nextProduct;
      if (product.length > 100_000) this.fail('probe point brace expansion too large');
      if (this.isOp('.')) { this.next(); continue; }
      return product;
    }
  }

  private parseComponent(): A.PPComponent {
    const first = this.peek();
    const isNamePart = (t: Token | undefined) =>
      !!t && (t.kind === 'identifier' || t.kind === 'keyword' || t.kind === 'number' || (t.kind === 'operator' && t.text === '*'));
    if (!isNamePart(first) || first!.kind === 'number') this.fail('expected identifier or \'*\'');
    let name = '';
    let prev: Token | undefined;
    // Glue adjacent tokens: `sys*open`, `**`, `__x64_sys_*`.
    while (isNamePart(this.peek()) && (!prev || (this.peek()!.offset === prev.end && this.peek()!.file === prev.file))) {
      prev = this.next();
      name += prev.text;
    }
    const c: A.PPComponent = { name, tok: first! };
    if (this.isOp('(')) {
      this.next();
      c.arg = this.parseLiteral();
      this.expectOp(')');
    }
    return c;
  }

  /** A number (optionally negative) or a string literal, adjacent strings glued. */
  private parseLiteral(): A.NumberLit | A.StringLit {
    const t = this.peek();
    if (t?.kind === 'string') return this.parseStringLiteral();
    if (t?.kind === 'operator' && t.text === '-' && this.peek(1)?.kind === 'number') {
      this.next();
      const n = this.next();
      return { kind: 'num', value: parseNumber(n, true), tok: t };
    }
    if (t?.kind === 'number') { this.next(); return { kind: 'num', value: parseNumber(t), tok: t }; }
    return this.fail('expected literal string or number');
  }

  private parseStringLiteral(): A.StringLit {
    const t = this.next();
    let value = t.text;
    while (this.peek()?.kind === 'string') value += this.next().text;
    return { kind: 'str', value, tok: t };
  }

  // ---- statements ----------------------------------------------------------------------

  private parseBlock(): A.Block {
    const open = this.expectOp('{');
    return this.nest(() => {
      const body: A.Stmt[] = [];
      while (!this.isOp('}')) {
        if (!this.peek()) throw this.eof('expected \'}\'');
        body.push(this.parseStatement());
      }
      this.next();
      return { kind: 'block', body, tok: open };
    });
  }

  private parseStatement(): A.Stmt {
    const t = this.peek();
    if (!t) throw this.eof('expected statement');
    if (t.kind === 'operator') {
      if (t.text === '{') return this.parseBlock();
      if (t.text === ';') { this.next(); return { kind: 'null', tok: t }; }
    }
    if (t.kind === 'embedded-code') {
      this.next();
      this.checkGuru(t);
      return { kind: 'embedded', code: t.text, tok: t };
    }
    if (t.kind === 'keyword') {
      switch (t.text) {
        case 'if': return this.parseIf();
        case 'while': {
          this.next(); this.expectOp('(');
          const cond = this.parseExpression();
          this.expectOp(')');
          return { kind: 'while', cond, body: this.nest(() => this.parseStatement()), tok: t };
        }
        case 'for': return this.parseFor();
        case 'foreach': return this.parseForeach();
        case 'return': {
          this.next();
          const s: A.ReturnStmt = { kind: 'return', tok: t };
          if (!this.isOp(';') && !this.isOp('}')) s.value = this.parseExpression();
          this.optionalSemicolon();
          return s;
        }
        case 'next': case 'break': case 'continue':
          this.next(); this.optionalSemicolon();
          return { kind: t.text, tok: t } as A.NextStmt | A.BreakStmt | A.ContinueStmt;
        case 'delete': {
          this.next();
          const target = this.parseUnary();
          this.optionalSemicolon();
          return { kind: 'delete', target, tok: t };
        }
        case 'try': return this.parseTry();
        case 'else': this.fail('expected statement');
      }
    }
    const expr = this.parseExpression();
    this.optionalSemicolon();
    return { kind: 'expr', expr, tok: expr.tok };
  }

  private optionalSemicolon(): void {
    if (this.isOp(';')) this.next();
  }

  private parseIf(): A.IfStmt {
    const t = this.next();
    this.expectOp('(');
    const cond = this.parseExpression();
    this.expectOp(')');
    const then = this.nest(() => this.parseStatement());
    const s: A.IfStmt = { kind: 'if', cond, then, tok: t };
    if (this.isKw('else')) { this.next(); s.else = this.nest(() => this.parseStatement()); }
    return s;
  }

  private parseFor(): A.ForStmt {
    const t = this.next();
    this.expectOp('(');
    const init = this.isOp(';') ? undefined : this.parseExpression();
    this.expectOp(';');
    const cond: A.Expr = this.isOp(';') ? { kind: 'num', value: 1n, tok: this.peek()! } : this.parseExpression();
    this.expectOp(';');
    const incr = this.isOp(')') ? undefined : this.parseExpression();
    this.expectOp(')');
    return { kind: 'for', init, cond, incr, body: this.nest(() => this.parseStatement()), tok: t };
  }

  private parseTry(): A.TryStmt {
    const t = this.next();
    const body = this.parseBlock();
    this.expectKw('catch');
    let catchVar: A.Sym | undefined;
    if (this.isOp('(')) {
      this.next();
      const v = this.expectIdent();
      catchVar = { kind: 'sym', name: v.text, tok: v };
      this.expectOp(')');
    }
    return { kind: 'try', body, catchVar, handler: this.parseBlock(), tok: t };
  }

  /** A sort marker `+`/`-` right after a foreach variable or array. */
  private sortMarker(): 1 | -1 | undefined {
    if (this.isOp('+')) { this.next(); return 1; }
    if (this.isOp('-')) { this.next(); return -1; }
    return undefined;
  }

  private parseForeach(): A.ForeachStmt {
    const t = this.next();
    this.expectOp('(');
    const s: Partial<A.ForeachStmt> & { kind: 'foreach'; tok: Token } = { kind: 'foreach', keys: [], tok: t };
    const setSort = (col: number, dir: 1 | -1 | undefined, at: Token) => {
      if (dir === undefined) return;
      if (s.sortDirection !== undefined) throw new ParseError('multiple sort directives', at);
      s.sortColumn = col; s.sortDirection = dir;
    };
    const sym = (): A.Sym => { const v = this.expectIdent(); return { kind: 'sym', name: v.text, tok: v }; };
    // Optional value binding: `v = k in A` or `v = [a, b] in A`.
    if (this.peek()?.kind === 'identifier' && (this.isOp('=', 1) || ((this.isOp('+', 1) || this.isOp('-', 1)) && this.isOp('=', 2)))) {
      s.value = sym();
      setSort(0, this.sortMarker(), s.value.tok);
      this.expectOp('=');
    }
    const keys: A.Sym[] = [];
    if (this.isOp('[')) {
      this.next();
      for (;;) {
        const k = sym();
        keys.push(k);
        setSort(keys.length, this.sortMarker(), k.tok);
        if (this.isOp(',')) { this.next(); continue; }
        break;
      }
      this.expectOp(']');
    } else {
      const k = sym();
      keys.push(k);
      setSort(1, this.sortMarker(), k.tok);
    }
    s.keys = keys;
    this.expectKw('in');
    const arrTok = this.peek();
    if (arrTok && (arrTok.text === '@hist_log' || arrTok.text === '@hist_linear')) {
      s.array = this.parseHist(this.next());
    } else {
      s.array = sym();
    }
    if (this.isOp('[')) {
      this.next();
      s.slice = this.parseIndexList();
      this.expectOp(']');
    }
    const agg = this.peek();
    if (agg && agg.kind !== 'string' && STAT_OPS.has(agg.text) && agg.text !== '@variance') {
      this.next();
      const dir = this.sortMarker();
      if (dir === undefined) this.fail('expected \'+\' or \'-\'');
      setSort(0, dir, agg);
      s.sortAggregate = agg.text.slice(1) as A.StatKind;
    } else {
      setSort(0, this.sortMarker(), arrTok!);
    }
    if (this.isKw('limit')) { this.next(); s.limit = this.parseExpression(); }
    this.expectOp(')');
    s.body = this.nest(() => this.parseStatement());
    return s as A.ForeachStmt;
  }

  // ---- expressions ---------------------------------------------------------------------

  parseExpression(): A.Expr {
    return this.nest(() => this.parseAssignment());
  }

  private parseAssignment(): A.Expr {
    const left = this.parseTernary();
    const t = this.peek();
    if (t?.kind === 'operator' && ASSIGN_OPS.has(t.text)) {
      this.next();
      const right = this.nest(() => this.parseAssignment());
      return { kind: 'assign', op: t.text, left, right, tok: t };
    }
    return left;
  }

  private parseTernary(): A.Expr {
    const cond = this.parseLogicalOr();
    if (!this.isOp('?')) return cond;
    const t = this.next();
    const then = this.parseExpression();
    this.expectOp(':');
    const els = this.nest(() => this.parseTernary());
    return { kind: 'ternary', cond, then, else: els, tok: t };
  }

  private parseLogicalOr(): A.Expr {
    let left = this.parseLogicalAnd();
    while (this.isOp('||')) { const t = this.next(); left = { kind: 'logical', op: '||', left, right: this.parseLogicalAnd(), tok: t }; }
    return left;
  }

  private parseLogicalAnd(): A.Expr {
    let left = this.parseBitOr();
    while (this.isOp('&&')) { const t = this.next(); left = { kind: 'logical', op: '&&', left, right: this.parseBitOr(), tok: t }; }
    return left;
  }

  private parseBitOr(): A.Expr {
    let left = this.parseBitXor();
    while (this.isOp('|')) { const t = this.next(); left = { kind: 'binary', op: '|', left, right: this.parseBitXor(), tok: t }; }
    return left;
  }

  private parseBitXor(): A.Expr {
    let left = this.parseBitAnd();
    while (this.isOp('^')) { const t = this.next(); left = { kind: 'binary', op: '^', left, right: this.parseBitAnd(), tok: t }; }
    return left;
  }

  private parseBitAnd(): A.Expr {
    let left = this.parseArrayIn();
    while (this.isOp('&')) { const t = this.next(); left = { kind: 'binary', op: '&', left, right: this.parseArrayIn(), tok: t }; }
    return left;
  }

  private parseIndexList(): (A.Expr | null)[] {
    const list: (A.Expr | null)[] = [];
    for (;;) {
      if (this.isOp('*') && (this.isOp(',', 1) || this.isOp(']', 1))) { this.next(); list.push(null); }
      else list.push(this.parseExpression());
      if (this.isOp(',')) { this.next(); continue; }
      return list;
    }
  }

  private parseArrayIn(): A.Expr {
    if (this.isOp('[')) {
      const open = this.next();
      const indexes = this.parseIndexList();
      this.expectOp(']');
      const inTok = this.peek();
      if (!this.isKw('in')) this.fail('expected \'in\'');
      this.next();
      const base = this.parseIndexable();
      return { kind: 'in', target: { kind: 'index', base, indexes, tok: open }, tok: inTok! };
    }
    const left = this.parseComparison();
    if (this.isKw('in')) {
      const t = this.next();
      const base = this.parseIndexable();
      return { kind: 'in', target: { kind: 'index', base, indexes: [left], tok: left.tok }, tok: t };
    }
    return left;
  }

  private parseIndexable(): A.Sym | A.HistOp {
    const t = this.peek();
    if (t && t.kind !== 'string' && (t.text === '@hist_log' || t.text === '@hist_linear')) return this.parseHist(this.next());
    const id = this.expectIdent();
    return { kind: 'sym', name: id.text, tok: id };
  }

  private parseComparison(): A.Expr {
    let left = this.parseShift();
    for (;;) {
      const t = this.peek();
      if (t?.kind !== 'operator') return left;
      if (COMPARE_OPS.has(t.text)) {
        this.next();
        left = { kind: 'compare', op: t.text, left, right: this.parseShift(), tok: t };
      } else if (t.text === '=~' || t.text === '!~') {
        this.next();
        if (this.peek()?.kind !== 'string') this.fail('expected literal string');
        left = { kind: 'regex', op: t.text, left, right: this.parseStringLiteral(), tok: t };
      } else return left;
    }
  }

  private parseShift(): A.Expr {
    let left = this.parseConcat();
    while (this.isOp('<<') || this.isOp('>>') || this.isOp('>>>')) {
      const t = this.next();
      left = { kind: 'binary', op: t.text, left, right: this.parseConcat(), tok: t };
    }
    return left;
  }

  private parseConcat(): A.Expr {
    let left = this.parseAdditive();
    while (this.isOp('.')) { const t = this.next(); left = { kind: 'concat', left, right: this.parseAdditive(), tok: t }; }
    return left;
  }

  private parseAdditive(): A.Expr {
    let left = this.parseMultiplicative();
    while (this.isOp('+') || this.isOp('-')) {
      const t = this.next();
      left = { kind: 'binary', op: t.text, left, right: this.parseMultiplicative(), tok: t };
    }
    return left;
  }

  private parseMultiplicative(): A.Expr {
    let left = this.parseUnary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const t = this.next();
      left = { kind: 'binary', op: t.text, left, right: this.parseUnary(), tok: t };
    }
    return left;
  }

  private parseUnary(): A.Expr {
    const t = this.peek();
    if (t?.kind === 'operator') {
      if (t.text === '-' || t.text === '+' || t.text === '!' || t.text === '~') {
        this.next();
        return { kind: 'unary', op: t.text, operand: this.nest(() => this.parseUnary()), tok: t };
      }
      if (t.text === '++' || t.text === '--') {
        this.next();
        return { kind: 'crement', op: t.text, post: false, operand: this.nest(() => this.parseUnary()), tok: t };
      }
    }
    const v = this.parseValue();
    const p = this.peek();
    if (p?.kind === 'operator' && (p.text === '++' || p.text === '--')) {
      this.next();
      return { kind: 'crement', op: p.text, post: true, operand: v, tok: p };
    }
    return v;
  }

  /** A primary value, then any `->member` / `[i]` steps of an autocast (`s->name`, `f()->x`). */
  private parseValue(): A.Expr {
    const parenthesized = this.isOp('(');
    const v = this.parsePrimary();
    if ((this.isOp('->') || (parenthesized && this.isOp('['))) && v.kind !== 'tvar' && v.kind !== 'atvar' && (v.kind !== 'cast' || parenthesized)) {
      return { kind: 'cast', name: '', operand: v, components: this.parseComponents(), addressOf: false, tok: v.tok };
    }
    return v;
  }

  private parsePrimary(): A.Expr {
    const t = this.peek();
    if (!t) throw this.eof('expected value');
    switch (t.kind) {
      case 'number': case 'string': return this.parseLiteral();
      case 'embedded-code':
        this.next();
        this.checkGuru(t);
        return { kind: 'embedded-expr', code: t.text, tok: t };
      case 'operator':
        if (t.text === '(') {
          this.next();
          const e = this.parseExpression();
          this.expectOp(')');
          return e;
        }
        if (t.text.length > 1 && t.text[0] === '@') break;
        if (t.text === '&') {
          this.next();
          const v = this.parseValue();
          if (!applyAddressOf(v)) this.fail('expected @cast, @var or $var', t);
          return v;
        }
        return this.fail('expected literal string or number');
      case 'identifier': break;
      default: return this.fail('expected literal string or number');
    }
    this.next();
    const name = t.text;
    if (name[0] === '$') {
      const [base, depth] = splitPretty(name);
      const components = depth ? [{ kind: 'pretty', depth, tok: t } as A.Component] : this.parseComponents();
      return { kind: 'tvar', name: base, components, addressOf: false, tok: t };
    }
    if (name[0] === '@') return this.parseAtOperator(t);
    if (this.isOp('(')) {
      this.next();
      if (isPrintFunction(name)) return this.parsePrint(t);
      const args: A.Expr[] = [];
      if (!this.isOp(')')) {
        for (;;) {
          args.push(this.parseExpression());
          if (this.isOp(',')) { this.next(); continue; }
          break;
        }
      }
      this.expectOp(')');
      return { kind: 'call', name, args, tok: t };
    }
    const sym: A.Sym = { kind: 'sym', name, tok: t };
    if (this.isOp('[')) {
      const open = this.next();
      const indexes = this.parseIndexList();
      this.expectOp(']');
      return { kind: 'index', base: sym, indexes, tok: open };
    }
    return sym;
  }

  /** `->name`, `[expr]`, and a final `$`/`$$` pretty-print marker. */
  private parseComponents(): A.Component[] {
    const comps: A.Component[] = [];
    for (;;) {
      if (this.isOp('->')) {
        const arrow = this.next();
        const m = this.peek();
        if (m && (m.kind === 'identifier' || m.kind === 'keyword') && m.text[0] !== '@') {
          this.next();
          if (m.text === '$' || m.text === '$$') { comps.push({ kind: 'pretty', depth: m.text.length as 1 | 2, tok: m }); return comps; }
          const [member, depth] = splitPretty(m.text);
          comps.push({ kind: 'member', name: member, tok: m });
          if (depth) { comps.push({ kind: 'pretty', depth, tok: m }); return comps; }
          continue;
        }
        this.fail('expected field name', m ?? arrow);
      }
      if (this.isOp('[')) {
        const open = this.next();
        const index = this.parseExpression();
        this.expectOp(']');
        comps.push({ kind: 'index', index, tok: open });
        continue;
      }
      const p = this.peek();
      // `$var$` / `$var$$` lex as one identifier only when glued; a separate `$`/`$$` token may follow.
      if (p?.kind === 'identifier' && (p.text === '$' || p.text === '$$') && this.toks[this.pos - 1]?.end === p.offset) {
        this.next();
        comps.push({ kind: 'pretty', depth: p.text.length as 1 | 2, tok: p });
        return comps;
      }
      return comps;
    }
  }

  private parseParenthesizedString(): A.StringLit {
    this.expectOp('(');
    if (this.peek()?.kind !== 'string') this.fail('expected literal string');
    const s = this.parseStringLiteral();
    this.expectOp(')');
    return s;
  }

  private parseAtOperator(t: Token): A.Expr {
    const name = t.text;
    if (STAT_OPS.has(name)) {
      this.expectOp('(');
      const operand = this.parseExpression();
      let shift: bigint | undefined;
      if (name === '@variance' && this.isOp(',')) {
        this.next();
        const n = this.peek();
        if (n?.kind !== 'number') this.fail('expected number');
        shift = parseNumber(this.next());
        if (shift < 0n || shift > 62n) throw new ParseError('the bit shift must be between 0 and 62', n);
      }
      this.expectOp(')');
      return { kind: 'stat', op: name.slice(1) as A.StatKind, operand, shift, tok: t };
    }
    switch (name) {
      case '@hist_log': case '@hist_linear': {
        const h = this.parseHist(t);
        if (this.isOp('[')) {
          const open = this.next();
          const indexes = this.parseIndexList();
          this.expectOp(']');
          return { kind: 'index', base: h, indexes, tok: open };
        }
        return h;
      }
      case '@cast': {
        this.expectOp('(');
        const operand = this.parseExpression();
        this.expectOp(',');
        if (this.peek()?.kind !== 'string') this.fail('expected literal string');
        const typeName = this.parseStringLiteral().value;
        let module: string | undefined;
        if (this.isOp(',')) {
          this.next();
          if (this.peek()?.kind !== 'string') this.fail('expected literal string');
          module = this.parseStringLiteral().value;
        }
        this.expectOp(')');
        return { kind: 'cast', name, operand, typeName, module, components: this.parseComponents(), addressOf: false, tok: t };
      }
      case '@var': {
        this.expectOp('(');
        if (this.peek()?.kind !== 'string') this.fail('expected literal string');
        const target = this.parseStringLiteral().value;
        let module: string | undefined;
        if (this.isOp(',')) {
          this.next();
          if (this.peek()?.kind !== 'string') this.fail('expected literal string');
          module = this.parseStringLiteral().value;
        }
        this.expectOp(')');
        return { kind: 'atvar', target, module, components: this.parseComponents(), addressOf: false, tok: t };
      }
      case '@defined': case '@entry': {
        this.expectOp('(');
        const operand = this.parseExpression();
        this.expectOp(')');
        return name === '@defined' ? { kind: 'defined', operand, tok: t } : { kind: 'entry', operand, tok: t };
      }
      case '@perf': return { kind: 'perf', operand: this.parseParenthesizedString(), tok: t };
      case '@const': return { kind: 'const', name: this.parseParenthesizedString().value, tok: t };
      case '@probewrite': {
        this.expectOp('(');
        const v = this.expectIdent();
        this.expectOp(')');
        return { kind: 'probewrite', name: v.text, tok: t };
      }
      case '@kregister': case '@uregister': {
        this.expectOp('(');
        const operand = this.parseExpression();
        this.expectOp(')');
        return { kind: 'register', user: name === '@uregister', operand, tok: t };
      }
      case '@kderef': case '@uderef': {
        this.expectOp('(');
        const size = this.parseExpression();
        this.expectOp(',');
        const addr = this.parseExpression();
        this.expectOp(')');
        return { kind: 'deref', user: name === '@uderef', size, addr, tok: t };
      }
    }
    throw new ParseError(`unknown operator or macro '${name}'`, t);
  }

  private parseHist(t: Token): A.HistOp {
    this.expectOp('(');
    const operand = this.parseExpression();
    const params: bigint[] = [];
    if (t.text === '@hist_linear') {
      for (let i = 0; i < 3; i++) {
        this.expectOp(',');
        const lit = this.parseLiteral();
        if (lit.kind !== 'num') throw new ParseError('expected number', lit.tok);
        params.push(lit.value);
      }
    }
    this.expectOp(')');
    return { kind: 'hist', htype: t.text === '@hist_log' ? 'log' : 'linear', operand, params, tok: t };
  }

  private parsePrint(t: Token): A.Print {
    const p: A.Print = { kind: 'print', fn: t.text, args: [], tok: t };
    const base = t.text.replace(/^s/, '');
    if (base === 'printf') {
      if (this.peek()?.kind !== 'string') this.fail('expected literal string');
      const f = this.parseStringLiteral();
      p.format = f.value;
      p.formatTok = f.tok;
      if (this.isOp(',')) this.next();
    } else if (base === 'printd' || base === 'printdln') {
      if (this.peek()?.kind !== 'string') this.fail('expected literal string');
      p.delimiter = this.parseStringLiteral().value;
      if (this.isOp(',')) this.next();
      else this.fail('expected \',\'');
    }
    if (!this.isOp(')')) {
      for (;;) {
        const a = this.parseExpression();
        if (a.kind === 'hist' && p.args.length === 0 && !p.format && !p.delimiter && this.isOp(')')) p.hist = a;
        else p.args.push(a);
        if (this.isOp(',')) { this.next(); continue; }
        break;
      }
    }
    this.expectOp(')');
    checkPrintFormat(p);
    return p;
  }
}

/** `&e`: marks a context variable or cast; over a ternary it applies to both branches. */
function applyAddressOf(e: A.Expr): boolean {
  if (e.kind === 'tvar' || e.kind === 'atvar' || e.kind === 'cast') { e.addressOf = true; return true; }
  if (e.kind === 'ternary') return applyAddressOf(e.then) && applyAddressOf(e.else);
  return false;
}

/** `$var$$` lexes as one identifier: split off the pretty-print suffix. */
function splitPretty(text: string): [string, 0 | 1 | 2] {
  const m = /^(\$*[^$]+)(\$\$?)$/.exec(text);
  if (!m) return [text, 0];
  return [m[1]!, m[2]!.length as 1 | 2];
}

/** A number token's value as a 64-bit integer: up to 2^64-1 (wrapping, as stap's strtoull cast does), or 2^63 negated. */
export function parseNumber(t: Token, negate = false): bigint {
  const text = t.text;
  let v: bigint;
  try {
    if (/^0[xX]/.test(text)) v = BigInt(text);
    else if (/^0[0-7]+$/.test(text)) v = BigInt('0o' + text.slice(1));
    else if (/^[0-9]+$/.test(text)) v = BigInt(text);
    else throw new Error();
  } catch {
    throw new ParseError('number invalid or out of range', t);
  }
  if (v > (negate ? 1n << 63n : 0xffffffffffffffffn)) throw new ParseError('number invalid or out of range', t);
  if (negate) v = -v;
  return BigInt.asIntN(64, v);
}
