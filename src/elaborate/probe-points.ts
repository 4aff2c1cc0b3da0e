/**
 * Probe point derivation: user probe points are matched against probe aliases (library and
 * script), expanded through alias chains with their prologues and epilogues, suffixes carried
 * onto alias targets, `?`/`!`/`if` honoured, and finally handed to the built-in families.
 */
import type * as A from '../parser/ast.js';
import { SemanticError } from '../diagnostics/diagnostics.js';
import { globMatch, hasGlob } from '../glob.js';
import { ppString, type Concrete, type Providers } from './providers.js';
import { printProbePoint } from '../parser/print.js';
import { suggest } from './suggest.js';

export interface AliasEntry { decl: A.AliasDecl; name: A.ProbePoint; file: A.StapFile }

/** A probe point fully derived: the concrete point plus the alias bodies wrapped around the user's body. */
export interface Derivation {
  concrete: Concrete;
  prologues: A.Block[];
  epilogues: A.Block[];
  chain: string[];
  conditions: A.Expr[];
  /** Files whose aliases were used, to be pulled into the program. */
  files: Set<A.StapFile>;
}

const MAX_ALIAS_DEPTH = 40;

function argEqual(a: A.PPComponent['arg'], b: A.PPComponent['arg']): boolean {
  if (!a || !b) return !a && !b;
  return a.kind === b.kind && a.value === b.value;
}

/** Does the user's component list (with `*`, `**`) match an alias name exactly? */
function matchComponents(user: A.PPComponent[], name: A.PPComponent[]): boolean {
  if (user.length === 0) return name.length === 0;
  const [u, ...urest] = user;
  if (u!.name === '**') {
    for (let k = 0; k <= name.length; k++) if (matchComponents(urest, name.slice(k))) return true;
    return false;
  }
  if (name.length === 0) return false;
  const [n, ...nrest] = name;
  if (!globMatch(u!.name.replace(/\*\*/g, '*'), n!.name)) return false;
  if (u!.arg || n!.arg) {
    if (!u!.arg || !n!.arg) return false;
    if (u!.arg.kind === 'str' && n!.arg.kind === 'str' ? !globMatch(u!.arg.value, n!.arg.value) : !argEqual(u!.arg, n!.arg)) return false;
  }
  return matchComponents(urest, nrest);
}

export class AliasIndex {
  private byHead = new Map<string, AliasEntry[]>();
  private all: AliasEntry[] = [];
  /** Brings in the (library) aliases that may start with a head, before a match is tried. */
  source?: (head: string) => void;
  private asked = new Set<string>();

  add(file: A.StapFile, decl: A.AliasDecl): void {
    for (const name of decl.names) {
      const e = { decl, name, file };
      this.all.push(e);
      const head = name.components[0]!.name;
      let list = this.byHead.get(head);
      if (!list) this.byHead.set(head, (list = []));
      list.push(e);
    }
  }

  /** Aliases matching a prefix of `comps`, each with the suffix left over. */
  match(comps: A.PPComponent[]): { entry: AliasEntry; suffix: A.PPComponent[] }[] {
    const head = comps[0]!.name;
    if (this.source && !this.asked.has(head)) { this.asked.add(head); this.source(head); }
    const candidates = hasGlob(head) ? this.all : this.byHead.get(head) ?? [];
    const out: { entry: AliasEntry; suffix: A.PPComponent[] }[] = [];
    const exact = (x: { suffix: A.PPComponent[] }) => x.suffix.length === 0;
    for (const entry of candidates) {
      const len = entry.name.components.length;
      if (comps.some(c => c.name === '**')) {
        if (matchComponents(comps, entry.name.components)) out.push({ entry, suffix: [] });
        continue;
      }
      for (let k = Math.min(len, comps.length); k === len && k <= comps.length; k++) {
        if (matchComponents(comps.slice(0, k), entry.name.components)) out.push({ entry, suffix: comps.slice(k) });
      }
    }
    // An alias that names the whole point wins over a shorter one plus a suffix
    // (`syscall.openat.return` is its own alias, not `syscall.openat` + `.return`).
    return out.some(exact) ? out.filter(exact) : out;
  }

  names(): string[] {
    return this.all.map(e => printProbePoint(e.name, false));
  }
}

export class Deriver {
  /** Why the first optional point that could not be served was dropped, for a later "no match". */
  private dropped?: SemanticError;

  constructor(private readonly aliases: AliasIndex, private readonly providers: Providers) {}

  /** All derivations of one probe point; an error when none exists and the point is not optional. */
  derive(pp: A.ProbePoint, depth = 0): Derivation[] {
    if (depth > MAX_ALIAS_DEPTH) throw new SemanticError('recursive loop in alias expansion', pp.tok);
    const results: Derivation[] = [];
    const conditions = pp.condition ? [pp.condition] : [];
    const matches = this.aliases.match(pp.components);
    for (const { entry, suffix } of matches) {
      const alias = entry.decl;
      for (const target of alias.points) {
        const extended: A.ProbePoint = { ...target, components: [...target.components, ...suffix] };
        let derived: Derivation[];
        try {
          derived = this.derive(extended, depth + 1);
        } catch (e) {
          if (e instanceof SemanticError && extended.optional) { derived = []; this.dropped ??= e; }
          else throw e;
        }
        for (const d of derived) {
          if (alias.epilogue) d.epilogues.push(alias.body);
          else {
            d.prologues.push(alias.body);
            if (alias.epilogueBody) d.epilogues.push(alias.epilogueBody);
          }
          d.chain.push(printProbePoint(entry.name, false));
          d.conditions.push(...conditions);
          d.files.add(entry.file);
          results.push(d);
        }
        if (derived.length && target.sufficient) break;
      }
    }
    if (matches.length === 0) {
      let concrete: Concrete[] | undefined;
      try {
        concrete = this.providers.resolve(pp.components);
      } catch (e) {
        // An optional point that the kernel cannot serve is dropped (stap -v says so); remember why.
        if (e instanceof SemanticError && pp.optional) { this.dropped ??= e; return []; }
        throw e;
      }
      if (concrete) {
        for (const c of concrete) {
          results.push({ concrete: c, prologues: [], epilogues: [], chain: [], conditions: [...(c.conditions ?? []), ...conditions], files: new Set() });
        }
      }
      if (!concrete && !pp.optional) {
        const similar = suggest(pp.components.map(c => c.name).join('.'), this.aliases.names());
        throw new SemanticError(`probe point mismatch: no alias or built-in probe matches '${ppString(pp.components)}'${similar}`, pp.tok);
      }
    }
    if (results.length === 0 && !pp.optional) {
      // Every alternative was optional and dropped: say why the first one was (e.g. no kprobe events).
      const why = this.dropped ? ` (its optional alternatives were dropped: ${this.dropped.message})` : '';
      throw new SemanticError(`no match for probe point '${ppString(pp.components)}'${why}`, pp.tok);
    }
    return results;
  }
}

