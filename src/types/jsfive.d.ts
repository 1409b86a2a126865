// The part of jsfive 0.4 (a pure-JS HDF5 reader; it ships no types) that src/io/hdf5.ts uses.
declare module 'jsfive' {
  export class Group {
    readonly name: string;
    readonly keys: string[];
    readonly attrs: Record<string, unknown>;
    get(path: string): Group | Dataset;
  }
  export class File extends Group {
    constructor(buffer: ArrayBuffer, filename?: string);
  }
  export class Dataset {
    readonly name: string;
    readonly shape: number[];
    /** numpy-style: '<f4', '>f8', '<i4', or an object for compound and string types. */
    readonly dtype: unknown;
    readonly attrs: Record<string, unknown>;
    readonly value: ArrayLike<number> | unknown;
    readonly _dataobjects: { filter_pipeline: unknown[] | null };
  }
}
