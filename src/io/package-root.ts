// Where webgpu-bnn itself is installed (Node): the directory holding its package.json, found from
// this module's own URL, so it is right from src/ in a checkout, from dist/src/ and from node_modules.

/** The package's root: the nearest directory above this module with webgpu-bnn's package.json; null if none. */
export async function packageRoot(): Promise<string | null> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const text = await fs.readFile(path.join(dir, 'package.json'), 'utf8').catch(() => null);
    if (text && (JSON.parse(text) as { name?: string }).name === 'webgpu-bnn') return dir;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}
