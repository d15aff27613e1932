import { Writable } from 'node:stream';

/**
 * A terminal screen for tests of what a user sees: a TTY stream that applies the cursor movements,
 * line and screen erases the progress bars write (CSI A/B/C/D/G/K/J), so `lines()` is the screen
 * as a terminal would show it, not the concatenation of everything written.
 */
export class Screen extends Writable {
  readonly isTTY = true;
  /** Everything written, escapes included. */
  written = '';
  private readonly rows: string[][] = [[]];
  private row = 0;
  private col = 0;

  constructor(readonly columns = 120) {
    super({ decodeStrings: false });
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.written += String(chunk);
    this.apply(String(chunk));
    done();
  }

  /** The screen's lines, trailing blanks trimmed. */
  lines(): string[] {
    const lines = this.rows.map((cells) => cells.join('').trimEnd());
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines;
  }

  private apply(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const char = text[i] as string;
      if (char === '\x1b' && text[i + 1] === '[') {
        const match = /^\[(\??)([\d;]*)([A-Za-z])/.exec(text.slice(i + 1));
        if (!match) continue;
        i += match[0].length;
        if (match[1] !== '?') this.control(match[3] as string, Number(match[2] || '0'));
      } else if (char === '\r') this.col = 0;
      else if (char === '\n') this.moveTo(this.row + 1, 0);
      else this.put(char);
    }
  }

  private control(command: string, n: number): void {
    const count = Math.max(1, n);
    if (command === 'A') this.moveTo(Math.max(0, this.row - count), this.col);
    else if (command === 'B') this.moveTo(this.row + count, this.col);
    else if (command === 'C') this.col += count;
    else if (command === 'D') this.col = Math.max(0, this.col - count);
    else if (command === 'G') this.col = Math.max(0, count - 1);
    else if (command === 'K') this.eraseLine(n);
    else if (command === 'J' && n === 0) {
      this.eraseLine(0);
      this.rows.length = this.row + 1;
    }
  }

  private eraseLine(mode: number): void {
    const cells = this.line();
    if (mode === 0) cells.length = Math.min(cells.length, this.col);
    else if (mode === 1) for (let c = 0; c <= this.col && c < cells.length; c++) cells[c] = ' ';
    else cells.length = 0;
  }

  private moveTo(row: number, col: number): void {
    this.row = row;
    this.col = col;
    while (this.rows.length <= row) this.rows.push([]);
  }

  private line(): string[] {
    return this.rows[this.row] as string[];
  }

  private put(char: string): void {
    const cells = this.line();
    while (cells.length < this.col) cells.push(' ');
    cells[this.col] = char;
    this.col++;
  }
}
