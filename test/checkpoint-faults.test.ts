// Checkpoints under faults: a process killed (SIGKILL) before any write, rename or removal of a
// checkpoint resumes from the newest complete one and ends with the weights of an uninterrupted
// run; a full disk leaves no partial files and the previous checkpoint current; a training run
// refuses an output directory it cannot write before it starts. Runs on dist/ (npm run build).
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadCheckpoint, saveCheckpoint, type Checkpoint } from '../src/train/checkpoint.js';
import { TrainError } from '../src/train/trainer.js';
import { ensureWritableDirectory, OutputPathError, writeFileAtomic } from '../src/io/write-atomic.js';
import { mnistMlp } from '../src/zoo/mnist-mlp.js';
import { expectExact } from './helpers/check.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

const EPOCHS = 3;

/** Runs the stand-in training (test/fixtures/checkpoint-run.mjs); resolves with its output and how it ended. */
function standIn(dir: string, killAt = 0): Promise<{ stdout: string; signal: NodeJS.Signals | null; code: number | null }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['test/fixtures/checkpoint-run.mjs', dir, String(EPOCHS), String(killAt)], { encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number; signal?: NodeJS.Signals }) | null;
      if (e && e.signal !== 'SIGKILL') throw new Error(`stand-in run failed: ${stderr}`);
      resolve({ stdout, signal: e?.signal ?? null, code: e ? (e.code ?? null) : 0 });
    });
  });
}

describe('checkpoints survive kill -9', () => {
  test('killed before each write, rename and removal of every checkpoint, a resumed run restarts from the newest complete epoch and ends with the weights of an uninterrupted run', { timeout: 300_000 }, async () => {
    const straightDir = tempDir('bnn-ckpt-straight-');
    const straight = await standIn(straightDir);
    expect(straight.stdout).toMatch(/done/);
    const steps = straight.stdout.split('\n').filter((l) => l.startsWith('step ')).map((l) => l.replace(/^step \d+ /, ''));
    // The step at which each checkpoint becomes current: the pointer's rename.
    const commits = steps.flatMap((s, i) => (/^rename .*latest\.tmp-\d+ -> .*latest$/.test(s) ? [i + 1] : []));
    expect(commits).toHaveLength(EPOCHS);
    expect(steps.some((s) => s.startsWith('remove '))).toBe(true); // older checkpoints are removed, so removal is a kill point too
    const expected = (await loadCheckpoint(straightDir))!;
    expect(expected.epoch).toBe(EPOCHS);

    for (let k = 1; k <= steps.length; k++) {
      const dir = tempDir('bnn-ckpt-kill-');
      const killed = await standIn(dir, k);
      expect(killed.signal, `killed before step ${k} (${steps[k - 1]})`).toBe('SIGKILL');
      // Checkpoints committed before the kill: those whose pointer rename came before step k.
      const complete = commits.filter((c) => c < k).length;
      const resumed = await standIn(dir);
      expect(resumed.stdout, `kill before step ${k} (${steps[k - 1]}): resumes from epoch ${complete}`).toMatch(new RegExp(`^start ${complete}\\n`));
      const got = (await loadCheckpoint(dir))!;
      expect(got.epoch).toBe(EPOCHS);
      expect(got.state.iterations).toBe(expected.state.iterations);
      for (const [name, w] of expected.model.spec.weights) expectExact(got.model.weight(name).data, w.data, `${name} after a kill before step ${k}`);
      for (const [i, s] of expected.state.states.entries()) expectExact(got.state.states[i].data, s.data, `optimizer state after a kill before step ${k}`);
      // The leftovers of the killed save are removed by the resumed run's next save (when it has one to make).
      if (complete < EPOCHS) expect(readdirSync(join(dir)).sort(), `after a kill before step ${k}`).toEqual([expect.stringMatching(/^epoch-0003-\d+-\d+$/), 'latest']);
    }
  });
});

