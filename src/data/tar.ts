// The files of a tar archive (POSIX ustar, with GNU long names and pax paths), read from bytes:
// enough to unpack the CIFAR-10 JPEG archive without a `tar` program (Windows, a browser).
import { DataFormatError } from './idx.js';

export interface TarEntry {
  /** The path inside the archive, '/'-separated; directories end without a slash. */
  path: string;
  type: 'file' | 'directory';
  /** A view of the archive's bytes (files only). */
  data: Uint8Array;
}

const BLOCK = 512;
const text = (b: Uint8Array) => new TextDecoder().decode(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)));

/** The archive's files and directories in order (links and devices are skipped). Paths that leave the archive's root are refused. */
export function* readTar(bytes: Uint8Array, name = 'tar archive'): Generator<TarEntry> {
  let at = 0;
  let longName: string | null = null;
  const fail = (problem: string): never => {
    throw new DataFormatError(name, problem, 'The archive is damaged or truncated: download it again');
  };
  while (at + BLOCK <= bytes.length) {
    const h = bytes.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) return; // the end-of-archive blocks
    const sizeText = text(h.subarray(124, 136)).trim();
    const size = parseInt(sizeText || '0', 8);
    if (!Number.isFinite(size) || size < 0) fail(`entry at byte ${at} has a bad size field '${sizeText}'`);
    const type = String.fromCharCode(h[156] || 0x30);
    const ustar = text(h.subarray(257, 262)) === 'ustar';
    const prefix = ustar ? text(h.subarray(345, 500)) : '';
    let path = longName ?? (prefix ? `${prefix}/${text(h.subarray(0, 100))}` : text(h.subarray(0, 100)));
    longName = null;
    const start = at + BLOCK;
    if (start + size > bytes.length) fail(`truncated: entry ${path} needs ${size} bytes, the archive ends after ${bytes.length - start}`);
    const data = bytes.subarray(start, start + size);
    at = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = text(data);
      continue;
    }
    if (type === 'x') {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(data));
      if (m) longName = m[1];
      continue;
    }
    if (type === 'g') continue;
    path = path.replace(/^\.\//, '').replace(/\/+$/, '');
    if (path === '' || path === '.') continue;
    if (path.startsWith('/') || path.split('/').includes('..')) fail(`entry ${path} would be written outside the directory it is unpacked into`);
    if (type === '0' || type === '\0' || type === '7') yield { path, type: 'file', data };
    else if (type === '5') yield { path, type: 'directory', data: data.subarray(0, 0) };
  }
  fail(`truncated: it ends at byte ${bytes.length} without the end-of-archive blocks`);
}
