// The graph after each of the compiler's passes, as text: what `bnn summary MODEL --plan` prints
// before the steps, so a user can see why a layer took the kernels it took (its kernel path and reason).
import type { ModelSpec } from '../../model/tfjs-format.js';
import { describeGraph } from './graph.js';
import { runPasses, type PassOptions } from './pipeline.js';
import type { KernelPath } from '../kernel-path.js';

export function describePasses(model: ModelSpec, options: PassOptions = {}): string {
  const { graph, source, folded, facts, fusion, paths } = runPasses(model, options);
  const removed = [...source].map(([name, to]) => `${name} -> ${to}`);
  const known = [...facts.levels].filter(([, v]) => v !== 'real');
  return [
    `canonicalize (identity layers removed: ${removed.length ? removed.join(', ') : 'none'}):`,
    `fold padding (ZeroPadding2D taken by the convolution after it as its border): ${[...folded].map(([p, c]) => `${p} -> ${c}`).join(', ') || 'none'}`,
    describeGraph(graph),
    `value facts (values read only through their sign, so they may travel as bits): ${[...facts.signOnly].join(', ') || 'none'}`,
    `value facts (levels of the values known to be quantized): ${known.map(([n, v]) => `${n} ${v}`).join(', ') || 'none'}`,
    `fusions (BatchNormalization folded into the linear layer before it): ${[...fusion.foldedInto].map(([l, bn]) => `${bn.name} -> ${l}`).join(', ') || 'none'}`,
    `kernel paths (one decision per linear layer; the trainer maps the same decision):`,
    describeKernelPaths(paths),
  ].join('\n');
}

/** One line per linear layer: its kernel path (kernel-path.ts), the detail, and the reason. */
export function describeKernelPaths(paths: ReadonlyMap<string, KernelPath>): string {
  if (paths.size === 0) return '  none (no linear layer)';
  const detail = (p: KernelPath) => ('weights' in p ? ` (${p.weights} weights)` : 'bits' in p ? ` (${p.bits.join(' x ')} bits)` : '');
  return [...paths].map(([name, p]) => `  ${name}: ${p.kind}${detail(p)}: ${p.reason}`).join('\n');
}
