// NumPy `.npy` files, read and written: how Larq/Keras users hand us weights (np.save) and how we
// hand arrays back. Format versions 1.0, 2.0 and 3.0; little-endian, C-order, six plain dtypes.
//
// Layout (numpy.lib.format): magic "\x93NUMPY", major, minor, header length (u16 LE in 1.0, u32 LE
// in 2.0/3.0), then a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a final '\n' so the data starts on a 64-byte boundary (latin-1 text in
// 1.0/2.0, UTF-8 in 3.0), then the raw elements in C order.
import { show } from '../model/error-text.js';

/** The dtypes we read and write, as numpy spells them in `descr`. */
export type NpyDType = '<f4' | '<f8' | '|i1' | '<i4' | '|u1' | '<u4';

export type NpyData = Float32Array | Float64Array | Int8Array | Int32Array | Uint8Array | Uint32Array;

export interface NpyArray {
  dtype: NpyDType;
  /** [] for a 0-d array (one element). */
  shape: number[];
  /** The elements in C order, in a fresh, aligned buffer. */
  data: NpyData;
}

export type NpyVersion = 1 | 2 | 3;

/** A file that is not an npy file, or one we do not read (big-endian, Fortran order, other dtypes, truncated). */
export class NpyError extends Error {
  override name = 'NpyError';
}

interface DTypeInfo {
  bytes: number;
  make: (buffer: ArrayBuffer) => NpyData;
}

