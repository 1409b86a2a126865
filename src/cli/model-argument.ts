// A model named on the command line: a path (model.json, its directory, a Keras file) or the name of
// a model shipped with the package (models/<name>/). A path that exists wins over a name.
import { existsSync } from 'node:fs';
import { isModelName, locateShippedModel, UnknownModelError } from '../io/shipped-models.js';
import { UsageError, closest, type Flags } from './flags.js';

/** `value` as a path to load: itself when it exists, else the shipped model's directory; else a UsageError naming the shipped models. */
export async function resolveModelArgument(value: string, what = '--model'): Promise<string> {
  if (existsSync(value) || !isModelName(value)) return value;
  try {
    return await locateShippedModel(value);
  } catch (e) {
    if (!(e instanceof UnknownModelError)) throw e;
    const near = closest(value, e.shipped);
    throw new UsageError(`${what} ${value}: no such file or directory, and no shipped model of that name${near ? ` (did you mean ${near}?)` : ''}; ${e.shipped.length ? `the shipped models are ${e.shipped.join(', ')}` : 'no model is shipped'}`);
  }
}

/** Replaces the --model flag's value by the path it resolves to (before any command reads it). */
export async function resolveModelFlag(flags: Flags): Promise<void> {
  const value = flags.values.get('model');
  if (value !== undefined) flags.values.set('model', await resolveModelArgument(value));
}
