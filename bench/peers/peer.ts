// A caching registry the benchmarks compare `vm pkg` with (Verdaccio for npm, devpi for PyPI),
// started from scratch in a work directory and stopped afterwards. Each peer module installs its
// own software (from npm or PyPI) on first use and reuses it on later runs.
export interface RunningPeer {
  /** e.g. "verdaccio 5.33.0". */
  name: string;
  /** Where clients point: an npm registry URL, or a PyPI simple index URL. */
  clientUrl: string;
  /** The server's process id (for peak RSS). */
  pid: number;
  stop(): Promise<void>;
}

export interface PeerOptions {
  /** A directory the peer owns: its software, storage and logs. */
  workDir: string;
  port: number;
  /** Start with an empty cache (cold) even if the work dir holds one from before. */
  fresh: boolean;
}