const DTYPES: Record<NpyDType, DTypeInfo> = {
  '<f4': { bytes: 4, make: (b) => new Float32Array(b) },
  '<f8': { bytes: 8, make: (b) => new Float64Array(b) },
  '|i1': { bytes: 1, make: (b) => new Int8Array(b) },
  '<i4': { bytes: 4, make: (b) => new Int32Array(b) },
  '|u1': { bytes: 1, make: (b) => new Uint8Array(b) },
  '<u4': { bytes: 4, make: (b) => new Uint32Array(b) },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** The longest header read (1 MiB): np.save writes under 100 bytes for most arrays, 75 kB for 25,000 dimensions; numpy.load itself stops at 10,000 by default. */
const MAX_HEADER_BYTES = 2 ** 20;
const ALIGN = 64;
// The data is reinterpreted in place as little-endian: refuse to run where typed arrays are big-endian.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Parses an npy file. Trailing bytes after the data are ignored, as numpy.load does. */
export function readNpy(file: Uint8Array | ArrayBuffer): NpyArray {
  const bytes = file instanceof Uint8Array ? file : new Uint8Array(file);
  if (bytes.length < 10 || MAGIC.some((m, k) => bytes[k] !== m)) {
    throw new NpyError('not an npy file: it does not start with the magic string "\\x93NUMPY"');
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw new NpyError(`npy format version ${major}.${minor} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new NpyError('truncated npy file: it ends inside the header length');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lenBytes;
  if (headerLen > MAX_HEADER_BYTES) throw new NpyError(`npy header of ${headerLen} bytes, more than the ${MAX_HEADER_BYTES} numpy.load reads`);
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) {
    throw new NpyError(`truncated npy file: the header says ${headerLen} bytes, the file has ${bytes.length - headerStart} after the length`);
  }
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const { dtype, shape } = parseHeader(header);

  const count = shape.reduce((a, b) => a * b, 1);
  const need = count * DTYPES[dtype].bytes;
  if (bytes.length - dataStart < need) {
    throw new NpyError(
      `truncated npy file: shape (${shape.join(', ')}) of ${dtype} needs ${need} data bytes, the file has ${bytes.length - dataStart}`,
    );
  }
  if (!HOST_IS_LITTLE_ENDIAN && DTYPES[dtype].bytes > 1) throw new NpyError('this host is big-endian; readNpy reads little-endian data in place');
  // Copy: the data offset need not be aligned for the element type within the caller's buffer.
  // (Not bytes.slice: on a Node Buffer that is a view of the whole file, header included.)
  const copy = new Uint8Array(need);
  copy.set(bytes.subarray(dataStart, dataStart + need));
  return { dtype, shape, data: DTYPES[dtype].make(copy.buffer) };
}

/**
 * Writes an npy file, the same bytes numpy.save writes for the array. The dtype follows the typed
 * array. Version 1.0 unless the header needs more than 65535 bytes (then 2.0), or as asked.
 */
export function writeNpy(data: NpyData, shape: readonly number[], options: { version?: NpyVersion } = {}): Uint8Array {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new NpyError(`shape must be non-negative integers, got [${shape.join(', ')}]`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new NpyError(`shape (${shape.join(', ')}) has ${count} elements, the data ${data.length}`);
  const dtype = dtypeOf(data);
  if (!HOST_IS_LITTLE_ENDIAN && DTYPES[dtype].bytes > 1) throw new NpyError('this host is big-endian; writeNpy writes the data as it lies in memory');
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const text = new TextEncoder().encode(dict); // ASCII: same bytes in latin-1 and UTF-8
  const version = options.version ?? (padded(text.length, 2) > 0xffff ? 2 : 1);
  if (![1, 2, 3].includes(version)) throw new NpyError(`npy version must be 1, 2 or 3, got ${version}`);
  const lenBytes = version === 1 ? 2 : 4;
  const headerLen = padded(text.length, lenBytes);
  if (version === 1 && headerLen > 0xffff) throw new NpyError(`header of ${headerLen} bytes does not fit npy version 1.0: use version 2`);

  const dataStart = 8 + lenBytes + headerLen;
  const out = new Uint8Array(dataStart + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  out.set(text, 8 + lenBytes);
  out.fill(0x20, 8 + lenBytes + text.length, dataStart - 1);
  out[dataStart - 1] = 0x0a;
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dataStart);
  return out;

  // Header bytes including the space padding and the '\n' that align the data to 64 bytes.
  function padded(textLen: number, lenBytesOf: number): number {
    const unpadded = 8 + lenBytesOf + textLen + 1;
    return textLen + 1 + ((ALIGN - (unpadded % ALIGN)) % ALIGN);
  }
}

function dtypeOf(data: NpyData): NpyDType {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int8Array) return '|i1';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint8Array) return '|u1';
  if (data instanceof Uint32Array) return '<u4';
  throw new NpyError(`writeNpy: unsupported array type ${(data as object)?.constructor?.name}`);
}

// The header is a Python dict literal; we parse the small subset numpy writes (strings, True/False,
// integers, tuples and lists) rather than matching it with a regular expression.
function parseHeader(header: string): { dtype: NpyDType; shape: number[] } {
  let value: unknown;
  try {
    value = new LiteralParser(header).parseAll();
  } catch (err) {
    throw new NpyError(`bad npy header ${show(header.trim())}: ${(err as Error).message}`);
  }
  if (!(value instanceof Map)) throw new NpyError(`bad npy header: expected a dict, got ${show(header.trim())}`);
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!value.has(key)) throw new NpyError(`bad npy header: no '${key}' in ${show(header.trim())}`);
  }
  const descr = value.get('descr');
  const fortran = value.get('fortran_order');
  const shape = value.get('shape');
  if (typeof descr !== 'string') {
    throw new NpyError(`npy dtype ${show(descr)} is not supported (structured dtypes are not; plain ${Object.keys(DTYPES).join(' ')} are)`);
  }
  if (fortran !== false) {
    throw new NpyError(
      fortran === true
        ? 'npy file is in Fortran order (fortran_order: True); save a C-order array: np.save(path, np.ascontiguousarray(a))'
        : `bad npy header: fortran_order is ${show(fortran)}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new NpyError(`bad npy header: shape ${show(shape)} is not a tuple of non-negative integers`);
  }
  return { dtype: normalizeDType(descr), shape: shape as number[] };
}

function normalizeDType(descr: string): NpyDType {
  const kind = descr.slice(1);
  const order = descr[0];
  // One-byte types have no byte order: numpy writes '|', but accept any order character.
  if ((kind === 'i1' || kind === 'u1') && '|<>='.includes(order)) return `|${kind}` as NpyDType;
  if (`<${kind}` in DTYPES) {
    if (order === '<') return descr as NpyDType;
    if (order === '>') throw new NpyError(`npy dtype ${descr} is big-endian; save little-endian: np.save(path, a.astype('<${kind}'))`);
  }
  throw new NpyError(`npy dtype '${descr}' is not supported (supported: ${Object.keys(DTYPES).join(' ')}); convert with a.astype('<f4')`);
}

/** A Python literal: str, bool, None, int, tuple/list (as arrays) and dict (as Map). */
class LiteralParser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseAll(): unknown {
    const value = this.value();
    this.space();
    if (this.pos !== this.text.length) throw new Error(`unexpected '${this.text[this.pos]}' at ${this.pos}`);
    return value;
  }

  private value(): unknown {
    this.space();
    const c = this.text[this.pos];
    if (c === '{') return this.dict();
    if (c === '(' || c === '[') return this.sequence(c === '(' ? ')' : ']');
    if (c === "'" || c === '"') return this.string();
    const word = /^(True|False|None|-?\d+L?)/.exec(this.text.slice(this.pos));
    if (!word) throw new Error(c === undefined ? 'unexpected end' : `unexpected '${c}' at ${this.pos}`);
    this.pos += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0].replace('L', '')); // Python 2 wrote long integers as 3L
  }

  private dict(): Map<unknown, unknown> {
    const out = new Map<unknown, unknown>();
    this.pos++;
    for (;;) {
      this.space();
      if (this.eat('}')) return out;
      const key = this.value();
      this.space();
      if (!this.eat(':')) throw new Error(`expected ':' at ${this.pos}`);
      out.set(key, this.value());
      this.space();
      if (this.eat('}')) return out;
      if (!this.eat(',')) throw new Error(`expected ',' or '}' at ${this.pos}`);
    }
  }

  private sequence(close: string): unknown[] {
    const out: unknown[] = [];
    this.pos++;
    for (;;) {
      this.space();
      if (this.eat(close)) return out;
      out.push(this.value());
      this.space();
      if (this.eat(close)) return out;
      if (!this.eat(',')) throw new Error(`expected ',' or '${close}' at ${this.pos}`);
    }
  }

  private string(): string {
    const quote = this.text[this.pos++];
    const end = this.text.indexOf(quote, this.pos);
    if (end < 0) throw new Error('unterminated string');
    const s = this.text.slice(this.pos, end); // numpy's descr strings need no escapes
    this.pos = end + 1;
    return s;
  }

  private eat(c: string): boolean {
    if (this.text[this.pos] !== c) return false;
    this.pos++;
    return true;
  }

  private space(): void {
    while (this.pos < this.text.length && ' \t\r\n'.includes(this.text[this.pos])) this.pos++;
  }
}
