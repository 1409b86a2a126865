// Keeps the WebGPU driver's own messages off the terminal: Dawn (inside the `webgpu` package's
// native dawn.node) prints, from C++, a warning block for every Vulkan driver it tries and cannot
// use (e.g. "Warning: Vulkan shaderUniform*ArrayDynamicIndexing required." from an old lavapipe,
// before SwiftShader is chosen). JavaScript cannot redirect a native stderr in-process, so `bnn`
// runs itself as a child with stderr piped through `DawnMessageFilter`. --debug or BNN_DEBUG=1 shows them.
import { spawn } from 'node:child_process';

const CHILD_ENV = 'BNN_DAWN_FILTERED';
const TTY_ENV = 'BNN_STDERR_TTY';

/** Whether stderr is a terminal (also in the filtered child, whose stderr is a pipe). */
export function stderrIsTerminal(): boolean {
  return process.env[TTY_ENV] === '1' || (process.env[TTY_ENV] === undefined && process.stderr.isTTY === true);
}

/**
 * Drops Dawn's message blocks from a text stream: a line "Warning: ..." (or "Error: ...", "Info: ...")
 * followed by " - While ..." lines and "    at Function (path/file.cpp:123)" lines, and the blank
 * line after it. Everything else passes through unchanged, in order; a held line is flushed after
 * `holdMs` without a continuation.
 */
export class DawnMessageFilter {
  private held: string[] = []; // a block that may be Dawn's, complete lines
  private partial = '';
  private dropBlank = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly write: (text: string) => void, private readonly holdMs = 200) {}

  push(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.line(line);
    // A partial line (a progress bar's '\r' update) passes at once unless it may open a block.
    if (this.partial && this.held.length === 0 && !this.mayOpenBlock(this.partial)) {
      this.write(this.partial);
      this.partial = '';
    }
    this.arm();
  }

  end(): void {
    clearTimeout(this.timer);
    this.flushHeld();
    if (this.partial) this.write(this.partial);
    this.partial = '';
  }

  private mayOpenBlock(s: string): boolean {
    return /^(Warning|Error|Info): /.test(s) || ['Warning: ', 'Error: ', 'Info: '].some((p) => p.startsWith(s));
  }

  private line(line: string): void {
    const continues = /^ - /.test(line) || /^\s+at .*\(.*:\d+\)$/.test(line);
    if (this.held.length > 0 && continues) {
      this.held.push(line);
      return;
    }
    this.flushHeld();
    const dropBlank = this.dropBlank;
    this.dropBlank = false;
    if (dropBlank && line === '') return;
    if (/^(Warning|Error|Info): /.test(line)) this.held.push(line);
    else this.write(`${line}\n`);
  }

  private flushHeld(): void {
    if (this.held.length === 0) return;
    // Dawn's blocks name the C++ source they came from.
    const dawns = this.held.some((l) => /^\s+at .*\.(cpp|cc|h):\d+\)$/.test(l));
    if (dawns) this.dropBlank = true;
    else this.write(this.held.map((l) => `${l}\n`).join(''));
    this.held = [];
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.held.length === 0 && !this.partial) return;
    this.timer = setTimeout(() => {
      this.flushHeld();
      if (this.partial) this.write(this.partial);
      this.partial = '';
    }, this.holdMs);
    this.timer.unref();
  }
}

/**
 * In the parent: runs this same command as a child whose stderr goes through the filter, and
 * resolves with its exit status. Returns undefined when this process is already the child (or
 * the filter is off), and the caller runs the command itself.
 */
export function runFiltered(script: string, argv: string[]): Promise<number> | undefined {
  if (process.env[CHILD_ENV] === '1') return undefined;
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, [CHILD_ENV]: '1', [TTY_ENV]: process.stderr.isTTY ? '1' : '0' },
  });
  const filter = new DawnMessageFilter((text) => process.stderr.write(text));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => filter.push(chunk));
  // Ctrl-C reaches the child too (same process group); the parent waits for it to finish.
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on('SIGINT', () => {});
  process.on('SIGTERM', forward('SIGTERM'));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      filter.end();
      resolve(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1) : 1));
    });
  });
}
