// Seq ranges a `content_only` page covered (api-v1.1 A: `covered_from_seq`/`covered_to_seq`). Such
// a page brings only the `text` entries of its range, each in its current state, so the entries
// it leaves out (edits, deletions, reactions, system lines) are already in those states: for what
// is shown, the range is complete. It is not part of the catch-up (`after_seq` still fetches every
// entry, and the contiguous mark never moves through it).

export type Covered = readonly (readonly [number, number])[];

/** The ranges with [from, to] added, merged and sorted (adjacent ranges join). */
export function addCovered(covered: Covered | undefined, from: number, to: number): Covered {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to < from) return covered ?? [];
  const all = [...(covered ?? []), [from, to] as const].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [a, b] of all) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** Is every seq of [from, to] inside one covered range? (An empty range is.) */
export function isCovered(covered: Covered | undefined, from: number, to: number): boolean {
  if (to < from) return true;
  return (covered ?? []).some(([a, b]) => a <= from && to <= b);
}
