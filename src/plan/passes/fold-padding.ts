// Pass 2: zero padding folded into the convolution after it. A ZeroPadding2D of p on every side, read
// by one convolution alone (stride 1, 'valid', a window of 2p + 1 taps including dilation) and not
// kept, is that convolution with TensorFlow's 'same' padding, its border worth what the convolution
// makes of a 0: 0 without an input quantizer (Larq's pad_values 0), +1 through a sign quantizer
// (sign(0) = +1: pad_values 1). The padding then costs nothing: no float round trip of a binary
// layer's input. Borders a quantizer maps elsewhere (-1, k-bit levels) are left as they are.
import type { LayerSpec } from '../../model/layer-config.js';
import { kindOf } from '../../layers/index.js';
import { quantizersOf } from '../../layers/traits.js';
import { consumersOf, type Graph } from './graph.js';

/** What the convolution's input quantizer makes of a zero: 0, 1 (+1), or null when no pad_values can say it. */
function borderOf(conv: LayerSpec): 0 | 1 | null {
  const q = quantizersOf(conv).input;
  if (!q) return 0;
  const z = q.forward(new Float32Array(1), [1, 1])[0];
  if (z !== 0 && z !== 1) return null;
  // Conv2D has no pad_values: only a 0 border (it has no quantizer anyway).
  return z === 0 || 'pad_values' in conv.config ? z : null;
}

export function foldPadding(g: Graph): { graph: Graph; folded: Map<string, string> } {
  const consumers = consumersOf(g.spec);
  const rewritten = new Map<string, LayerSpec>(); // conv name -> conv reading the padding's input
  const folded = new Map<string, string>(); // padding name -> conv name
  for (const l of g.spec.layers) {
    const pad = kindOf(l).borderPadding?.(l.config);
    if (!pad || g.keep.has(l.name)) continue;
    const [[t, b], [le, r]] = pad;
    const cs = consumers.get(l.name)!;
    if (t !== b || le !== r || cs.length !== 1 || kindOf(cs[0]).product !== 'conv') continue;
    const conv = cs[0];
    const c = conv.config as { kernel_size: [number, number]; strides: [number, number]; dilation_rate: [number, number]; padding: string; pad_values?: number };
    const fits = c.padding === 'valid' && c.strides.every((s) => s === 1) && (c.kernel_size[0] - 1) * c.dilation_rate[0] === 2 * t && (c.kernel_size[1] - 1) * c.dilation_rate[1] === 2 * le;
    const border = fits ? borderOf(conv) : null;
    if (border === null) continue;
    const config = { ...c, padding: 'same', ...('pad_values' in c || border !== 0 ? { pad_values: border } : {}) };
    rewritten.set(conv.name, { ...conv, config, inbound: l.inbound } as LayerSpec);
    folded.set(l.name, conv.name);
  }
  if (folded.size === 0) return { graph: g, folded };
  const layers = g.spec.layers.filter((l) => !folded.has(l.name)).map((l) => rewritten.get(l.name) ?? l);
  return { graph: { ...g, spec: { ...g.spec, layers } }, folded };
}
