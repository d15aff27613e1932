/**
 * A number that moves whenever the database may have changed, as far as this process can tell, so
 * that an answer computed from it can be sent again for as long as the number stays the same
 * (http/response-cache.ts). It moves:
 * - after each write of this process that changed rows, and after each transaction that did ends
 *   (the drivers' wrappers report them: sqlite-statements.ts, pg-rows.ts), so a client reads its own
 *   writes at once;
 * - on SQLite, when `PRAGMA data_version` moves: another connection (a CLI command) committed;
 * - on PostgreSQL, on each notification that another process changed a table the cached answers
 *   read (pg-change-listener.ts). While that listener is not connected, changes could go unseen:
 *   `current()` is then undefined and nothing may be reused.
 *
 * It moves after the change is visible, never before, so an answer read before a change is filed
 * under a number that is already out of date.
 */
export class ChangeCounter {
  private count = 0;
  private blinded = false;
  private readExternal: (() => unknown) | undefined;
  private lastExternal: unknown;

  /** A change of this process or a notified one has been committed. */
  changed(): void {
    this.count++;
  }

  /** Another process's commits show in what `read` returns (SQLite's `data_version`). */
  followExternal(read: () => unknown): void {
    this.readExternal = read;
    this.lastExternal = read();
  }

  /** Changes may go unseen from now until `see()`. */
  blind(): void {
    this.blinded = true;
  }

  /** Changes are seen again; whatever happened meanwhile counts as a change. */
  see(): void {
    this.blinded = false;
    this.count++;
  }

  /** The current number, or undefined while changes cannot be seen. */
  current(): number | undefined {
    if (this.blinded) return undefined;
    if (this.readExternal !== undefined) {
      const external = this.readExternal();
      if (external !== this.lastExternal) {
        this.lastExternal = external;
        this.count++;
      }
    }
    return this.count;
  }
}
