// The layer kinds' table (src/layers/) is whole whichever module a program imports first: the
// records reach into the trainer and the training reference, which reach back into the table, so
// an import cycle evaluated in the wrong order would leave kinds out (a builder or a kind missing
// at run time, though every type checks). This file imports the training reference first.
import { describe, expect, it } from 'vitest';
import { TRAINING_REFERENCES } from '../src/model/reference-training.js';
import { LAYER_KINDS } from '../src/layers/index.js';
import { layers } from '../src/model/model.js';

describe('the layer kinds', () => {
  it('every kind is in the table under its class name, with a builder named as TF.js names it', () => {
    expect(Object.keys(TRAINING_REFERENCES).length).toBeGreaterThan(0);
    const kinds = Object.entries(LAYER_KINDS);
    expect(kinds.length).toBeGreaterThanOrEqual(18);
    for (const [name, kind] of kinds) {
      expect(kind.className, name).toBe(name);
      if (name === 'Quantizer') continue;
      const builder = name[0].toLowerCase() + name.slice(1).replace(/2D$/, '2d');
      expect(typeof (layers as Record<string, unknown>)[builder], builder).toBe('function');
    }
  });

  it('every kind that trains has its training reference', () => {
    for (const [name, kind] of Object.entries(LAYER_KINDS)) if (kind.train) expect(kind.trainReference?.(), name).toBeDefined();
  });
});
