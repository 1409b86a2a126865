// How `bnn` ends on an error: a usage mistake in one line and where the help is (exit 2); an
// error the project names (a typed error: bad model file, shape, data, missing file...) in one
// line, its message being the cause and the fix (exit 1); anything else as an unexpected error.
// Stack traces only with --debug or BNN_DEBUG=1.
import { UsageError } from './flags.js';

// JavaScript's own error classes: thrown by a bug, not by the project on purpose.
const BUILT_IN = new Set(['Error', 'TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'AggregateError']);

const SYSTEM_CAUSES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  ENOSPC: 'no space left on the device',
  EEXIST: 'already exists',
};

/** One line for `err` (without the 'bnn: ' prefix), or undefined for an unexpected error. */
export function knownErrorLine(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const sys = err as NodeJS.ErrnoException;
  if (sys.code && SYSTEM_CAUSES[sys.code] && sys.path) return `${sys.path}: ${SYSTEM_CAUSES[sys.code]}`;
  // Every typed error of the project (ModelFormatError, ShapeError, NpyError, DataFormatError,
  // CompileError, WebGpuUnavailableError...) names itself; its message says the cause and the fix.
  if (!BUILT_IN.has(err.name)) return err.message;
  return undefined;
}

/** Prints `err` for the terminal and returns the exit status. */
export function reportError(err: unknown, options: { debug: boolean; command?: string }): number {
  const helpHint = options.command ? `bnn help ${options.command}` : 'bnn help';
  if (err instanceof UsageError) {
    console.error(`bnn: ${err.message}\n(${helpHint} lists the ${options.command ? 'options' : 'commands'})`);
    if (options.debug) console.error(err.stack);
    return 2;
  }
  const line = knownErrorLine(err);
  if (options.debug) console.error(`bnn: ${(err as Error)?.stack ?? String(err)}`);
  else if (line !== undefined) console.error(`bnn: ${line}`);
  else console.error(`bnn: unexpected error: ${(err as Error)?.message ?? String(err)}\n(run again with --debug for the stack trace)`);
  return 1;
}
