// Frame times as the page sees them: the interval between requestAnimationFrame callbacks while
// training runs (a cross-check of the trace's frame events; shown on the Train tab).
export class FrameMonitor {
  private last = 0;
  private handle = 0;
  max = 0;
  count = 0;
  /** Intervals over 50 ms and over 200 ms. */
  over50 = 0;
  over200 = 0;

  start(): void {
    if (this.handle) return;
    this.last = 0;
    const tick = (t: number) => {
      if (this.last) {
        const dt = t - this.last;
        this.max = Math.max(this.max, dt);
        this.count++;
        if (dt > 50) this.over50++;
        if (dt > 200) this.over200++;
      }
      this.last = t;
      this.handle = requestAnimationFrame(tick);
    };
    this.handle = requestAnimationFrame(tick);
  }

  stop(): void {
    cancelAnimationFrame(this.handle);
    this.handle = 0;
  }

  reset(): void {
    this.max = this.count = this.over50 = this.over200 = 0;
    this.last = 0;
  }

  snapshot() {
    return { maxMs: Math.round(this.max * 10) / 10, frames: this.count, over50: this.over50, over200: this.over200 };
  }
}
