import { errorMessage } from '../errors.js';

/** One dependency this process needs to do its work; resolves when it is usable, rejects otherwise. */
export type ReadinessCheck = () => Promise<void>;

export interface ReadinessReport<Name extends string> {
  ready: boolean;
  /** `ok`, or why the check failed. */
  checks: Record<Name, string>;
}

const DEFAULT_TIMEOUT_MS = 2000;
const MAX_REASON_LENGTH = 300;

/**
 * Readiness: every check runs at once under its own deadline, so a hung database or Redis makes the
 * probe answer "not ready" in about `timeoutMs` instead of never. Failure reasons are shown to
 * whoever probes, so they are trimmed and stripped of credentials.
 */
export class ReadinessService<Name extends string> {
  constructor(
    private readonly checks: Readonly<Record<Name, ReadinessCheck>>,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {}

  async check(): Promise<ReadinessReport<Name>> {
    const names = Object.keys(this.checks) as Name[];
    const outcomes = await Promise.all(names.map((name) => this.run(this.checks[name])));
    const checks = Object.fromEntries(names.map((name, i) => [name, outcomes[i]])) as Record<Name, string>;
    return { ready: outcomes.every((outcome) => outcome === 'ok'), checks };
  }

  private async run(check: ReadinessCheck): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([check(), deadline]);
      return 'ok';
    } catch (error) {
      return describeFailure(error);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Drops `user:password@` from any URL a driver put into its message. */
function describeFailure(error: unknown): string {
  const message = errorMessage(error)
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1')
    .replace(/\s+/g, ' ')
    .trim();
  return (message || 'failed').slice(0, MAX_REASON_LENGTH);
}
