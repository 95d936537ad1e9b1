/**
 * Text from tasks (log lines, error messages, descriptions) printed to a terminal or a downloaded file:
 * one stored line must stay one printed line, and the terminal must not obey escapes a task wrote. A CR
 * or LF inside a line would print a second, real-looking line ("2026-… ERROR all good"); ESC and the C1
 * controls start ANSI/OSC sequences (colours, cursor moves, window titles, hyperlinks, clipboard writes).
 * Every control character but TAB is shown as its escape (`\r`, `\n`, `\x1b`, `\u009b`) instead.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g;

const NAMED: Record<string, string> = { "\r": "\\r", "\n": "\\n", "\b": "\\b", "\f": "\\f", "\v": "\\v", "\0": "\\0" };

export function escapeControls(text: string): string {
  return text.replace(CONTROL, (ch) => {
    const named = NAMED[ch];
    if (named) return named;
    const code = ch.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
