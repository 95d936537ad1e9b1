import { ApiError } from "../api";

/** An API or network error, as text. */
export function ErrorBox({ error }: { error: Error }) {
  return (
    <p className="error" role="alert">
      {error instanceof ApiError ? `${error.code}: ${error.message}` : error.message}
    </p>
  );
}
