/**
 * Newer / Older buttons over keyset pages: `cursors` is the stack of cursors of the pages seen before the
 * current one (empty: the first page), `next` the cursor the API gave for the page after it.
 */
export function CursorPager({ cursors, next, onChange }: { cursors: string[]; next: string | null | undefined; onChange: (cursors: string[]) => void }) {
  return (
    <div className="filters">
      {cursors.length > 0 && (
        <button type="button" onClick={() => onChange(cursors.slice(0, -1))}>
          Newer
        </button>
      )}
      {next && (
        <button type="button" onClick={() => onChange([...cursors, next])}>
          Older
        </button>
      )}
    </div>
  );
}
