// The server counts per source address (what `vm status` shows as each VM's own hit ratio) and
// listens on extra addresses (the Docker bridge) besides its main one. 127.0.0.2 stands in for a
// second address: it is loopback too, so the test never leaves the machine.
import assert from "node:assert/strict";
import { withRegistry } from "../support/registry.ts";
import { startStandInUpstream } from "../support/stand_in_upstream.ts";

Deno.test("requests are counted per client address, on every address it listens on", async () => {
  const upstream = startStandInUpstream();
  try {
    await withRegistry(
      { upstreams: { npm_upstream: upstream.url }, alsoListenOn: ["127.0.0.2"] },
      async (registry) => {
        assert.deepEqual(registry.addresses, ["127.0.0.1", "127.0.0.2"]);
        // The second client connects from 127.0.0.2 to the second address, as a VM does from
        // its own IP to the bridge gateway.
        using second = Deno.createHttpClient({ localAddress: "127.0.0.2" });
        const get = async (host: string, client?: Deno.HttpClient) => {
          const response = await fetch(`http://${host}:${registry.port}/npm/vm-fault-demo`, {
            client,
          });
          await response.body?.cancel();
          assert.equal(response.status, 200, host);
        };
        await get("127.0.0.1"); // a miss, from the first client
        await get("127.0.0.2", second); // hits, from the second
        await get("127.0.0.2", second);
        const { clients } = await (await fetch(`${registry.url}/-/clients`)).json();
        assert.equal(clients["127.0.0.1"].cacheMisses, 1);
        assert.equal(clients["127.0.0.1"].cacheHits, 0);
        assert.equal(clients["127.0.0.2"].cacheHits, 2);
        assert.equal(clients["127.0.0.2"].cacheMisses, 0);
        // Each package request's answer time goes into its client's mean (the dashboard shows it).
        for (const address of ["127.0.0.1", "127.0.0.2"]) {
          const mean = clients[address].meanLatencyMs;
          assert.ok(typeof mean === "number" && mean >= 0, `${address}: ${mean}`);
        }
        // A request no ecosystem counted (status, a dashboard page) makes no client entry.
        using third = Deno.createHttpClient({ localAddress: "127.0.0.3" });
        await (await fetch(`http://127.0.0.2:${registry.port}/-/health`, { client: third })).body
          ?.cancel();
        const after = await (await fetch(`${registry.url}/-/clients`)).json();
        assert.deepEqual(Object.keys(after.clients).sort(), ["127.0.0.1", "127.0.0.2"]);
        const one = await (await fetch(`${registry.url}/-/clients?address=127.0.0.2`)).json();
        assert.deepEqual(Object.keys(one.clients), ["127.0.0.2"]);
      },
    );
  } finally {
    await upstream.close();
  }
});
