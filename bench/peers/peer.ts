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
  /**
   * What the peer's own log says it did between `from` and `to` (ms since epoch): requests served,
   * requests to its upstream. Only for peers that log enough to tell; undefined when the log cannot
   * be read. The log stays after `stop()`, when every line is in it.
   */
  traffic?(from: number, to: number): Promise<PeerTraffic | undefined>;
  stop(): Promise<void>;
}

export interface PeerOptions {
  /** A directory the peer owns: its software, storage and logs. */
  workDir: string;
  port: number;
  /** Start with an empty cache (cold) even if the work dir holds one from before. */
  fresh: boolean;
  /**
   * Where this instance keeps its storage and configuration, default `<workDir>/data`. Two
   * instances that run at the same time (a warm one and a cold one) need two; the software in
   * `workDir` is shared.
   */
  dataDir?: string;
  /** The server's log (stdout and stderr), default `<dataDir>/server.log`. */
  logFile?: string;
}

/** Counts from a peer's log for one stretch of time. */
export interface PeerTraffic {
  /** Requests the clients made to the peer. */
  requests: number;
  /** Requests the peer made to its upstream. */
  upstreamRequests: number;
  /** Bytes received from the upstream, when the log says. */
  upstreamBytes?: number;
  /** Bytes of response bodies sent to clients, when the log says. */
  servedBytes?: number;
}
