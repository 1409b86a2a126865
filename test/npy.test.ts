// The .npy reader and writer (src/io/npy.ts): files numpy wrote, round trips of every dtype and
// version, and a clear error for each kind of file we refuse.
import { describe, expect, test } from 'vitest';
import { NpyError, readNpy, writeNpy, type NpyArray, type NpyData, type NpyVersion } from '../src/io/npy.js';
import { expectExact } from './helpers/check.js';

const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
const text = (s: string) => new TextEncoder().encode(s);

// Written by numpy 2.4 (np.save, or np.lib.format.write_array with the version given).
const NUMPY_FILES: { name: string; file: string; version: NpyVersion; want: { dtype: NpyArray['dtype']; shape: number[]; data: NpyData } }[] = [
  {
    name: 'float32 (2, 3), with -0.0',
    file: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAAwAAAAAAAAACAAABQQG8Sg7o=',
    version: 1,
    want: { dtype: '<f4', shape: [2, 3], data: new Float32Array([1.5, -2, 0, -0, 3.25, -1e-3]) },
  },
  {
    name: 'int8 (5,)',
    file: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGkxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDUsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr/AYB/AA==',
    version: 1,
    want: { dtype: '|i1', shape: [5], data: new Int8Array([-1, 1, -128, 127, 0]) },
  },
  {
    name: 'uint32 (2, 2), version 2.0',
    file: 'k05VTVBZAgB0AAAAeydkZXNjcic6ICc8dTQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAQAAAP////8HAAAA',
    version: 2,
    want: { dtype: '<u4', shape: [2, 2], data: new Uint32Array([0, 1, 4294967295, 7]) },
  },
  {
    name: 'int32 (3,), version 3.0',
    file: 'k05VTVBZAwB0AAAAeydkZXNjcic6ICc8aTQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr7////AAAAAP///38=',
    version: 3,
    want: { dtype: '<i4', shape: [3], data: new Int32Array([-5, 0, 2147483647]) },
  },
  {
    name: 'float64 scalar ()',
    file: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAEwA==',
    version: 1,
    want: { dtype: '<f8', shape: [], data: new Float64Array([-2.5]) },
  },
];

describe('files numpy wrote', () => {
  test.each(NUMPY_FILES)('$name: read, and written back byte for byte', ({ file, version, want }) => {
    const got = readNpy(bytes(file));
    expect(got.dtype).toBe(want.dtype);
    expect(got.shape).toEqual(want.shape);
    expect(got.data.constructor).toBe(want.data.constructor);
    expect(Object.is(got.data[3], want.data[3])).toBe(true); // keeps -0.0 in the float32 case
    expectExact(got.data, want.data, 'data');
    expect(Buffer.from(writeNpy(want.data, want.shape, { version })).toString('base64')).toBe(file);
  });

  test('reads a Node Buffer (as fs.readFileSync gives), whose slice is a view, not a copy', () => {
    const file = Buffer.concat([Buffer.from('junk'), Buffer.from(bytes(NUMPY_FILES[0].file))]).subarray(4);
    const got = readNpy(file);
    expect(got.data.length).toBe(6);
    expectExact(got.data, NUMPY_FILES[0].want.data, 'data');
  });

  test('reads from an unaligned offset in a larger buffer', () => {
    const file = bytes(NUMPY_FILES[0].file);
    const big = new Uint8Array(file.length + 3);
    big.set(file, 3);
    expectExact(readNpy(big.subarray(3)).data, NUMPY_FILES[0].want.data, 'data');
  });
});

