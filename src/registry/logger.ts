// One-line log records with a timestamp; the background server's stdout/stderr go to server.log.
export type LogLevel = "info" | "warn" | "error";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Per-request lines, only when asked for (they are noise at a few thousand requests a minute). */
  request(message: string): void;
}

export function consoleLogger(options: { requests: boolean }): Logger {
  const line = (level: LogLevel, message: string) =>
    `${new Date().toISOString()} ${level.padEnd(5)} ${message}`;
  return {
    info: (message) => console.log(line("info", message)),
    warn: (message) => console.error(line("warn", message)),
    error: (message) => console.error(line("error", message)),
    request: (message) => {
      if (options.requests) console.log(line("info", message));
    },
  };
}

export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
  request() {},
};
