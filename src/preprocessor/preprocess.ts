/**
 * The token-level preprocessor: `@define` macros, `%( COND %? ... %: ... %)` conditionals and
 * command-line arguments (`$1`, `@1`, `$#`, `@#`). Runs between the lexer and the parser, so the
 * parser never sees a macro or a conditional.
 */
import { lex, type Token } from '../lexer/lexer.js';
import { ParseError } from '../diagnostics/diagnostics.js';
import { evaluateCondition, type PreprocessorContext } from './conditions.js';

export interface Macro {
  name: string;
  params: string[];
  body: Token[];
  defined: Token;
}

export type MacroTable = Map<string, Macro>;

/** Macro expansions nested deeper than this are taken to be a macro that expands itself. */
const MAX_EXPANSION_DEPTH = 200;
/** Upper bound on the tokens one file may expand into, against exponential macros. */
const MAX_OUTPUT_TOKENS = 5_000_000;

const isOp = (t: Token | undefined, text: string): boolean => !!t && t.kind === 'operator' && t.text === text;

interface Frame { tokens: Token[]; pos: number; depth: number }

export class Preprocessor {
  private frames: Frame[] = [];
  private out: Token[] = [];
  readonly localMacros: MacroTable = new Map();

  constructor(private readonly ctx: PreprocessorContext, private readonly globalMacros: MacroTable) {}

  /** Expand a whole file. `collectInto`, when given, receives the file's macros (for .stpm files). */
  run(tokens: Token[]): Token[] {
    this.frames = [{ tokens, pos: 0, depth: 0 }];
    this.out = [];
    for (;;) {
      const t = this.nextExpanded();
      if (!t) break;
      if (isOp(t, '%(')) this.conditional(t);
      else if (isOp(t, '%?') || isOp(t, '%:') || isOp(t, '%)')) throw new ParseError('incomplete conditional - missing \'%(\'', t);
      else {
        this.out.push(t);
        if (this.out.length > MAX_OUTPUT_TOKENS) throw new ParseError('macro expansion produces too many tokens', t);
      }
    }
    return this.out;
  }

  private raw(): { tok: Token; depth: number } | undefined {
    while (this.frames.length) {
      const f = this.frames[this.frames.length - 1]!;
      if (f.pos < f.tokens.length) return { tok: f.tokens[f.pos++]!, depth: f.depth };
      this.frames.pop();
    }
    return undefined;
  }

