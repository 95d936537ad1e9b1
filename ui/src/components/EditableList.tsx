/**
 * The shell of a page that lists records admins add and edit in place (connections, variables): the
 * title and intro, an "add" button, the form for a new or an existing record, the table, and its empty
 * and loading states. The page supplies the columns, the rows and the form.
 */
import { useState, type ReactNode } from "react";
import type { UseQueryResult } from "@tanstack/react-query";
import { ErrorBox } from "./ErrorBox";

export function EditableList<T>(props: {
  title: string;
  intro: ReactNode;
  addLabel: string;
  isAdmin: boolean;
  list: UseQueryResult<{ items: T[] }>;
  /** Marks the list stale (queries/useList…'s invalidate), after a record was added or changed. */
  invalidate: () => void;
  testId: string;
  columns: string[];
  empty: string;
  /** The form for a new record (null) or `existing`; `onDone` closes it and invalidates the list. */
  form: (existing: T | null, onDone: () => void) => ReactNode;
  /** One row; `onEdit` opens the form for it. */
  row: (item: T, onEdit: () => void) => ReactNode;
}) {
  const { list } = props;
  const [editing, setEditing] = useState<{ item: T | null } | null>(null);
  return (
    <div className="page">
      <h2>{props.title}</h2>
      <p className="muted small">{props.intro}</p>
      {props.isAdmin && editing === null && (
        <div className="actions">
          <button type="button" className="primary" onClick={() => setEditing({ item: null })}>
            {props.addLabel}
          </button>
        </div>
      )}
      {props.isAdmin &&
        editing !== null &&
        props.form(editing.item, () => {
          setEditing(null);
          props.invalidate();
        })}
      {list.error && <ErrorBox error={list.error} />}
      <table className="list" data-testid={props.testId}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
            <th />
          </tr>
        </thead>
        <tbody>{list.data?.items.map((item) => props.row(item, () => setEditing({ item })))}</tbody>
      </table>
      {list.data && list.data.items.length === 0 && <p className="muted">{props.empty}</p>}
      {list.isPending && <p className="muted">Loading…</p>}
    </div>
  );
}
