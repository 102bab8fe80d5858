/** An error meant for the user: printed as one line, exit code 1 (or the one given). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "CliError";
  }
}
