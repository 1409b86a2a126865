// The data readers' error contract in one assertion: a DataFormatError whose message names every
// given piece, with a fix.
import { expect } from 'vitest';
import { DataFormatError } from '../../src/data/idx.js';

/** Asserts that `f` throws a DataFormatError whose message contains every piece of `says`. */
export function rejects(f: () => unknown, ...says: string[]): DataFormatError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a DataFormatError').toBeInstanceOf(DataFormatError);
  const e = err as DataFormatError;
  for (const s of says) expect(e.message).toContain(s);
  expect(e.fix.length).toBeGreaterThan(0);
  return e;
}