describe('real training killed during a checkpoint', () => {
  /** test/fixtures/train-kill-run.mjs: 3 epochs of a small MLP on 300 MNIST images, on the GPU. */
  const trainRun = (dir: string, killAt = 0) =>
    new Promise<{ stdout: string; signal: NodeJS.Signals | null }>((resolve, reject) =>
      execFile(process.execPath, ['test/fixtures/train-kill-run.mjs', dir, String(killAt)], { encoding: 'utf8' }, (err, stdout, stderr) => {
        const e = err as (Error & { signal?: NodeJS.Signals }) | null;
        if (e && e.signal !== 'SIGKILL') reject(new Error(`training run failed: ${stderr}`));
        else resolve({ stdout, signal: e?.signal ?? null });
      }),
    );

  test('killed before each write, rename and removal of the epoch-2 checkpoint, bnn-style training resumes from the last complete epoch and ends with the weights of an uninterrupted run', { timeout: 400_000 }, async () => {
    const straightDir = tempDir('bnn-train-straight-');
    const straight = await trainRun(straightDir);
    const steps = straight.stdout.split('\n').filter((l) => l.startsWith('step ')).map((l) => l.replace(/^step \d+ /, ''));
    const commits = steps.flatMap((s, i) => (/^rename .*latest\.tmp-\d+ -> .*latest$/.test(s) ? [i + 1] : []));
    expect(commits).toHaveLength(3);
    const expected = (await loadCheckpoint(straightDir))!;
    // Epoch 2's save: every step after the first checkpoint's commit up to the second's, and the removal after it.
    for (let k = commits[0] + 1; k <= commits[1] + 1; k++) {
      const dir = tempDir('bnn-train-kill-');
      expect((await trainRun(dir, k)).signal, `killed before step ${k} (${steps[k - 1]})`).toBe('SIGKILL');
      const complete = commits.filter((c) => c < k).length;
      const resumed = await trainRun(dir);
      expect(resumed.stdout, `kill before step ${k} (${steps[k - 1]})`).toMatch(new RegExp(`^start ${complete}\\n`));
      const got = (await loadCheckpoint(dir))!;
      expect(got.epoch).toBe(3);
      expect(got.state.iterations).toBe(expected.state.iterations);
      for (const [name, w] of expected.model.spec.weights) expectExact(got.model.weight(name).data, w.data, `${name} after a kill before step ${k} (${steps[k - 1]})`);
      for (const [i, s] of expected.state.states.entries()) expectExact(got.state.states[i].data, s.data, `optimizer state ${s.param}:${s.name} after a kill before step ${k}`);
    }
  });
});

function smallCheckpoint(epoch: number): Checkpoint {
  return {
    epoch,
    run: { model: 'test', seed: 1, batchSize: 10, epochs: 3, optimizer: { kind: 'adam' } },
    model: mnistMlp({ hidden: [8], seed: epoch }),
    state: { optimizer: 'adam', iterations: epoch * 10, states: [{ param: 'p', name: 'm', data: new Float32Array([epoch, 2, 3]) }] },
  };
}

describe('checkpoints on a full disk', () => {
  test('a write failing with ENOSPC at any step of a save leaves no partial files, a TrainError saying the previous checkpoint is intact, and that checkpoint current', async () => {
    const probe = tempDir('bnn-ckpt-steps-');
    const steps: string[] = [];
    await saveCheckpoint(probe, smallCheckpoint(1));
    await saveCheckpoint(probe, smallCheckpoint(2), { onStep: (s) => void steps.push(s) });
    const failing = steps.filter((s) => !s.startsWith('remove ')); // after the pointer's rename the save has succeeded
    expect(failing.length).toBeGreaterThanOrEqual(6);
    for (let k = 0; k < failing.length; k++) {
      const dir = tempDir('bnn-ckpt-full-');
      await saveCheckpoint(dir, smallCheckpoint(1));
      const before = readdirSync(dir).sort();
      let n = 0;
      const enospc = () => {
        if (n++ === k) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      };
      const err = await saveCheckpoint(dir, smallCheckpoint(2), { onStep: enospc }).then(() => null, (e: unknown) => e);
      expect(err, `ENOSPC at ${failing[k]}`).toBeInstanceOf(TrainError);
      expect((err as Error).message).toMatch(/checkpoint of epoch 2 in .*: the disk is full \(ENOSPC\); its partial files were removed, the previous checkpoint \(epoch-0001-\d+-\d+\) is intact/);
      expect(readdirSync(dir).sort(), `no leftovers after ENOSPC at ${failing[k]}`).toEqual(before);
      const current = (await loadCheckpoint(dir))!;
      expect(current.epoch).toBe(1);
      expectExact(current.state.states[0].data, new Float32Array([1, 2, 3]), 'the previous optimizer state');
    }
  });

  test('a failed atomic write removes its temporary file and leaves the old file as it was', async () => {
    const dir = tempDir('bnn-atomic-');
    const file = join(dir, 'out.npy');
    writeFileSync(file, 'old');
    await expect(writeFileAtomic(file, 'new', { onStep: (s) => {
      if (s.startsWith('rename')) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    } })).rejects.toThrow(/ENOSPC/);
    expect(readdirSync(dir)).toEqual(['out.npy']);
    await expect(writeFileAtomic(dir, 'x')).rejects.toThrow(OutputPathError);
    await expect(writeFileAtomic(dir, 'x')).rejects.toThrow(/is a directory; name a file to write/);
    expect(readdirSync(dir)).toEqual(['out.npy']);
  });
});

