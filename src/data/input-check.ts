// Model inputs from .npy files checked against the preprocessing the model was trained with
// (preprocessing.json): raw pixels, [0, 1] images and integer arrays are refused with the fix, or
// turned into model inputs by that preprocessing when asked (`--preprocess`).
import type { NpyArray } from '../io/npy.js';
import { DATASETS, preprocessor, type Preprocessing } from './datasets.js';

/** Inputs that do not match what the model was trained on; the message says what to do. */
export class InputError extends Error {
  override name = 'InputError';
}

/** The preprocessing as a formula of the 8-bit pixel: "pixel/127.5 - 1", "(pixel/255 - [0.49, ...]) / [0.25, ...]". */
export function describePreprocessing(p: Preprocessing): string {
  const n = p.normalization;
  if (!n) return 'pixel/127.5 - 1';
  if (n.mean.length === 1 && n.std.length === 1 && n.mean[0] === 0.5 && n.std[0] === 0.5 && Math.abs(n.scale - 1 / 255) < 1e-12) return '2*pixel/255 - 1';
  const list = (xs: readonly number[]) => (xs.length === 1 ? String(xs[0]) : `[${xs.join(', ')}]`);
  return `(pixel*${Math.abs(n.scale - 1 / 255) < 1e-12 ? '1/255' : n.scale} - ${list(n.mean)}) / ${list(n.std)}`;
}

/** The range of model inputs the preprocessing makes from pixels 0..255. */
export function preprocessedRange(p: Preprocessing): [number, number] {
  const C = DATASETS[p.dataset].shape[2];
  const pixels = Uint8Array.from({ length: 256 * C }, (_, i) => Math.floor(i / C));
  const v = preprocessor(p)(pixels, new Float32Array(pixels.length));
  return [Math.min(...v), Math.max(...v)];
}

function extent(data: ArrayLike<number>): { min: number; max: number; nan: boolean; integers: boolean } {
  let [min, max, nan, integers] = [Infinity, -Infinity, false, true];
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    if (Number.isNaN(v)) nan = true;
    else [min, max] = [Math.min(min, v), Math.max(max, v)];
    if (integers && !Number.isInteger(v)) integers = false;
  }
  return { min, max, nan, integers };
}

const DTYPE_NAMES: Record<NpyArray['dtype'], string> = { '<f4': 'float32', '<f8': 'float64', '|i1': 'int8', '<i4': 'int32', '|u1': 'uint8', '<u4': 'uint32' };

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(4).replace(/\.?0+$/, ''));

/**
 * The model input from `arr` (read from `file`), checked against `p`: with `preprocess`, `arr`
 * must hold pixels 0..255 (any dtype) and is preprocessed; without, it must be float data in the
 * preprocessing's range that does not look like [0, 1] images or raw pixels (NaN refused unless
 * `allowNaN`; the range is then that of the other values).
 */
export function modelInputFrom(file: string, arr: NpyArray, p: Preprocessing, options: { preprocess: boolean; allowNaN?: boolean }): Float32Array {
  const formula = describePreprocessing(p);
  const { min, max, nan, integers } = extent(arr.data as ArrayLike<number>);
  if (options.preprocess) {
    if (nan || !integers || min < 0 || max > 255) throw new InputError(`${file}: --preprocess takes raw pixels (integers 0..255), but the values are in [${fmt(min)}, ${fmt(max)}]${integers ? '' : ', not integers'}; without --preprocess, pass inputs already made by ${formula}`);
    return preprocessor(p)(Uint8Array.from(arr.data as ArrayLike<number>), new Float32Array(arr.data.length));
  }
  if (nan && !options.allowNaN) throw new InputError(`${file}: holds NaN values; this model expects ${formula} of 8-bit pixels`);
  const isFloat = arr.dtype === '<f4' || arr.dtype === '<f8';
  const looksLikePixels = integers && min >= 0 && max <= 255 && max > 1;
  if (!isFloat) {
    throw new InputError(`${file}: ${DTYPE_NAMES[arr.dtype]} values in [${fmt(min)}, ${fmt(max)}]${looksLikePixels ? ' look like raw pixels' : ''}; this model expects float32 inputs made by ${formula}: pass --preprocess to apply it to raw pixels 0..255, or save the inputs as float32 after preprocessing`);
  }
  const [lo, hi] = preprocessedRange(p);
  const tol = 1e-3 * (hi - lo);
  if (looksLikePixels && (max > hi + tol)) {
    throw new InputError(`${file}: these look like raw pixels (integers in [${fmt(min)}, ${fmt(max)}]); this model expects ${formula}: pass --preprocess, or apply it`);
  }
  if (lo < 0 && min >= 0 && max <= 1 + tol) {
    throw new InputError(`${file}: these look like [0, 1] images (values in [${fmt(min)}, ${fmt(max)}], none negative); this model expects ${formula}, in [${fmt(lo)}, ${fmt(hi)}]: pass --preprocess with pixels 0..255, or scale them (${p.normalization ? 'x*255 then the formula' : 'x*2 - 1'})`);
  }
  if (min < lo - tol || max > hi + tol) {
    throw new InputError(`${file}: values in [${fmt(min)}, ${fmt(max)}] fall outside [${fmt(lo)}, ${fmt(hi)}], what this model's preprocessing (${formula}) makes of pixels; pass --preprocess with raw pixels 0..255, or check how the inputs were scaled`);
  }
  return arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data as ArrayLike<number>);
}
