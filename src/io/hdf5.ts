// HDF5 files (Keras's .h5, a .keras archive's model.weights.h5) through jsfive, a pure-JS reader
// that runs alike in Node and browsers, imported on first use (bundles that never read a Keras file
// do not load it). Every failure inside it becomes a ModelFormatError naming the file and the
// object, and an array's declared size is checked before it is read.
import type * as Jsfive from 'jsfive';
import { ModelFormatError } from '../model/layer-config.js';

export type Hdf5Group = Jsfive.Group;
export type Hdf5Dataset = Jsfive.Dataset;

/** jsfive, once openHdf5 has loaded it: every group or dataset comes from a file it opened. */
let jsfive: typeof Jsfive | undefined;

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** The HDF5 signature at offset 0 (where h5py and Keras put it). */
export const isHdf5 = (bytes: Uint8Array): boolean => SIGNATURE.every((b, i) => bytes[i] === b);

/** Runs `read` (jsfive), turning whatever it throws (errors, strings) into a ModelFormatError at `at`. */
export function guard<T>(at: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof ModelFormatError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new ModelFormatError(`${at}: the HDF5 data cannot be read (${why.slice(0, 200)}); the file is truncated or damaged: save or download it again`);
  }
}

export async function openHdf5(bytes: Uint8Array, file: string): Promise<Hdf5Group> {
  jsfive ??= await import('jsfive');
  const lib = jsfive;
  if (!isHdf5(bytes)) throw new ModelFormatError(`${file}: not an HDF5 file (no HDF5 signature at its start)`);
  checkLength(bytes, file);
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
  return guard(file, () => new lib.File(own as ArrayBuffer, file));
}

/**
 * A truncated file is told by its superblock's end-of-file address (versions 0 and 2/3 with 8-byte
 * offsets, those jsfive reads), as the HDF5 library tells it; jsfive itself would read on until
 * something it needs is missing, or not notice at all.
 */
function checkLength(bytes: Uint8Array, file: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = bytes[8];
  const at = version === 0 ? 40 : version === 2 || version === 3 ? 28 : -1;
  if (at < 0) throw new ModelFormatError(`${file}: HDF5 superblock version ${version} is not read (0, 2 and 3 are: what h5py writes)`);
  if (bytes.length < at + 8) throw new ModelFormatError(`${file}: ${bytes.length} bytes, shorter than an HDF5 superblock; the file is truncated`);
  const end = view.getBigUint64(at, true);
  if (end > BigInt(bytes.length)) throw new ModelFormatError(`${file}: its HDF5 superblock says the file is ${end} bytes, but it has ${bytes.length}; the file is truncated: save or download it again`);
}

/** The group or dataset at `path` ("a/b/c") under `group`, or undefined. */
export function child(group: Hdf5Group, path: string, at: string): Hdf5Group | Hdf5Dataset | undefined {
  return guard(at, () => {
    let o: Hdf5Group | Hdf5Dataset = group;
    for (const name of path.split('/')) {
      if (!isGroup(o) || !o.keys.includes(name)) return undefined;
      o = o.get(name);
    }
    return o;
  });
}

export const isGroup = (o: unknown): o is Hdf5Group => jsfive !== undefined && o instanceof jsfive.Group;
export const isDataset = (o: unknown): o is Hdf5Dataset => jsfive !== undefined && o instanceof jsfive.Dataset;

/** An attribute, or undefined. */
export function attribute(o: Hdf5Group | Hdf5Dataset, name: string, at: string): unknown {
  return guard(at, () => {
    const attrs = o.attrs;
    return Object.prototype.hasOwnProperty.call(attrs, name) ? unpad(attrs[name]) : undefined;
  });
}

/**
 * A float32 dataset's values. Its declared size is checked first: at most `maxBytes`, and no more
 * than the file holds unless the dataset is compressed (filtered).
 */
export function readFloat32(ds: Hdf5Dataset, at: string, fileBytes: number, maxBytes: number): { shape: number[]; data: Float32Array } {
  const { shape, dtype, filtered } = guard(at, () => ({ shape: ds.shape, dtype: ds.dtype, filtered: (ds._dataobjects.filter_pipeline?.length ?? 0) > 0 }));
  if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < 0)) throw new ModelFormatError(`${at}: shape ${JSON.stringify(shape)} is not a list of sizes`);
  if (dtype !== '<f4' && dtype !== '>f4') throw new ModelFormatError(`${at}: dtype ${JSON.stringify(dtype)}, expected float32 ('<f4')`, );
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = count * 4;
  if (bytes > maxBytes) throw new ModelFormatError(`${at}: shape [${shape}] declares ${bytes} bytes, more than the limit of ${maxBytes}`);
  if (!filtered && bytes > fileBytes) throw new ModelFormatError(`${at}: shape [${shape}] declares ${bytes} bytes, more than the whole file (${fileBytes}); the file is truncated or damaged`);
  const values = guard(at, () => ds.value);
  if (!isNumbers(values) || values.length !== count) throw new ModelFormatError(`${at}: read ${isNumbers(values) ? values.length : 'no'} values for shape [${shape}]; the file is damaged`);
  return { shape: shape.slice(), data: Float32Array.from(values) };
}

/** Fixed-length HDF5 strings come back with their NUL padding (h5py strips it; jsfive does not). */
const unpad = (v: unknown): unknown => (typeof v === 'string' ? v.replace(/\0+$/, '') : Array.isArray(v) ? v.map(unpad) : v);

const isNumbers = (v: unknown): v is ArrayLike<number> => (Array.isArray(v) || ArrayBuffer.isView(v)) && Array.prototype.every.call(v, (x: unknown) => typeof x === 'number');
