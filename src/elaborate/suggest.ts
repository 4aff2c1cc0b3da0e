/** `(similar: a, b, c)` suggestions by edit distance, as stap adds them to unresolved names. */
export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return dp[b.length]!;
}

export function suggest(name: string, candidates: Iterable<string>, max = 5): string {
  const limit = Math.max(2, Math.floor(name.length / 3));
  const scored: [number, string][] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c)) continue;
    seen.add(c);
    if (Math.abs(c.length - name.length) > limit) continue;
    const d = editDistance(name, c);
    if (d <= limit) scored.push([d, c]);
  }
  scored.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : 1));
  return scored.length ? ` (similar: ${scored.slice(0, max).map(s => s[1]).join(', ')})` : '';
}
