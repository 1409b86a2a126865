// The one comparison helper of the test suite: a GPU result against its CPU reference, exact for
// integer and binary outputs, within a stated per-element bound for floats. A failure lists the
// first mismatches (index, got, expected), not just "arrays differ".
import { assert } from 'vitest';

export interface CheckOptions {
  /** Print values as hex u32 words (packed b1 data). */
  hex?: boolean;
  /** Row length, to print indices as [row, col] as well as flat. */
  cols?: number;
  /** How many mismatches to list. */
  show?: number;
}

/** got[i] === want[i] for every i (NaN matches NaN), and equal lengths. */
export function expectExact(got: ArrayLike<number>, want: ArrayLike<number>, what: string, options: CheckOptions = {}): void {
  compare(got, want, what, options, (g, w) => g === w || (Number.isNaN(g) && Number.isNaN(w)), null);
}

/**
 * |got[i] - want[i]| <= tol (or tol[i]) for every i, and equal lengths. A NaN or an infinity in
 * `got` never passes unless `want` holds the same infinity: poisoned (NaN) outputs are caught.
 */
export function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number | ArrayLike<number>,
  what: string,
  options: CheckOptions = {},
): void {
  const bound = (i: number) => (typeof tol === 'number' ? tol : tol[i]);
  compare(got, want, what, options, (g, w, i) => g === w || Math.abs(g - w) <= bound(i), bound);
}

function compare(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  what: string,
  options: CheckOptions,
  same: (g: number, w: number, i: number) => boolean,
  bound: ((i: number) => number) | null,
): void {
  if (got.length !== want.length) assert.fail(`${what}: got ${got.length} values, expected ${want.length}`);
  const show = options.show ?? 10;
  const bad: number[] = [];
  let count = 0;
  for (let i = 0; i < want.length; i++) {
    if (!same(got[i], want[i], i)) {
      count++;
      if (bad.length < show) bad.push(i);
    }
  }
  if (count === 0) return;
  const fmt = (x: number) => (options.hex ? `0x${(x >>> 0).toString(16).padStart(8, '0')}` : String(x));
  const lines = bad.map((i) => {
    const at = options.cols ? `[${Math.floor(i / options.cols)}, ${i % options.cols}] ` : '';
    const err = bound ? ` |err| ${Math.abs(got[i] - want[i]).toExponential(3)} > tol ${bound(i).toExponential(3)}` : '';
    const xor = options.hex ? ` xor ${fmt(got[i] ^ want[i])}` : '';
    return `  #${i} ${at}got ${fmt(got[i])}, expected ${fmt(want[i])}${err}${xor}`;
  });
  assert.fail(`${what}: ${count} of ${want.length} values differ; the first ${bad.length}:\n${lines.join('\n')}`);
}
