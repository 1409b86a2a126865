// Reading a file whose size and place are checked before a byte is read (Node): a regular file
// (never a FIFO, a device or a directory: those could block or never end), optionally inside a
// directory by its real path (no symbolic link out of it), and no larger than the caller allows.

/** A file refused before or while it was read: not a regular file, too large, outside its directory, unreadable. */
export class FileReadError extends Error {
  override name = 'FileReadError';
  constructor(readonly file: string, message: string) {
    super(message);
  }
}

export interface ReadBounds {
  /** The most bytes the caller will take; a larger file is refused before it is read. */
  maxBytes: number;
  /** Why that many (for the message), e.g. "the manifest's weights need 1,024". */
  limitReason?: string;
  /** The file's real path (symbolic links resolved) must lie inside this directory's. */
  within?: string;
  /** Makes the error thrown (default: FileReadError), so a model reader throws ModelFormatError. */
  error?: (file: string, message: string) => Error;
}

const KIND: [string, (s: import('node:fs').Stats) => boolean][] = [
  ['directory', (s) => s.isDirectory()],
  ['FIFO (named pipe)', (s) => s.isFIFO()],
  ['character device', (s) => s.isCharacterDevice()],
  ['block device', (s) => s.isBlockDevice()],
  ['socket', (s) => s.isSocket()],
];

const kindOf = (s: import('node:fs').Stats) => KIND.find(([, is]) => is(s))?.[0] ?? 'special file';

/** The whole of `file`, refused (typed error naming the file) unless it is a regular file within the bounds. */
export async function readFileBounded(file: string, bounds: ReadBounds): Promise<Uint8Array> {
  const fs = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  const path = await import('node:path');
  const error = (problem: string, fix?: string) => (bounds.error ?? ((f, m) => new FileReadError(f, m)))(file, `${file}: ${problem}${fix ? `; ${fix}` : ''}`);
  const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

  let real: string;
  try {
    real = await fs.realpath(file);
  } catch (e) {
    throw error(code(e) === 'ENOENT' ? 'no such file' : `cannot be read (${code(e)})`);
  }
  if (bounds.within !== undefined) {
    const root = await fs.realpath(bounds.within).catch(() => path.resolve(bounds.within!));
    const rel = path.relative(root, real);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw error(`resolves to ${real}, outside the directory ${root}`, 'a model\'s files must lie in its directory (no symbolic links or ".." leading out of it)');
    }
  }
  const st = await fs.stat(real).catch((e) => {
    throw error(`cannot be read (${code(e)})`);
  });
  if (!st.isFile()) throw error(`is a ${kindOf(st)}, not a regular file`, 'name a regular file');
  const limit = () => `the ${bounds.maxBytes.toLocaleString('en-US')} allowed${bounds.limitReason ? ` (${bounds.limitReason})` : ''}`;
  if (st.size > bounds.maxBytes) throw error(`${st.size.toLocaleString('en-US')} bytes, more than ${limit()}`);
  // O_NONBLOCK: should the path have become a FIFO since the stat, open returns instead of waiting for a writer.
  const handle = await fs.open(real, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).catch((e) => {
    throw error(`cannot be opened (${code(e)})`);
  });
  try {
    const opened = await handle.stat();
    if (!opened.isFile() || opened.ino !== st.ino || opened.dev !== st.dev) throw error('was replaced while being opened');
    if (opened.size > bounds.maxBytes) throw error(`${opened.size.toLocaleString('en-US')} bytes, more than ${limit()}`);
    const out = new Uint8Array(opened.size);
    let off = 0;
    while (off < out.length) {
      const { bytesRead } = await handle.read(out, off, out.length - off, off);
      if (bytesRead === 0) throw error(`ended after ${off} of its ${out.length} bytes (truncated while being read)`);
      off += bytesRead;
    }
    return out;
  } finally {
    await handle.close();
  }
}

/** readFileBounded as text (UTF-8). */
export async function readTextBounded(file: string, bounds: ReadBounds): Promise<string> {
  return new TextDecoder().decode(await readFileBounded(file, bounds));
}
