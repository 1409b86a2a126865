// Seeded random inputs for tests, so a failure reproduces: one base seed per run, printed once per
// test file (set it with TEST_SEED=<n>), and a stream per case derived from the seed and the
// case's name, so one case's inputs do not depend on which other cases ran before it.
import { Random } from '../../src/random.js';
import { packRows } from '../../src/bitpack.js';

export { Random };

export const BASE_SEED: number = process.env.TEST_SEED ? Number(process.env.TEST_SEED) >>> 0 : (Date.now() ^ (process.pid << 12)) >>> 0;

let announced = false;

/** The random stream of one case (mulberry32, src/random.ts), seeded by BASE_SEED and `name`. */
export function rngFor(name: string): Random {
  if (!announced) {
    announced = true;
    console.log(`random inputs from TEST_SEED=${BASE_SEED} (rerun with it to reproduce)`);
  }
  return new Random(fnv1a(name, BASE_SEED));
}

/** A line to append to assertion messages: how to rerun with the same inputs. */
export function seedNote(): string {
  return `TEST_SEED=${BASE_SEED}`;
}

/** Random +-1 values (rows x cols) packed by the convention: pad bits 0. */
export function randomBits(rng: Random, rows: number, cols: number): Uint32Array {
  return packRows(rng.floats(rows * cols), rows, cols);
}

function fnv1a(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
