// The bit convention, written once (as Larq Compute Engine's core/bitpacking/bitpack.h does).
// Every kernel, reader and reference in webgpu-bnn follows these rules; nobody re-derives them.
//
//   value +1 <-> bit 0, value -1 <-> bit 1      (bit = x < 0; sign(0) = sign(-0.0) = +1, as Larq)
//   32 values per u32 word, value j of a row in word j>>5, bit j&31 (least significant first)
//   a row of n values takes ceil(n/32) words; the pad bits past n are 0 (+1), always
//   dot(a, b) over n values = n - 2 * sum_w countOneBits(a[w] ^ b[w])
//
// Pad bits are 0 in every operand, so they xor to 0 and never change a popcount: the dot product
// needs no correction beyond using the true length n. Kernels that write `b1` write 0 pad bits.

export const BITS_PER_WORD = 32;

/** Words per row of `n` binary values: ceil(n / 32). */
export function wordsPerRow(n: number): number {
  return Math.ceil(n / BITS_PER_WORD);
}

/** The bit of one value: 1 for x < 0 (-1), 0 otherwise (+1; so sign(0) = sign(-0) = +1). */
export function signBit(x: number): 0 | 1 {
  return x < 0 ? 1 : 0;
}

/** The value of one bit: bit 0 -> +1, bit 1 -> -1. */
export function bitValue(bit: number): 1 | -1 {
  return bit ? -1 : 1;
}

/** Larq's sign: +1 for x >= 0 (also -0.0), -1 for x < 0. */
export function sign(x: number): 1 | -1 {
  return x < 0 ? -1 : 1;
}

/**
 * Packs `values` (rows x cols, row-major) into rows of ceil(cols/32) words, by sign.
 * NaN packs as +1 (NaN < 0 is false), like the GPU kernel.
 */
export function packRows(values: ArrayLike<number>, rows: number, cols: number): Uint32Array {
  if (values.length !== rows * cols) {
    throw new RangeError(`packRows: got ${values.length} values for ${rows} rows x ${cols} cols`);
  }
  const wpr = wordsPerRow(cols);
  const out = new Uint32Array(rows * wpr);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (values[r * cols + c] < 0) out[r * wpr + (c >>> 5)] |= 1 << (c & 31);
    }
  }
  return out;
}

/** Unpacks rows of ceil(cols/32) words into +-1 floats (rows x cols). Pad bits are ignored. */
export function unpackRows(words: Uint32Array, rows: number, cols: number): Float32Array {
  const wpr = wordsPerRow(cols);
  if (words.length < rows * wpr) {
    throw new RangeError(`unpackRows: got ${words.length} words, need ${rows * wpr} for ${rows} x ${cols}`);
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = (words[r * wpr + (c >>> 5)] >>> (c & 31)) & 1 ? -1 : 1;
    }
  }
  return out;
}

/** Number of set bits in a u32 (the CPU twin of WGSL's countOneBits). */
export function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * +-1 dot product of row `ra` of `a` and row `rb` of `b`, both packed rows of `n` values:
 * n - 2 * popcount(a xor b), summed over the ceil(n/32) words.
 */
export function binaryDot(a: Uint32Array, ra: number, b: Uint32Array, rb: number, n: number): number {
  const wpr = wordsPerRow(n);
  let mismatches = 0;
  for (let w = 0; w < wpr; w++) mismatches += popcount(a[ra * wpr + w] ^ b[rb * wpr + w]);
  return n - 2 * mismatches;
}

/** True when every pad bit (past `cols` in each row) is 0, as the convention requires. */
export function padBitsAreZero(words: Uint32Array, rows: number, cols: number): boolean {
  const wpr = wordsPerRow(cols);
  const tail = cols & 31;
  if (tail === 0) return true;
  const mask = ~((1 << tail) - 1) >>> 0;
  for (let r = 0; r < rows; r++) if ((words[r * wpr + wpr - 1] & mask) !== 0) return false;
  return true;
}

