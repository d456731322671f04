/**
 * The local AWS's notion of time. `manual` (tests): time moves only when advanced, so image builds
 * and pending copies progress exactly when a test says. `real` (demo): wall-clock time.
 */
export interface EmulatorClock {
  readonly kind: "manual" | "real";
  now(): number;
}

export class ManualClock implements EmulatorClock {
  readonly kind = "manual";
  private current: number;

  constructor(start: number = Date.now()) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  /** Moves time to `to` (never backwards). */
  set(to: number): void {
    if (to > this.current) this.current = to;
  }
}

export class RealClock implements EmulatorClock {
  readonly kind = "real";
  now(): number {
    return Date.now();
  }
}
