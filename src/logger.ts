import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Paths whose values never reach a log line, wherever they appear (`*.x` is one level deep, which is
 * how errors, configs and request objects are logged). Messages never carry these values either:
 * errors name the variable, not its value.
 */
export const REDACTED_PATHS = [
  // HF_TOKEN: the config field, the environment variable, any token field
  'hfToken',
  '*.hfToken',
  'HF_TOKEN',
  '*.HF_TOKEN',
  'token',
  '*.token',
  // Authorization (and cookies): on requests to this API and on requests sent upstream
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  'cookie',
  '*.cookie',
  '*.headers.cookie',
  // Webhook signing secrets, also inside a logged request body (`req.body.secret`)
  'secret',
  '*.secret',
  '*.body.secret',
  // SECRETS_KEY: the key that encrypts those secrets at rest
  'secretsKey',
  '*.secretsKey',
  'SECRETS_KEY',
  '*.SECRETS_KEY',
  // Connection URLs may hold a password
  'redisUrl',
  '*.redisUrl',
  'REDIS_URL',
  '*.REDIS_URL',
  'DATABASE_URL',
  '*.DATABASE_URL',
  'config.database.url',
  'config.queue.redisUrl',
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
