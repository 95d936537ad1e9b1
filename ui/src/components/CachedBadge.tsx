/**
 * "cached": an attempt (or the task instance whose last attempt it is) that ran nothing and reused the
 * output of attempt `from`; the badge links to that attempt (/attempts/:id opens its task panel).
 */
import { Link } from "../router";

export function CachedBadge({ from }: { from: number }) {
  return (
    <Link to={`/attempts/${from}`} className="badge badge-cached" data-testid="cached-badge" data-cached-from={from} title={`reused the result of attempt ${from}`}>
      ⟲ cached
    </Link>
  );
}
