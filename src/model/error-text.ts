// Values from a file quoted in error messages, safely: bounded in length and in the work done,
// whatever the value (nested 100,000 deep, a 50 MB string, a cycle, a throwing getter).

/** The most characters `show` writes and `clip` keeps. */
const SHOW_CHARS = 60;
const CLIP_CHARS = 200;

/** `s` cut to `max` characters (its start and end kept), saying how long it was. */
export function clip(s: string, max = CLIP_CHARS): string {
  if (s.length <= max) return s;
  const keep = Math.max(8, max - 30);
  return `${s.slice(0, Math.ceil(keep / 2))}...[${s.length.toLocaleString('en-US')} chars]...${s.slice(s.length - Math.floor(keep / 2))}`;
}

/**
 * A value as JSON-like text of at most about SHOW_CHARS characters. Written by a walk that stops
 * as soon as the budget is spent, so its depth and work are bounded by the budget, not the value.
 */
export function show(v: unknown, max = SHOW_CHARS): string {
  let out = '';
  const full = () => out.length > max;
  const put = (s: string) => {
    out += s.length > max + 1 ? s.slice(0, max + 1) : s;
  };
  const walk = (x: unknown): void => {
    if (full()) return;
    if (typeof x === 'string') return put(JSON.stringify(x.length > max ? x.slice(0, max + 1) : x));
    if (typeof x === 'number') return put(Number.isFinite(x) ? JSON.stringify(x) : String(x));
    if (x === null || typeof x === 'boolean' || typeof x === 'undefined') return put(String(x));
    if (typeof x === 'bigint') return put(`${x}n`);
    if (typeof x === 'function' || typeof x === 'symbol') return put(`[${typeof x}]`);
    if (Array.isArray(x)) {
      put('[');
      for (let i = 0; i < x.length && !full(); i++) {
        if (i > 0) put(',');
        walk(x[i]);
      }
      return put(']');
    }
    put('{');
    let first = true;
    for (const k in x as object) {
      if (full()) break;
      if (!Object.prototype.hasOwnProperty.call(x, k)) continue;
      if (!first) put(',');
      first = false;
      put(`${JSON.stringify(k.length > max ? k.slice(0, max + 1) : k)}:`);
      walk((x as Record<string, unknown>)[k]);
    }
    put('}');
  };
  try {
    walk(v);
  } catch {
    out += '[unreadable]';
  }
  return out.length > max ? `${out.slice(0, max - 3)}...` : out;
}
