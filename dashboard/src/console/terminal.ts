/**
 * A small terminal screen for the serial console: the bytes a guest writes to its ttyS0
 * (carriage returns, backspaces, line feeds, and ANSI escape sequences, which are dropped)
 * become lines of text; the keys a user presses become the bytes a serial line carries. Enough
 * for a getty, a login and a shell; no cursor addressing (a full-screen program shows garbled).
 */

/** Lines kept: the oldest scroll away. */
const MAX_LINES = 1000;
/** Columns per line before it wraps (a serial console's usual width). */
const COLUMNS = 160;

export class TerminalScreen {
  readonly lines: string[] = [''];
  #col = 0;
  /** An escape sequence still being read (it may arrive split across messages). */
  #escape = '';

  /** Applies what the guest wrote. */
  write(text: string): void {
    for (const ch of text) {
      if (this.#escape !== '') {
        this.#escape += ch;
        // CSI: ESC [ params… final byte (@–~); other ESC sequences: one more character.
        if (this.#escape.length === 2 ? ch !== '[' : /[@-~]/.test(ch)) this.#escape = '';
        if (this.#escape.length > 32) this.#escape = '';
        continue;
      }
      if (ch === '\x1b') this.#escape = ch;
      else if (ch === '\r') this.#col = 0;
      else if (ch === '\n') this.#newline();
      else if (ch === '\b') this.#col = Math.max(0, this.#col - 1);
      else if (ch === '\t') this.#put(' '.repeat(8 - (this.#col % 8)));
      else if (ch >= ' ' && ch !== '\x7f') this.#put(ch);
    }
  }

  get text(): string {
    return this.lines.join('\n');
  }

  #put(s: string): void {
    for (const ch of s) {
      if (this.#col >= COLUMNS) this.#newline();
      const line = this.lines[this.lines.length - 1]!;
      this.lines[this.lines.length - 1] = line.slice(0, this.#col).padEnd(this.#col, ' ') + ch + line.slice(this.#col + 1);
      this.#col++;
    }
  }

  #newline(): void {
    this.lines.push('');
    this.#col = 0;
    if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
  }
}

/** Keys that are not characters, as a VT100 sends them. */
const KEYS: Readonly<Record<string, string>> = {
  Enter: '\r', Backspace: '\x7f', Tab: '\t', Escape: '\x1b',
  ArrowUp: '\x1b[A', ArrowDown: '\x1b[B', ArrowRight: '\x1b[C', ArrowLeft: '\x1b[D', Home: '\x1b[H', End: '\x1b[F', Delete: '\x1b[3~',
};

/** The bytes a key press sends down the serial line, or null for a key that sends none. */
export function keyBytes(e: { key: string; ctrlKey: boolean; altKey: boolean; metaKey: boolean }): string | null {
  if (e.metaKey) return null;
  if (e.ctrlKey && e.key.length === 1) {
    const c = e.key.toUpperCase().charCodeAt(0);
    // Ctrl+A … Ctrl+Z and Ctrl+[ \ ] ^ _ are the control characters 1–31.
    return c >= 64 && c <= 95 ? String.fromCharCode(c - 64) : null;
  }
  if (Object.hasOwn(KEYS, e.key)) return KEYS[e.key]!;
  if (e.key.length === 1) return e.altKey ? `\x1b${e.key}` : e.key;
  return null;
}
