// The page's one message area: errors (no WebGPU, a wrong model file, a lost GPU) with what to do,
// and optional action buttons.
import { byId, el } from './dom.js';

export interface BannerMessage {
  level: 'error' | 'warn' | 'info';
  title: string;
  text: string;
  actions?: { label: string; run: () => void }[];
  /** A stable name tests and callers use (data-kind). */
  kind: string;
}

export function showBanner(m: BannerMessage): void {
  const banner = byId('banner');
  banner.className = `banner ${m.level}`;
  banner.dataset.kind = m.kind;
  banner.setAttribute('role', m.level === 'error' ? 'alert' : 'status');
  banner.replaceChildren(el('h2', {}, m.title), el('p', {}, m.text));
  if (m.actions?.length) banner.append(el('div', { class: 'actions' }, ...m.actions.map((a) => el('button', { class: 'primary', onclick: a.run }, a.label))));
  banner.hidden = false;
}

export function clearBanner(kind?: string): void {
  const banner = byId('banner');
  if (kind && banner.dataset.kind !== kind) return;
  banner.hidden = true;
  banner.replaceChildren();
  delete banner.dataset.kind;
}

/** An error as one line: its message (a library error already names the cause and the fix). */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
}
