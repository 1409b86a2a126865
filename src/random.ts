// A small seeded pseudo-random generator (mulberry32), so tests, benchmarks and data shuffles are
// reproducible from one printed seed.

export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** `n` floats uniform in [lo, hi). */
  floats(n: number, lo = -1, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }
}

// Counter-based random numbers, the CPU twins of shaders/lib/hash.wgsl (bit for bit): a GPU
// kernel draws element i's number as hashU32(i ^ streamKey(seed, step, stream)), no state kept.

/** Chris Wellons' lowbias32 integer hash. */
export function hashU32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** The key of one (seed, step, stream): element i's number is hashU32(i ^ key). */
export function streamKey(seed: number, step: number, stream: number): number {
  return hashU32((hashU32((hashU32(seed) ^ Math.imul(stream, 0x9e3779b9)) >>> 0) + step) >>> 0);
}
