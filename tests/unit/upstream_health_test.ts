// The upstreams' health: each request URL counts for the configured upstream it belongs to; a
// success, then a failure, then a success again leave the last of each, and `vm pkg status` names
// an upstream only while its last failure is newer than its last answer.
import assert from "node:assert/strict";
import { UpstreamHealth } from "../../src/upstream/health.ts";
import { upstreamErrors } from "../../src/cli/pkg.ts";
import type { ReportedStatus } from "../../src/registry/status.ts";

const UPSTREAMS = {
  cargo: "https://index.crates.io/",
  cargoFiles: "https://static.crates.io/crates",
  pypi: "https://pypi.org/simple",
};

Deno.test("upstream health: success, failure, success again, each kept per upstream", () => {
  // A clock that moves only when told (the system clock could tick between record and check).
  let nowMs = Date.parse("2026-12-01T06:00:00Z");
  const clock = { now: () => nowMs, advance: (ms: number) => nowMs += ms };
  const health = new UpstreamHealth(UPSTREAMS, clock);
  const iso = () => new Date(clock.now()).toISOString();
  assert.deepEqual(health.snapshot().pypi, {
    url: UPSTREAMS.pypi,
    lastSuccessAt: null,
    lastErrorAt: null,
    lastError: null,
  });

  health.succeeded("https://pypi.org/simple/six/");
  const firstSuccess = iso();
  clock.advance(60_000);
  health.failed("https://pypi.org/simple/six/", "Connection refused\n(os error 111)");
  const failedAt = iso();
  let pypi = health.snapshot().pypi;
  assert.equal(pypi.lastSuccessAt, firstSuccess);
  assert.equal(pypi.lastErrorAt, failedAt);
  assert.equal(pypi.lastError, "Connection refused (os error 111)", "one line");
  assert.match(
    upstreamErrors(statusWith(health), clock.now() + 120_000),
    /^pypi https:\/\/pypi\.org\/simple — Connection refused \(os error 111\), 2m ago$/,
  );

  clock.advance(60_000);
  // A file URL on the same origin but outside the configured path still counts for it.
  health.succeeded("https://pypi.org/packages/six.whl");
  pypi = health.snapshot().pypi;
  assert.equal(pypi.lastSuccessAt, iso());
  assert.equal(pypi.lastErrorAt, failedAt, "the last failure stays");
  assert.equal(upstreamErrors(statusWith(health), clock.now()), "", "answered since");

  // Only the upstream the URL belongs to; a URL on no configured origin changes nothing.
  health.failed("https://static.crates.io/crates/itoa/1.0.0/download", "answered 503");
  health.failed("https://elsewhere.example/x", "refused");
  const all = health.snapshot();
  assert.equal(all.cargoFiles.lastError, "answered 503");
  assert.equal(all.cargo.lastErrorAt, null);
  assert.equal(all.pypi.lastError, "Connection refused (os error 111)");
});

function statusWith(health: UpstreamHealth): ReportedStatus {
  return { upstreamHealth: health.snapshot() } as unknown as ReportedStatus;
}