  private peekRaw(): Token | undefined {
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const f = this.frames[i]!;
      if (f.pos < f.tokens.length) return f.tokens[f.pos];
    }
    return undefined;
  }

  private push(tokens: Token[], depth: number): void {
    if (tokens.length) this.frames.push({ tokens, pos: 0, depth });
  }

  /** The next token after macro definitions, macro calls and arguments are dealt with. */
  private nextExpanded(): Token | undefined {
    for (;;) {
      const r = this.raw();
      if (!r) return undefined;
      const t = r.tok;
      if (t.kind !== 'identifier' || (t.text[0] !== '@' && t.text[0] !== '$')) return t;
      if (t.text === '@define') { this.define(t); continue; }
      if (/^[$@]#$/.test(t.text)) {
        const n = String(this.ctx.args.length);
        return t.text[0] === '$' ? { ...t, kind: 'number', text: n } : { ...t, kind: 'string', text: n };
      }
      const arg = /^([$@])([0-9]+)$/.exec(t.text);
      if (arg) {
        const idx = Number(arg[2]);
        if (idx < 1 || idx > this.ctx.args.length) {
          throw new ParseError(`command line argument index ${idx} out of range [1-${this.ctx.args.length}]`, t);
        }
        const value = this.ctx.args[idx - 1]!;
        if (arg[1] === '@') return { ...t, kind: 'string', text: value };
        const toks = lex({ name: t.file.name, text: value, guru: t.file.guru }).map(x => ({ ...x, file: t.file, line: t.line, col: t.col, offset: t.offset, end: t.end }));
        this.push(toks, r.depth);
        continue;
      }
      if (t.text[0] === '@') {
        const name = t.text.slice(1);
        const macro = this.localMacros.get(name) ?? this.globalMacros.get(name);
        if (macro) { this.expand(macro, t, r.depth); continue; }
      }
      return t;
    }
  }

  private define(at: Token): void {
    const nameTok = this.raw()?.tok;
    if (!nameTok || (nameTok.kind !== 'identifier' && nameTok.kind !== 'keyword') || /^[$@]/.test(nameTok.text)) {
      throw new ParseError('expected identifier', nameTok ?? at);
    }
    const params: string[] = [];
    let t = this.raw()?.tok;
    if (isOp(t, '(')) {
      for (;;) {
        const p = this.raw()?.tok;
        if (isOp(p, ')') && params.length === 0) break;
        if (!p || p.kind !== 'identifier') throw new ParseError('expected identifier', p ?? nameTok);
        params.push(p.text);
        const sep = this.raw()?.tok;
        if (isOp(sep, ')')) break;
        if (!isOp(sep, ',')) throw new ParseError('expected \',\' or \')\'', sep ?? p);
      }
      t = this.raw()?.tok;
    }
    if (!isOp(t, '%(')) throw new ParseError('expected \'%(\'', t ?? nameTok);
    const body: Token[] = [];
    let nest = 1;
    for (;;) {
      const b = this.raw()?.tok;
      if (!b) throw new ParseError('unterminated macro definition', at);
      if (isOp(b, '%(')) nest++;
      else if (isOp(b, '%)') && --nest === 0) break;
      body.push(b);
    }
    if (this.localMacros.has(nameTok.text)) {
      throw new ParseError(`attempt to redefine macro '@${nameTok.text}' in the same file`, nameTok);
    }
    this.localMacros.set(nameTok.text, { name: nameTok.text, params, body, defined: nameTok });
  }

  private expand(macro: Macro, call: Token, depth: number): void {
    if (depth >= MAX_EXPANSION_DEPTH) {
      throw new ParseError(`macro @${macro.name} expands too deeply (does it expand itself?)`, call);
    }
    const args = new Map<string, Token[]>();
    if (macro.params.length > 0 || isOp(this.peekRaw(), '(')) {
      const open = this.raw()?.tok;
      if (!isOp(open, '(')) throw new ParseError(`expected '(' after macro @${macro.name} with ${macro.params.length} parameters`, open ?? call);
      const actuals: Token[][] = [[]];
      let nest = 0;
      for (;;) {
        const r = this.raw();
        if (!r) throw new ParseError(`unterminated macro invocation of @${macro.name}`, call);
        const a = r.tok;
        if (a.kind === 'operator') {
          if (a.text === '(' || a.text === '[' || a.text === '{') nest++;
          else if ((a.text === ')' || a.text === ']' || a.text === '}') && nest > 0) nest--;
          else if (a.text === ')') break;
          else if (a.text === ',' && nest === 0) { actuals.push([]); continue; }
        }
        actuals[actuals.length - 1]!.push(a);
      }
      const given = actuals.length === 1 && actuals[0]!.length === 0 ? 0 : actuals.length;
      if (given !== macro.params.length) {
        throw new ParseError(`invalid macro invocation: @${macro.name} takes ${macro.params.length} parameters, given ${given}`, call);
      }
      macro.params.forEach((p, i) => args.set(p, actuals[i]!));
    }
    const result: Token[] = [];
    for (const b of macro.body) {
      // A parameter may share its name with an @-operator (`@define q(var) %( @cast(@var, "t") %)`): the parameter wins.
      const sub = b.kind !== 'string' && b.text[0] === '@' ? args.get(b.text.slice(1)) : undefined;
      if (sub) result.push(...sub);
      else result.push({ ...b, expandedFrom: call });
    }
    this.push(result, depth + 1);
  }

  /** `%( COND %? A %: B %)`: the condition is macro-expanded, then one branch is kept. */
  private conditional(start: Token): void {
    const cond: Token[] = [];
    for (;;) {
      const t = this.nextExpanded();
      if (!t) throw new ParseError('incomplete conditional at end of file', start);
      if (isOp(t, '%?')) break;
      if (isOp(t, '%(') || isOp(t, '%:') || isOp(t, '%)')) throw new ParseError('expected \'%?\' marker for conditional', t);
      cond.push(t);
    }
    const take = evaluateCondition(cond, this.ctx, start);
    const thenPart: Token[] = [];
    const elsePart: Token[] = [];
    let target = thenPart;
    let nest = 0;
    for (;;) {
      const r = this.raw();
      if (!r) throw new ParseError('incomplete conditional at end of file', start);
      const t = r.tok;
      if (isOp(t, '%(')) nest++;
      else if (isOp(t, '%)')) { if (nest === 0) break; nest--; }
      else if (isOp(t, '%:') && nest === 0) {
        if (target === elsePart) throw new ParseError('too many \'%:\' in conditional', t);
        target = elsePart;
        continue;
      }
      target.push(t);
    }
    this.push(take ? thenPart : elsePart, this.frames.length ? this.frames[this.frames.length - 1]!.depth : 0);
  }
}
