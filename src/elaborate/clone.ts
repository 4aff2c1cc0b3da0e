/**
 * Deep copy of AST subtrees. Each derived probe gets its own copy of the bodies it runs, because
 * elaboration annotates nodes (bindings, types) per probe. Tokens are shared, not copied.
 */
const SHARED_KEYS = new Set(['tok', 'formatTok']);

export function cloneNode<T>(node: T): T {
  if (Array.isArray(node)) return node.map(cloneNode) as T;
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (SHARED_KEYS.has(k)) { out[k] = v; continue; }
    out[k] = cloneNode(v);
  }
  return out as T;
}
