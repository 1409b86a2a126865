// What the tabs share: the GPU session, the current model (trained here or loaded) and one
// compiled inference plan for it, rebuilt when the model or the GPU changes.
import { InferencePlan, describePreprocessing, preprocessor, type Model, type Preprocessing } from 'webgpu-bnn';
import { byId } from './dom.js';
import { GpuSession } from './gpu-session.js';
import { CIFAR10_LABELS, MNIST_LABELS } from './catalog.js';

export class AppState {
  readonly session = new GpuSession();
  model: Model | null = null;
  /** Where the model came from, for the footer ("trained here, 1 epoch", "loaded from model.json"). */
  source = '';
  /** How the model's inputs are made from 8-bit pixels (models trained here: MNIST's pixel/127.5 - 1). */
  preprocessing: Preprocessing = { dataset: 'mnist' };
  version = 0;
  private readonly listeners = new Set<() => void>();
  private cached: { plan: InferencePlan; version: number } | null = null;

  setModel(model: Model, source: string, preprocessing: Preprocessing = { dataset: 'mnist' }): void {
    this.model = model;
    this.source = source;
    this.preprocessing = preprocessing;
    this.version++;
    this.dropPlan();
    byId('model-line').textContent = `Model: ${model.name} (${source}); input ${this.inputShape.join('x')} (${describePreprocessing(preprocessing)}), ${this.labels.length} classes.`;
    for (const f of this.listeners) f();
  }

  onModel(f: () => void): void {
    this.listeners.add(f);
  }

  /** Pixels to the model's inputs, by its preprocessing. */
  get preprocess(): (pixels: Uint8Array, out: Float32Array) => Float32Array {
    return preprocessor(this.preprocessing);
  }

  /** A sample's input shape, e.g. [28, 28, 1] or [32, 32, 3]. */
  get inputShape(): number[] {
    return this.model?.inputs[0].shape ?? [28, 28, 1];
  }

  /** Class names: MNIST digits for 28x28x1 inputs, CIFAR-10's classes for 32x32x3, else numbers. */
  get labels(): string[] {
    const shape = this.model?.spec.layers.at(-1)?.outputShape ?? [10];
    const classes = shape[shape.length - 1];
    const [h, , c] = this.inputShape;
    if (classes === 10 && h === 32 && c === 3) return CIFAR10_LABELS;
    if (classes === 10) return MNIST_LABELS;
    return Array.from({ length: classes }, (_, i) => String(i));
  }

  /** The current model's plan (batch 1) on the live GPU. */
  async plan(): Promise<InferencePlan> {
    if (!this.model) throw new Error('no model yet: train one on the Train tab, or load one (model.json + its .bin files)');
    const gpu = await this.session.acquire();
    if (this.cached && this.cached.version === this.version && this.cached.plan.gpu === gpu) return this.cached.plan;
    this.dropPlan();
    const plan = await InferencePlan.compile(gpu, this.model, { maxBatch: 1 });
    this.cached = { plan, version: this.version };
    return plan;
  }

  dropPlan(): void {
    try {
      this.cached?.plan.destroy();
    } catch {
      // its device may be gone
    }
    this.cached = null;
  }
}
