/**
 * A progress bar on stderr. On a terminal it redraws one line (at most ten times a second);
 * otherwise (CI logs, files) it prints a line at each quarter and at the end, so logs stay short.
 */

export interface ProgressSink {
  start(label: string, total: number): Progress;
  /** A message between bars (phase changes, skipped scenarios). */
  note(text: string): void;
}

export interface Progress {
  /** Sets how many of the total are done, with an optional short status. */
  update(done: number, status?: string): void;
  finish(status?: string): void;
}

export function stderrProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): ProgressSink {
  const tty = stream.isTTY === true;
  return {
    note(text) {
      if (!quiet) stream.write(`${text}\n`);
    },
    start(label, total) {
      if (quiet) return { update() {}, finish() {} };
      const started = Date.now();
      let lastDraw = 0;
      let lastQuarter = -1;
      const line = (done: number, status: string): string => {
        const frac = total > 0 ? Math.min(1, done / total) : 1;
        const width = 30;
        const filled = Math.round(frac * width);
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${secs}s${status ? ` ${status}` : ''}`;
      };
      return {
        update(done, status = '') {
          if (tty) {
            const t = Date.now();
            if (t - lastDraw < 100) return;
            lastDraw = t;
            const cols = stream.columns ?? 100;
            stream.write(`\r${line(done, status).slice(0, cols - 1)}\x1b[K`);
          } else {
            const quarter = total > 0 ? Math.floor((4 * done) / total) : 4;
            if (quarter > lastQuarter && quarter < 4) {
              lastQuarter = quarter;
              stream.write(`${line(done, status)}\n`);
            }
          }
        },
        finish(status = '') {
          const text = line(total, status);
          stream.write(tty ? `\r${text}\x1b[K\n` : `${text}\n`);
        },
      };
    },
  };
}

/** A sink that shows nothing (the smoke test, --quiet). */
export const silentProgress: ProgressSink = stderrProgress(process.stderr, true);
