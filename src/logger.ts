import { type DestinationStream, type Logger, pino } from 'pino';

/** Paths whose values never reach a log line, wherever they appear. */
export const REDACTED_PATHS = [
  'hfToken',
  '*.hfToken',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
  'config.hfToken',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'model-hub' },
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