describe('round trips', () => {
  const arrays: [string, NpyData][] = [
    ['<f4', new Float32Array([1, -1, 0.5, -0, NaN, Infinity, -3e38, 1e-45])],
    ['<f8', new Float64Array([1, -1, Math.PI, -1e300, 5e-324, NaN, -Infinity, 0])],
    ['|i1', new Int8Array([-128, -1, 0, 1, 127, 3, -3, 9])],
    ['<i4', new Int32Array([-2147483648, -1, 0, 1, 2147483647, 42, -42, 7])],
    ['|u1', new Uint8Array([0, 1, 127, 128, 255, 3, 4, 5])],
    ['<u4', new Uint32Array([0, 1, 2147483648, 4294967295, 9, 8, 7, 6])],
  ];
  const shapes = [[8], [2, 4], [2, 2, 1, 2]];
  for (const [dtype, data] of arrays) {
    for (const version of [1, 2, 3] as const) {
      test(`${dtype} version ${version}.0`, () => {
        for (const shape of shapes) {
          const file = writeNpy(data, shape, { version });
          expect(file[6]).toBe(version);
          const headerEnd = version === 1 ? 10 + (file[8] | (file[9] << 8)) : 12 + new DataView(file.buffer).getUint32(8, true);
          expect(headerEnd % 64, 'data starts on a 64-byte boundary').toBe(0);
          expect(file[headerEnd - 1]).toBe(0x0a);
          const got = readNpy(file);
          expect(got.dtype).toBe(dtype);
          expect(got.shape).toEqual(shape);
          expect(Buffer.from(got.data.buffer).equals(Buffer.from(data.buffer)), 'same bytes (NaN, -0 included)').toBe(true);
        }
      });
    }
  }

  test('empty arrays and the default version', () => {
    const file = writeNpy(new Float32Array(0), [0, 3]);
    expect(file[6]).toBe(1);
    expect(readNpy(file)).toEqual({ dtype: '<f4', shape: [0, 3], data: new Float32Array(0) });
  });

  test('a header too long for version 1.0 goes to 2.0 unless 1.0 is asked for', () => {
    const shape = [...Array(7000).fill(1), 2]; // "1, " x 7000: about 21 kB of header, fits 1.0
    const long = [...Array(25000).fill(1), 2]; // about 75 kB: over 1.0's u16 header length
    expect(writeNpy(new Int8Array(2), shape)[6]).toBe(1);
    const file = writeNpy(new Int8Array([5, -5]), long);
    expect(file[6]).toBe(2);
    expect(readNpy(file).shape).toEqual(long);
    expect(() => writeNpy(new Int8Array(2), long, { version: 1 })).toThrow(/does not fit npy version 1\.0/);
  });

  test('a header over 1 MiB, or nested a million deep, is a short NpyError', () => {
    const file = (header: string) => {
      const text = new TextEncoder().encode(header);
      const out = new Uint8Array(12 + text.length);
      out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
      new DataView(out.buffer).setUint32(8, text.length, true);
      out.set(text, 12);
      return out;
    };
    expect(() => readNpy(file(' '.repeat(2 ** 20 + 1)))).toThrow(/npy header of 1048577 bytes, more than the 1048576/);
    const deep = `{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(500_000)}${')'.repeat(500_000)}, }`;
    let err: Error | undefined;
    try {
      readNpy(file(deep));
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(NpyError);
    expect(err!.message.length).toBeLessThan(300);
  });

  test('writer refuses a shape that does not match the data', () => {
    expect(() => writeNpy(new Float32Array(5), [2, 3])).toThrow(/6 elements, the data 5/);
    expect(() => writeNpy(new Float32Array(1), [-1])).toThrow(NpyError);
  });
});

describe('headers', () => {
  // A v1.0 file with the given header dict and data, padded as numpy pads.
  function v1(dict: string, data = new Uint8Array(0)): Uint8Array {
    const pad = (64 - ((10 + dict.length + 1) % 64)) % 64;
    const header = dict + ' '.repeat(pad) + '\n';
    const out = new Uint8Array(10 + header.length + data.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
    out.set(text(header), 10);
    out.set(data, 10 + header.length);
    return out;
  }

  test('key order, quotes and spacing do not matter; 1-byte types accept any byte order mark', () => {
    const data = new Uint8Array([0xff, 2]);
    expect(readNpy(v1(`{"shape": (2,), "fortran_order": False, "descr": "<i1"}`, data))).toEqual({ dtype: '|i1', shape: [2], data: new Int8Array([-1, 2]) });
    expect(readNpy(v1(`{'descr':'|u1','fortran_order':False,'shape':[2]}`, data)).data).toEqual(new Uint8Array([255, 2]));
    expect(readNpy(v1(`{'descr': '|u1', 'fortran_order': False, 'shape': (2L,), }`, data)).shape).toEqual([2]);
  });

  const errors: [string, () => Uint8Array, RegExp][] = [
    ['bad magic', () => text('NUMPY\x01\x00'.padEnd(64)), /magic string/],
    ['empty file', () => new Uint8Array(0), /magic string/],
    ['version 4.0', () => { const f = writeNpy(new Float32Array(1), [1]); f[6] = 4; return f; }, /version 4\.0 is not supported/],
    ['header longer than the file', () => writeNpy(new Float32Array(1), [1]).subarray(0, 40), /truncated npy file: the header says/],
    ['truncated data', () => { const f = writeNpy(new Float32Array(6), [2, 3]); return f.subarray(0, f.length - 1); }, /needs 24 data bytes, the file has 23/],
    ['Fortran order', () => v1(`{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }`, new Uint8Array(24)), /Fortran order.*np\.ascontiguousarray/],
    ['big-endian', () => v1(`{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }`, new Uint8Array(4)), /big-endian.*astype\('<f4'\)/],
    ['int64', () => v1(`{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }`, new Uint8Array(8)), /'<i8' is not supported/],
    ['float16', () => v1(`{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }`, new Uint8Array(2)), /'<f2' is not supported/],
    ['structured dtype', () => v1(`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }`, new Uint8Array(4)), /structured dtypes/],
    ['missing shape', () => v1(`{'descr': '<f4', 'fortran_order': False, }`), /no 'shape'/],
    ['not a dict', () => v1(`('<f4', False)`), /expected a dict/],
    ['unparsable', () => v1(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,) `), /bad npy header/],
    ['negative dimension', () => v1(`{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }`), /non-negative integers/],
  ];
  test.each(errors)('%s', (_name, make, message) => {
    expect(() => readNpy(make())).toThrow(NpyError);
    expect(() => readNpy(make())).toThrow(message);
  });
});
