import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { type Scope, scopeAllows, type WhoamiWire } from './api.js';

/** Who the page is talking as: the key's scope, from `GET /v1/hub/whoami`. */
export const SessionContext = createContext<WhoamiWire | null>(null);

/** Whether the key may do what needs `scope`: actions it may not take are not shown. */
export function useCan(scope: Scope): boolean {
  return scopeAllows(useContext(SessionContext)?.scope ?? null, scope);
}
