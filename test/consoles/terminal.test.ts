// The dashboard's serial terminal model: what a getty and a shell write becomes the lines a user
// sees; the keys a user presses become what a serial line carries.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

interface Screen { lines: string[]; write(text: string): void }
interface TerminalModule {
  TerminalScreen: new () => Screen;
  keyBytes(e: { key: string; ctrlKey: boolean; altKey: boolean; metaKey: boolean }): string | null;
}
// The dashboard's sources are the web app's project (dashboard/tsconfig.json), not this one's: loaded by URL, through tsx.
const { keyBytes, TerminalScreen } = (await import(new URL('../../dashboard/src/console/terminal.ts', import.meta.url).href)) as TerminalModule;

const key = (k: string, mods: Partial<{ ctrlKey: boolean; altKey: boolean; metaKey: boolean }> = {}) =>
  keyBytes({ key: k, ctrlKey: false, altKey: false, metaKey: false, ...mods });

describe('the serial console terminal', () => {
  it('draws carriage returns, line feeds, backspaces and tabs; drops escape sequences, even split', () => {
    const t = new TerminalScreen();
    t.write('\r\nvm login: roo');
    t.write('x\b \bt\r\n/ # \x1b[6');
    t.write('n\x1b[1;32mecho\x1b[0m\thi\r\nover\rOV');
    assert.deepEqual(t.lines, ['', 'vm login: root', '/ # echo        hi', 'OVer']);
  });

  it('keeps a bounded screen: long lines wrap, old lines scroll away', () => {
    const t = new TerminalScreen();
    t.write('x'.repeat(400));
    assert.deepEqual(t.lines.map((l) => l.length), [160, 160, 80]);
    for (let i = 0; i < 1500; i++) t.write(`line ${i}\r\n`);
    assert.equal(t.lines.length, 1000);
    assert.equal(t.lines.at(-2), 'line 1499');
  });

  it('sends keys as a VT100 does', () => {
    assert.equal(key('a'), 'a');
    assert.equal(key('Enter'), '\r');
    assert.equal(key('Backspace'), '\x7f');
    assert.equal(key('ArrowUp'), '\x1b[A');
    assert.equal(key('c', { ctrlKey: true }), '\x03');
    assert.equal(key('x', { altKey: true }), '\x1bx');
    assert.equal(key('Shift'), null);
    assert.equal(key('v', { metaKey: true }), null);
  });
});
