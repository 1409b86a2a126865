// Runs the built `bnn` (dist/) as a user would, with its exit code and both outputs.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const BNN = resolve(import.meta.dirname, '../../dist/src/cli/bnn.js');

/** `bnn ARGS` in `cwd` (default the repository), BNN_DEBUG cleared unless `env` sets it. */
export function bnn(args: string[], env: Record<string, string> = {}, options: { cwd?: string; timeout?: number } = {}): Promise<CliResult> {
  return new Promise((ok) => {
    execFile(process.execPath, [BNN, ...args], { encoding: 'utf8', cwd: options.cwd, env: { ...process.env, BNN_DEBUG: '', ...env }, timeout: options.timeout ?? 60_000 }, (err, stdout, stderr) => {
      ok({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
