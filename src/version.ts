// The package's version, for what must change when the library does (the tuning cache key);
// test/tuning-cache.test.ts checks it against package.json.
export const PACKAGE_VERSION = '0.1.0';