// Low-bit operands as stacks of bit planes (the ternary and bit-serial GEMMs): each plane is a
// packed row array exactly as above (ceil(n/32) words per row, LSB first, pad bits 0), and the
// planes of a tensor lie one after another: plane p of `rows` rows at word p * rows * ceil(n/32).
//   ternary {-1, 0, +1}: plane 0 the mask (1 = non-zero), plane 1 the sign (1 = -1, as above;
//     0 where the mask is 0). dot with b1 a = sum_w popcount(mask) - 2 popcount(mask & (a ^ sign)).
//   unsigned k-bit integers 0..2^k-1: plane i holds bit i. A zero word is 0 in every plane, so
//     zero padding is pad words of 0.

/**
 * Ternary values packed as {mask, sign} planes: a value is 0 where |x| < delta or x = 0 (Larq's
 * ste_tern: the boundaries |x| = delta go to +-1), else its sign. NaN packs as +1.
 */
export function packTernaryRows(values: ArrayLike<number>, rows: number, cols: number, delta = 0): { mask: Uint32Array; sign: Uint32Array } {
  if (values.length !== rows * cols) throw new RangeError(`packTernaryRows: got ${values.length} values for ${rows} rows x ${cols} cols`);
  if (!(delta >= 0)) throw new RangeError(`packTernaryRows: delta must be >= 0, got ${delta}`);
  const wpr = wordsPerRow(cols);
  const mask = new Uint32Array(rows * wpr);
  const sign = new Uint32Array(rows * wpr);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = values[r * cols + c];
      if (x === 0 || Math.abs(x) < delta) continue;
      mask[r * wpr + (c >>> 5)] |= 1 << (c & 31);
      if (x < 0) sign[r * wpr + (c >>> 5)] |= 1 << (c & 31);
    }
  }
  return { mask, sign };
}

/** The values {-1, 0, +1} of ternary planes (rows x cols). */
export function unpackTernaryRows(mask: Uint32Array, sign: Uint32Array, rows: number, cols: number): Float32Array {
  const m = unpackRows(mask, rows, cols);
  const s = unpackRows(sign, rows, cols);
  return m.map((v, i) => (v < 0 ? s[i] : 0));
}

/**
 * Unsigned integers 0..2^bits-1 (rows x cols) as `bits` planes, plane i holding bit i, one after
 * another (bits * rows * ceil(cols/32) words).
 */
export function packBitPlanes(values: ArrayLike<number>, rows: number, cols: number, bits: number): Uint32Array {
  if (values.length !== rows * cols) throw new RangeError(`packBitPlanes: got ${values.length} values for ${rows} rows x ${cols} cols`);
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new RangeError(`packBitPlanes: bits must be 1..8, got ${bits}`);
  const wpr = wordsPerRow(cols);
  const plane = rows * wpr;
  const out = new Uint32Array(bits * plane);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = values[r * cols + c];
      if (!Number.isInteger(x) || x < 0 || x >= 2 ** bits) throw new RangeError(`packBitPlanes: value [${r}, ${c}] = ${x} is not an integer in 0..${2 ** bits - 1}`);
      for (let i = 0; i < bits; i++) if ((x >>> i) & 1) out[i * plane + r * wpr + (c >>> 5)] |= 1 << (c & 31);
    }
  }
  return out;
}

/** The unsigned integers of `bits` planes (rows x cols), the inverse of packBitPlanes. */
export function unpackBitPlanes(planes: Uint32Array, rows: number, cols: number, bits: number): Int32Array {
  const wpr = wordsPerRow(cols);
  if (planes.length < bits * rows * wpr) throw new RangeError(`unpackBitPlanes: got ${planes.length} words, need ${bits * rows * wpr} for ${bits} planes of ${rows} x ${cols}`);
  const out = new Int32Array(rows * cols);
  for (let i = 0; i < bits; i++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[r * cols + c] |= ((planes[(i * rows + r) * wpr + (c >>> 5)] >>> (c & 31)) & 1) << i;
    }
  }
  return out;
}