describe('checkpoint layout', () => {
  test('a checkpoint in the single-directory layout of earlier versions is still resumed', async () => {
    const dir = tempDir('bnn-ckpt-legacy-');
    await saveCheckpoint(dir, smallCheckpoint(2));
    const [name] = readdirSync(dir).filter((e) => e.startsWith('epoch-'));
    // Earlier versions wrote the files straight into DIR.
    const legacy = join(dir, 'legacy');
    mkdirSync(legacy);
    for (const f of readdirSync(join(dir, name))) writeFileSync(join(legacy, f), readFileSync(join(dir, name, f)));
    expect((await loadCheckpoint(legacy))!.epoch).toBe(2);
  });

  test('a pointer naming a missing or foreign directory is a TrainError naming the pointer file', async () => {
    const dir = tempDir('bnn-ckpt-pointer-');
    writeFileSync(join(dir, 'latest'), 'epoch-0004-1-1\n');
    await expect(loadCheckpoint(dir)).rejects.toThrow(/latest names epoch-0004-1-1, which is missing/);
    writeFileSync(join(dir, 'latest'), '../../etc\n');
    await expect(loadCheckpoint(dir)).rejects.toThrow(/latest: names "..\/..\/etc", not a checkpoint directory/);
  });
});

describe('output directories', () => {
  test('an output directory that cannot be written is refused before any work, with the reason', async () => {
    const dir = tempDir('bnn-out-');
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    await expect(ensureWritableDirectory(join(file, 'checkpoint'), '--out x')).rejects.toThrow(/--out x: .*cannot be created \(ENOTDIR\)/);
    await expect(ensureWritableDirectory(file, '--out x')).rejects.toThrow(/exists and is not a directory/);
    // A place nobody may write: a directory made read-only (for root, who writes anywhere, /sys).
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    const readOnly = process.getuid?.() === 0 ? '/sys/bnn-test' : ro;
    await expect(ensureWritableDirectory(join(readOnly, 'checkpoint'), '--out ro')).rejects.toThrow(OutputPathError);
    await expect(ensureWritableDirectory(join(readOnly, 'checkpoint'), '--out ro')).rejects.toThrow(/--out ro: .* cannot be created \((EACCES|EPERM|EROFS)\)/);
    // bnn train refuses such an --out before it loads data or a GPU (in well under a second of work).
    const train = await new Promise<{ stderr: string; code: number | null }>((resolve) =>
      execFile(process.execPath, ['dist/src/cli/bnn.js', 'train', 'mnist-mlp', '--epochs', '1', '--limit', '100', '--out', file], { encoding: 'utf8' }, (e, _out, stderr) => resolve({ stderr, code: (e as { code?: number } | null)?.code ?? 0 })),
    );
    expect(train.code).not.toBe(0);
    expect(train.stderr).toMatch(/--out .*a-file: .*a-file\/checkpoint cannot be created \(ENOTDIR\)/);
    expect(train.stderr).not.toMatch(/training mnist-mlp|epoch 1/);
    await ensureWritableDirectory(join(dir, 'new', 'checkpoint'));
    expect(existsSync(join(dir, 'new', 'checkpoint'))).toBe(true);
    expect(readdirSync(join(dir, 'new', 'checkpoint'))).toEqual([]);
  });
});
