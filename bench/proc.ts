import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Resource use of processes on this machine, read from /proc: resident memory (VmRSS, and the
 * kernel's high-water mark VmHWM) and CPU time (utime + stime). Linux only; elsewhere the
 * numbers are absent rather than wrong.
 */

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux port that matters). */
const CLOCK_TICKS = 100;

export interface ProcSample {
  rssBytes: number;
  hwmBytes: number;
  cpuSeconds: number;
}

export function readProc(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat; here indices 11 and 12.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM'), cpuSeconds: ticks / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/** Resets the process's peak RSS to its current RSS (clear_refs "5"), so a peak is per scenario. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface ResourceUse {
  /** Highest resident set seen during the measurement, summed over the processes (MB). */
  peakRssMb: number;
  /** Resident set at the end (MB). */
  endRssMb: number;
  /** CPU time (user + system) the processes spent during the measurement. */
  cpuSeconds: number;
}

/**
 * Measures a set of processes over a scenario: peak RSS (the kernel's high-water mark after a
 * reset, and sampled RSS where the reset is not allowed) and CPU seconds spent.
 */
export class ResourceMeter {
  private readonly start = new Map<number, ProcSample>();
  private readonly peak = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly exactPeak: boolean;

  constructor(private readonly pids: number[], sampleMs = 250) {
    this.exactPeak = pids.every((pid) => resetPeak(pid));
    for (const pid of pids) {
      const s = readProc(pid);
      if (s) {
        this.start.set(pid, s);
        this.peak.set(pid, s.rssBytes);
      }
    }
    this.timer = setInterval(() => this.sample(), sampleMs);
    this.timer.unref();
  }

  private sample(): void {
    for (const pid of this.pids) {
      const s = readProc(pid);
      if (s) this.peak.set(pid, Math.max(this.peak.get(pid) ?? 0, s.rssBytes, this.exactPeak ? s.hwmBytes : 0));
    }
  }

  /** Stops and returns what the processes used since the meter was made; null when nothing could be read. */
  stop(): ResourceUse | null {
    clearInterval(this.timer);
    this.sample();
    let peak = 0;
    let end = 0;
    let cpu = 0;
    let any = false;
    for (const pid of this.pids) {
      const s = readProc(pid);
      const s0 = this.start.get(pid);
      if (!s || !s0) continue;
      any = true;
      peak += this.peak.get(pid) ?? s.rssBytes;
      end += s.rssBytes;
      cpu += s.cpuSeconds - s0.cpuSeconds;
    }
    if (!any) return null;
    const mb = (b: number): number => Math.round((b / 1024 / 1024) * 10) / 10;
    return { peakRssMb: mb(peak), endRssMb: mb(end), cpuSeconds: Math.round(cpu * 100) / 100 };
  }
}
