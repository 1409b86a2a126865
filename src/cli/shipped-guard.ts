// Commands that write a model of their own (bnn train, bnn recalibrate-bn) write under runs/ by
// default and never into models/, the shipped models: shipping is bnn convert OUT models/NAME --pack
// and scripts/model-card.mjs, on purpose, so no run replaces or litters a shipped model.
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { shippedModelsDir } from '../io/shipped-models.js';
import { UsageError } from './flags.js';

/** Where `bnn train` and `bnn recalibrate-bn` write by default: runs/NAME (gitignored). */
export const RUNS_DIR = 'runs';

/** A UsageError when `out` is inside the package's models/ directory (symbolic links followed). */
export async function refuseShippedDirectory(out: string): Promise<void> {
  // Without a models directory to find (no package.json above the modules), there is nothing to protect.
  const dir = await shippedModelsDir().catch(() => null);
  if (dir === null) return;
  const shipped = await realpath(dir).catch(() => resolve(dir));
  // The nearest existing ancestor decides (out itself may not exist yet).
  let probe = resolve(out);
  let suffix = '';
  for (;;) {
    const r = await realpath(probe).catch(() => null);
    if (r !== null) {
      probe = join(r, suffix);
      break;
    }
    suffix = join(basename(probe), suffix);
    const up = dirname(probe);
    if (up === probe) break;
    probe = up;
  }
  if (probe === shipped || probe.startsWith(shipped + sep)) {
    throw new UsageError(`--out ${out} is inside ${shipped}, where the shipped models live (tracked by git, in the npm package); write into another directory (default ${join(RUNS_DIR, 'MODEL')}), then ship with bnn convert OUT ${join('models', 'NAME')} --pack and scripts/model-card.mjs (docs/training.md, "Shipping a model")`);
  }
}
