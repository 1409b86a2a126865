// Small SVG charts drawn by hand: a line chart (loss and accuracy per epoch) and a bar chart
// (class probabilities, the top one highlighted).
const SVG = 'http://www.w3.org/2000/svg';

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export interface Series {
  name: string;
  color: string;
  /** [x, y] points, x ascending. */
  points: [number, number][];
  /** Dots at the points (few, e.g. one per epoch) instead of only a line. */
  dots?: boolean;
}

/** A simple nice step for an axis of `span`. */
function niceStep(span: number, ticks: number): number {
  const raw = span / Math.max(1, ticks);
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

export class LineChart {
  readonly svg: SVGSVGElement;
  private readonly W = 460;
  private readonly H = 240;
  private readonly pad = { l: 46, r: 12, t: 24, b: 34 };

  constructor(
    private readonly title: string,
    private readonly xLabel: string,
    private readonly yRange?: [number, number],
    private readonly yFormat: (v: number) => string = (v) => String(+v.toFixed(3)),
  ) {
    this.svg = svgEl('svg', { viewBox: `0 0 ${this.W} ${this.H}`, class: 'chart', role: 'img', 'aria-label': title });
    this.render([], 1);
  }

  /** Redraws with `series` over x in [0, xMax]. */
  render(series: Series[], xMax: number): void {
    const { W, H, pad } = this;
    const all = series.flatMap((s) => s.points);
    let [y0, y1] = this.yRange ?? [Math.min(0, ...all.map((p) => p[1])), Math.max(1e-6, ...all.map((p) => p[1]))];
    if (!this.yRange) y1 = y1 * 1.05;
    if (y1 <= y0) y1 = y0 + 1;
    const x = (v: number) => pad.l + (v / Math.max(xMax, 1e-9)) * (W - pad.l - pad.r);
    const y = (v: number) => H - pad.b - ((v - y0) / (y1 - y0)) * (H - pad.t - pad.b);
    const nodes: SVGElement[] = [svgEl('text', { x: pad.l, y: 15, 'font-weight': 'bold' }, this.title)];
    const yStep = niceStep(y1 - y0, 5);
    for (let v = Math.ceil(y0 / yStep) * yStep; v <= y1 + 1e-9; v += yStep) {
      nodes.push(svgEl('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), stroke: '#e5e8ee' }));
      nodes.push(svgEl('text', { x: pad.l - 4, y: y(v) + 4, 'text-anchor': 'end' }, this.yFormat(v)));
    }
    const xStep = Math.max(1, niceStep(xMax, 8));
    for (let v = 0; v <= xMax + 1e-9; v += xStep) nodes.push(svgEl('text', { x: x(v), y: H - pad.b + 14, 'text-anchor': 'middle' }, String(+v.toFixed(2))));
    nodes.push(svgEl('text', { x: (pad.l + W - pad.r) / 2, y: H - 4, 'text-anchor': 'middle' }, this.xLabel));
    nodes.push(svgEl('path', { d: `M${pad.l},${pad.t} V${H - pad.b} H${W - pad.r}`, fill: 'none', stroke: '#8a93a3' }));
    series.forEach((s, i) => {
      if (s.points.length) {
        const d = s.points.map(([px, py], k) => `${k ? 'L' : 'M'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
        nodes.push(svgEl('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'data-series': s.name }));
        if (s.dots) for (const [px, py] of s.points) nodes.push(svgEl('circle', { cx: x(px), cy: y(py), r: 3, fill: s.color }));
      }
      const lx = pad.l + 8 + i * 130;
      nodes.push(svgEl('rect', { x: lx + 150, y: 8, width: 10, height: 10, fill: s.color }));
      nodes.push(svgEl('text', { x: lx + 164, y: 17 }, s.name));
    });
    this.svg.replaceChildren(...nodes);
  }
}

/** Class probabilities as horizontal bars; the top-1 is highlighted. Returns the svg. */
export function barChart(labels: string[], probs: ArrayLike<number>): SVGSVGElement {
  const rowH = 22;
  const W = 420;
  const labelW = 90;
  const H = labels.length * rowH + 8;
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart bars', role: 'img', 'aria-label': 'class probabilities' });
  let top = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i] > probs[top]) top = i;
  labels.forEach((name, i) => {
    const p = probs[i];
    const yy = 4 + i * rowH;
    const width = Math.max(0, p) * (W - labelW - 60);
    svg.append(
      svgEl('text', { x: labelW - 6, y: yy + 15, 'text-anchor': 'end', 'font-weight': i === top ? 'bold' : 'normal' }, name),
      svgEl('rect', { x: labelW, y: yy + 3, width: width.toFixed(2), height: rowH - 6, fill: i === top ? '#2563eb' : '#9aa4b5', class: i === top ? 'bar top' : 'bar', 'data-p': p }),
      svgEl('text', { x: labelW + width + 4, y: yy + 15 }, `${(100 * p).toFixed(1)}%`),
    );
  });
  return svg;
}
