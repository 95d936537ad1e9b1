/**
 * A run's note (markdown, rendered without raw HTML by Markdown), who wrote it and when; operators edit or
 * remove it in place (PUT /runs/:runId/note, at most 10,000 characters, checked by the server).
 */
import { useState } from "react";
import type { RunDetail } from "../api";
import { useCanOperate } from "../auth";
import { fmtTimeTz } from "../format";
import { useSetRunNote } from "../queries/useSetRunNote";
import { ErrorBox } from "./ErrorBox";
import { Markdown } from "./Markdown";

export function RunNote({ run }: { run: RunDetail }) {
  const canOperate = useCanOperate();
  const save = useSetRunNote(run.runId);
  const [draft, setDraft] = useState<string | null>(null);
  const note = run.note?.note ?? null;
  if (draft !== null)
    return (
      <form
        className="card"
        aria-label="Edit the run's note"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate(draft, { onSuccess: () => setDraft(null) });
        }}
      >
        <label>
          Note <span className="muted small">(markdown)</span>
          <textarea name="note" rows={5} value={draft} onChange={(e) => setDraft(e.target.value)} />
        </label>
        {save.error && <ErrorBox error={save.error} />}
        <button type="submit" className="primary" disabled={save.isPending}>
          Save note
        </button>{" "}
        <button type="button" onClick={() => setDraft(null)}>
          Cancel
        </button>
      </form>
    );
  return (
    <div data-testid="run-note">
      {note ? (
        <>
          <div className="note-text">
            <Markdown text={note} />
          </div>
          <p className="muted small">
            by {run.note!.updatedBy}, {fmtTimeTz(run.note!.updatedAt)}
          </p>
        </>
      ) : (
        <p className="muted small">No note.</p>
      )}
      {canOperate && (
        <button type="button" onClick={() => setDraft(note ?? "")}>
          {note ? "Edit note" : "Add a note"}
        </button>
      )}
    </div>
  );
}
