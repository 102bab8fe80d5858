// The cached documents and files under load, with the headers the real clients send, and where
// each peer serves the same thing.

/** npm's Accept for the abbreviated ("corgi") packument, as npm sends it. */
export const NPM_ABBREVIATED_ACCEPT =
  "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
/** pip's Accept for Simple API pages (PEP 691: JSON preferred). */
export const PIP_ACCEPT =
  "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
/** What npm, pip and cargo all send. */
export const GZIP = "gzip";

export const CASE_IDS = [
  "abbreviated",
  "packument",
  "packument-identity",
  "tarball",
  "pypi-page",
  "cargo-index",
] as const;
export type CaseId = typeof CASE_IDS[number];

export interface LoadCase {
  id: CaseId;
  title: string;
  /** Path on the vm pkg server. */
  vmPath: string;
  /** Request headers (Host and keep-alive are wrk's). */
  headers: Record<string, string>;
  /** A metadata document (rendered and gzip-compressed in the background on first use). */
  document: boolean;
  /** Cached metadata, for the p99 target. */
  smallMetadata: boolean;
  /** The file nginx serves, under its root (`<file>.gz` beside it for gzip). */
  staticFile: string;
  /** Path relative to Verdaccio's registry URL, for npm cases. */
  verdaccioPath?: string;
  /** Path relative to devpi's simple index URL, for the PyPI case. */
  devpiPath?: string;
}

export const TARBALL_NAME = "typescript-5.7.2.tgz";

export const CASES: readonly LoadCase[] = [
  {
    id: "abbreviated",
    title:
      "abbreviated packument: GET /npm/is-number (Accept: application/vnd.npm.install-v1+json)",
    vmPath: "/npm/is-number",
    headers: { accept: NPM_ABBREVIATED_ACCEPT, "accept-encoding": GZIP },
    document: true,
    smallMetadata: true,
    staticFile: "is-number.abbreviated.json",
    verdaccioPath: "is-number",
  },
  {
    id: "packument",
    title: "large packument: GET /npm/typescript (full document)",
    vmPath: "/npm/typescript",
    headers: { accept: "application/json", "accept-encoding": GZIP },
    document: true,
    smallMetadata: false,
    staticFile: "typescript.json",
    verdaccioPath: "typescript",
  },
  {
    id: "packument-identity",
    title: "large packument, no Accept-Encoding: GET /npm/typescript (uncompressed)",
    vmPath: "/npm/typescript",
    headers: { accept: "application/json" },
    document: true,
    smallMetadata: false,
    staticFile: "typescript.json",
    verdaccioPath: "typescript",
  },
  {
    id: "tarball",
    title: `tarball: GET /npm/typescript/-/${TARBALL_NAME}`,
    vmPath: `/npm/typescript/-/${TARBALL_NAME}`,
    headers: { accept: "*/*", "accept-encoding": GZIP },
    document: false,
    smallMetadata: false,
    staticFile: TARBALL_NAME,
    verdaccioPath: `typescript/-/${TARBALL_NAME}`,
  },
  {
    id: "pypi-page",
    title: "PyPI project page: GET /pypi/simple/requests/ (pip's Accept: PEP 691 JSON)",
    vmPath: "/pypi/simple/requests/",
    headers: { accept: PIP_ACCEPT, "accept-encoding": GZIP },
    document: true,
    smallMetadata: true,
    staticFile: "requests.simple.json",
    devpiPath: "requests/",
  },
  {
    id: "cargo-index",
    title: "sparse index file: GET /cargo/index/se/rd/serde",
    vmPath: "/cargo/index/se/rd/serde",
    headers: { accept: "*/*", "accept-encoding": GZIP },
    document: true,
    smallMetadata: true,
    staticFile: "serde.index",
  },
];
