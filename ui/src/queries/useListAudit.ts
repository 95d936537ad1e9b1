import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

export interface AuditFilters {
  user?: string;
  dagId?: string;
  action?: string;
  since?: string;
  limit?: number;
  cursor?: string;
}

/** One page of the audit log with the filters, newest first (GET /audit). */
export function useListAudit(filters: AuditFilters) {
  return useQuery({ queryKey: keys.audit(filters), queryFn: () => api.audit(filters) });
}
