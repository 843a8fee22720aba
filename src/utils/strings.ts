/** Levenshtein edit distance (insert, delete, substitute each cost 1). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The candidates closest to `word` (case-insensitive edit distance), best first: those within a third of
 * the word's length, or sharing a prefix with it, at most `limit` of them. Used for "did you mean" hints.
 */
function closestMatches(word: string, candidates: Iterable<string>, limit = 3): string[] {
  const lower = word.toLowerCase();
  const maxDistance = Math.max(2, Math.ceil(word.length / 3));
  return [...candidates]
    .map((candidate) => ({ candidate, distance: editDistance(lower, candidate.toLowerCase()) }))
    .filter(
      ({ candidate, distance }) =>
        distance <= maxDistance ||
        candidate.toLowerCase().startsWith(lower.slice(0, Math.max(3, lower.length - 2))),
    )
    .sort((x, y) => x.distance - y.distance)
    .slice(0, limit)
    .map(({ candidate }) => candidate);
}

/** ` (did you mean "a" or "b"?)`, or "" when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const close = closestMatches(word, candidates);
  if (close.length === 0) return "";
  return ` (did you mean ${close.map((c) => `"${c}"`).join(" or ")}?)`;
}
