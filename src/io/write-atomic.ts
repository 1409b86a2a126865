// Writing files so that a reader, a kill -9 or a full disk never leaves half of one (Node): the
// data goes to a temporary name, is flushed (fsync), then renamed over the target; a failed write
// removes its temporary file. And a directory checked writable before long work starts.

/** A step a writer is about to take ("write F", "rename A -> B", "remove F"); fault-injection tests kill or fail at one. */
export type StepHook = (step: string) => void | Promise<void>;

export interface WriteOptions {
  onStep?: StepHook;
}

/** An output that cannot be written where it was asked: a directory where a file is wanted, no permission, a read-only disk. */
export class OutputPathError extends Error {
  override name = 'OutputPathError';
  constructor(readonly path: string, message: string) {
    super(message);
  }
}

const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Writes `data` to a new file and flushes it to the disk; the file must not exist. */
export async function writeFileDurable(file: string, data: Uint8Array | string, options: WriteOptions = {}): Promise<void> {
  const fs = await import('node:fs/promises');
  await options.onStep?.(`write ${file}`);
  const handle = await fs.open(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory's entries (a rename in it) to the disk; a no-op where directories cannot be opened (Windows). */
export async function syncDirectory(dir: string): Promise<void> {
  const fs = await import('node:fs/promises');
  const handle = await fs.open(dir, 'r').catch(() => null);
  if (!handle) return;
  try {
    await handle.sync().catch(() => {});
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `file` with `data` whole or not at all: written to `file.tmp-PID`, flushed, renamed over
 * `file`. A `file` that is a directory is refused before anything is written; on any failure the
 * temporary file is removed and the error passed on.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string, options: WriteOptions = {}): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const st = await fs.stat(file).catch(() => null);
  if (st?.isDirectory()) throw new OutputPathError(file, `${file}: is a directory; name a file to write`);
  await fs.mkdir(path.dirname(file), { recursive: true }).catch((e) => {
    throw new OutputPathError(file, `${file}: its directory cannot be created (${code(e)})`);
  });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await fs.rm(tmp, { force: true });
    await writeFileDurable(tmp, data, options);
    await options.onStep?.(`rename ${tmp} -> ${file}`);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  await syncDirectory(path.dirname(file));
}

/**
 * Makes `dir` (and its parents) and proves it writable by creating and removing a file in it, so
 * a run that will write there fails now, with the reason, and not after hours of work.
 * `what` names it in the message (e.g. "--out models/x").
 */
export async function ensureWritableDirectory(dir: string, what = dir): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const st = await fs.stat(dir).catch(() => null);
  if (st && !st.isDirectory()) throw new OutputPathError(dir, `${what}: ${dir} exists and is not a directory; name a directory`);
  await fs.mkdir(dir, { recursive: true }).catch((e) => {
    throw new OutputPathError(dir, `${what}: ${dir} cannot be created (${code(e)}); choose a writable place`);
  });
  const probe = path.join(dir, `.write-test-${process.pid}`);
  try {
    await fs.writeFile(probe, '', { flag: 'wx' });
  } catch (e) {
    throw new OutputPathError(dir, `${what}: nothing can be written in ${dir} (${code(e)}); check its permissions and free space, or choose another place`);
  } finally {
    await fs.rm(probe, { force: true }).catch(() => {});
  }
}
