// Parsers for typed command-line options; each throws commander's InvalidArgumentError, which
// becomes one clear error line.
import { InvalidArgumentError, Option } from "@commander-js/extra-typings";

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new InvalidArgumentError("must be a port number from 1 to 65535");
  }
  return port;
}

export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(seconds)) {
    throw new InvalidArgumentError("must be a number of seconds, e.g. 300");
  }
  return seconds;
}

export function parseHttpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError("must be an http(s) URL, e.g. https://registry.npmjs.org");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError("must be an http(s) URL");
  }
  return value.replace(/\/+$/, "");
}

/** The help of every `--data` option. */
export const DATA_HELP =
  "registry data directory (default: $VM_PKG_DATA, else the config's data_dir, " +
  "else $XDG_DATA_HOME/vm/pkg)";

/** `--server <url>`: talk to the registry at this URL instead of the one running on this host. */
export const serverOption = () =>
  new Option("--server <url>", "registry URL (default: the one running on this host)")
    .argParser(parseHttpUrl);
