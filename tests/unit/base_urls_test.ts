// The Host a client used decides the URLs in its documents; only this server's own names get
// renderings kept on disk (issue 14, item 4).
import assert from "node:assert/strict";
import {
  baseUrlFor,
  normalizeHost,
  SERVER_NAMES,
  serverBaseUrls,
} from "../../src/registry/http.ts";

Deno.test("spellings of one host are one base URL; anything but a plain host[:port] is refused", () => {
  const spellings: [string, string | undefined][] = [
    ["LOCALHOST:3080", "localhost:3080"],
    ["127.1:03080", "127.0.0.1:3080"],
    ["0x7f.0.0.1:3080", "127.0.0.1:3080"],
    ["[0:0:0:0:0:0:0:1]:3080", "[::1]:3080"],
    ["example.test:80", "example.test"],
    ["host.docker.internal:3080", "host.docker.internal:3080"],
    ["a.test:99999", undefined],
    ["a.test:1\r\nx: y", undefined],
    ["user@a.test", undefined],
    ["a_b.test", undefined],
    ["", undefined],
  ];
  for (const [host, expected] of spellings) assert.equal(normalizeHost(host), expected, host);
  const request = new Request("http://x/", { headers: { host: "LocalHost:3080" } });
  assert.equal(baseUrlFor(request, "127.0.0.1:3080", "/npm"), "http://localhost:3080/npm");
  const bad = new Request("http://x/", { headers: { host: "a.test:70000" } });
  assert.equal(baseUrlFor(bad, "127.0.0.1:3080", "/npm"), "http://127.0.0.1:3080/npm");
});

Deno.test("the kept bases: listen addresses, the host's and VMs' names, published names; no wildcard", () => {
  const bases = serverBaseUrls(
    ["0.0.0.0", "172.17.0.1", ...SERVER_NAMES, "::1", "Team-Cache", "127.0.0.1:4873"],
    3080,
    ["/npm", "/cargo"],
  );
  assert.deepEqual([...bases].filter((base) => base.endsWith("/npm")).sort(), [
    "http://127.0.0.1:3080/npm",
    "http://127.0.0.1:4873/npm",
    "http://172.17.0.1:3080/npm",
    "http://[::1]:3080/npm",
    "http://host.docker.internal:3080/npm",
    "http://localhost:3080/npm",
    "http://team-cache:3080/npm",
  ]);
  assert.equal(bases.size, 14);
});
