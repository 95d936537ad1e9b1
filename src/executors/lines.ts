/**
 * A process's stdout or stderr as whole lines for the attempt log. Whole lines, because a secret cut in
 * two by a pipe chunk would escape the masker; bounded, because a process that prints 30 MB without a
 * newline must not hold (and re-scan) 30 MB per chunk: past MAX_LINE_CHARS a line is written in pieces of
 * that size. Bytes are decoded as a stream, so a UTF-8 character split across chunks stays whole.
 */
import { StringDecoder } from "node:string_decoder";

/** The longest line held before it is written in pieces (characters). */
export const MAX_LINE_CHARS = 1024 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private parts: string[] = [];
  private held = 0;

  constructor(private readonly emit: (line: string) => void) {}

  push(chunk: Buffer): void {
    let text = this.decoder.write(chunk);
    for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n")) {
      this.parts.push(text.slice(0, nl));
      this.emit(this.take());
      text = text.slice(nl + 1);
    }
    while (this.held + text.length > MAX_LINE_CHARS) {
      const room = MAX_LINE_CHARS - this.held;
      this.parts.push(text.slice(0, room));
      this.emit(this.take());
      text = text.slice(room);
    }
    if (text) {
      this.parts.push(text);
      this.held += text.length;
    }
  }

  /** The end of the stream: what is left is the last line. */
  end(): void {
    const rest = this.decoder.end();
    if (rest) this.parts.push(rest);
    if (this.parts.length) this.emit(this.take());
  }

  private take(): string {
    const line = this.parts.join("");
    this.parts = [];
    this.held = 0;
    return line;
  }
}
