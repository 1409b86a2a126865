import { defineConfig } from 'vitest/config';

// vitest 5 declares Node ^22.12, but this project's machines (and CI) run Node 20. Its main process
// calls Map.groupBy (when it prints a failed test: without it the default reporter crashes with
// "Map.groupBy is not a function" and the failure's message and diff are never shown),
// Object.groupBy (writing snapshots) and Promise.withResolvers (watch mode), all Node 21/22.
// Spec-following fallbacks, installed only where missing; test workers do not use them.
installNode22Fallbacks();

// GPU tests run on SwiftShader (CPU) in CI, and the package test packs, installs and bundles:
// generous timeouts. 'forks' keeps each test file in its own process (Dawn's dawn.node included).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

function installNode22Fallbacks(): void {
  const define = (target: object, name: string, value: unknown) => {
    if (!(name in target)) Object.defineProperty(target, name, { value, writable: true, configurable: true });
  };
  function group<K, T>(items: Iterable<T>, key: (item: T, index: number) => K, add: (k: K, item: T) => void) {
    let i = 0;
    for (const item of items) add(key(item, i++), item);
  }
  define(Map, 'groupBy', function groupBy<K, T>(items: Iterable<T>, key: (item: T, index: number) => K) {
    const out = new Map<K, T[]>();
    group(items, key, (k, item) => (out.get(k) ?? out.set(k, []).get(k)!).push(item));
    return out;
  });
  define(Object, 'groupBy', function groupBy<T>(items: Iterable<T>, key: (item: T, index: number) => PropertyKey) {
    const out: Record<PropertyKey, T[]> = Object.create(null);
    group(items, key, (k, item) => (out[k] ??= []).push(item));
    return out;
  });
  define(Promise, 'withResolvers', function withResolvers<T>() {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    return { promise, resolve, reject };
  });
}
