/** Who is logged in: the user from /auth/me or /auth/login, and what their role allows. */
import { createContext, useContext } from "react";
import type { User } from "./api";

export interface Session {
  user: User;
  logout: () => void;
  /** The server ended the session (password changed): back to the login page with this message. */
  endSession: (notice: string) => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside a logged-in page");
  return s;
}

/**
 * Operators and admins act (trigger, clear, mark, pause, backfill); viewers only read. A grant of operator
 * on some DAGs shows the actions too: the server decides per DAG (and says so when it refuses).
 */
export function useCanOperate(): boolean {
  const user = useContext(SessionContext)?.user;
  const acts = (r: string | undefined) => r === "operator" || r === "admin";
  return acts(user?.role) || !!user?.grants?.some((g) => acts(g.role));
}
