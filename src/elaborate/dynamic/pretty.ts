/**
 * The layout of stap's pretty-printed target values, `$var$` (one level) and `$var$$` (every
 * level): a printf format such as `{.x=%i, .name="%s", .next=%p, .in={...}}` and, for each
 * conversion, the member path whose value it prints. Fetching those values is the caller's job.
 *
 * It follows what stap prints: signed integers and enums `%i`, unsigned `%u`, chars `'%#c'`, char
 * arrays and char pointers as quoted strings, other pointers `%p` (chased only at the top), nested
 * structs `{...}` and arrays `[...]` unless printing every level, an array as its first element
 * and `...`, anonymous members labelled `<union>` (and stap's `<class>` for structs), floats `?`,
 * and at most 32 values, the rest elided as `...`.
 */
import type * as A from '../../parser/ast.js';
import { resolveType, type CType } from '../../symbols/types.js';

/** stap's cap on the values of one pretty-printed string. */
const MAX_VALUES = 32;

export type PrettyMode = 'value' | 'string';

/**
 * Fetches the value at `path` (relative to the pretty-printed variable) as a number or a string
 * and returns true, or returns false when it cannot be fetched, which prints as `?`.
 */
export type PrettyLeaf = (path: string, mode: PrettyMode) => boolean;

/** The format for a value of `type`; `leaf` is called for each conversion, in format order. */
export function prettyFormat(type: CType, full: boolean, leaf: PrettyLeaf): string {
  let values = 0;
  const take = (path: string, mode: PrettyMode, conversion: string): string => {
    if (!leaf(path, mode)) return '?';
    values++;
    return conversion;
  };

  const walk = (start: CType, path: string, top: boolean): string => {
    const t = resolveType(start);
    switch (t.kind) {
      case 'int':
        return t.char ? take(path, 'value', "'%#c'") : take(path, 'value', t.signed ? '%i' : '%u');
      case 'enum':
        return take(path, 'value', '%i');
      case 'array': {
        if (!top && !full) return '[...]';
        if (isChar(t.element)) return take(path, 'string', '"%s"');
        return `[${walk(t.element, `${path}[0]`, false)}, ...]`;
      }
      case 'pointer': {
        const pointee = resolveType(t.target);
        if (isChar(pointee)) return take(path, 'string', '"%s"');
        if (pointee.kind === 'function') return `<function>:${take(path, 'value', '%p')}`;
        if (top && pointee.kind !== 'void') {
          // Members are reached through the pointer by the member steps themselves; anything else is `[0]`.
          return walk(pointee, pointee.kind === 'struct' || pointee.kind === 'union' ? path : `${path}[0]`, true);
        }
        return take(path, 'value', '%p');
      }
      case 'struct':
      case 'union': {
        if (!t.complete || (!top && !full)) return '{...}';
        const parts: string[] = [];
        for (const m of t.members) {
          if (values >= MAX_VALUES) {
            parts.push('...');
            break;
          }
          const kind = resolveType(m.type).kind;
          // An anonymous member's own members are reachable by name from here, so its path stays.
          const label = m.name ? `.${m.name}` : kind === 'union' ? '<union>' : '<class>';
          const memberPath = m.name ? `${path}->${m.name}` : path;
          const value = m.bitSize !== 0 ? bitfield(m.type, memberPath) : walk(m.type, memberPath, false);
          parts.push(`${label}=${value}`);
        }
        return `{${parts.join(', ')}}`;
      }
      default:
        return '?';
    }
  };

  // Bitfields print as numbers, even when declared char.
  const bitfield = (type: CType, path: string): string => {
    const t = resolveType(type);
    if (t.kind === 'enum') return take(path, 'value', '%i');
    if (t.kind === 'int') return take(path, 'value', t.signed ? '%i' : '%u');
    return '?';
  };

  return walk(type, '', true);
}

function isChar(type: CType): boolean {
  const t = resolveType(type);
  return t.kind === 'int' && t.char;
}

/** `$$vars`, `$$parms`: `name=0x%x` for numbers and `name="%s"` for strings, space-separated. */
export function prettyVars(fields: ReadonlyArray<{ name: string; index: number; type: 'long' | 'string' }>): Extract<A.ContextRef, { kind: 'pretty' }> {
  return {
    kind: 'pretty',
    format: fields.map((f) => `${f.name}=${f.type === 'string' ? '"%s"' : '0x%x'}`).join(' '),
    fields: fields.map(({ index, type }) => ({ index, type })),
  };
}
