// The point of the ecosystem descriptor (issue 15): an ecosystem is one value, and putting it in
// the list is all it takes. A tiny ecosystem made here, added to the real list, gets a config key,
// a `vm pkg start` flag, a server argument, its upstream in the server's sandbox, routes in the
// one table with its own error shape, status counters and client configuration, with no line
// changed anywhere else.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Command } from "@commander-js/extra-typings";
import { addSettingOptions } from "../../src/cli/pkg.ts";
import { registryOptionsFor } from "../../src/daemon/registry_start.ts";
import { clientCommands } from "../../src/clients/routing.ts";
import { userConfigFiles } from "../../src/clients/user_config.ts";
import {
  loadSettings,
  settingArgs,
  SettingKeys,
  settingOptions,
} from "../../src/config/settings.ts";
import { upstreamsOf } from "../../src/daemon/server_sandbox.ts";
import type { Ecosystem } from "../../src/registry/ecosystem.ts";
import { ECOSYSTEMS } from "../../src/registry/ecosystems.ts";
import { errorResponse, jsonResponse } from "../../src/registry/http.ts";
import { route } from "../../src/registry/route_table.ts";
import { withRegistry } from "../support/registry.ts";
import { withTempDir } from "../support/process.ts";

/** An ecosystem of toys: one upstream, one route, one client, its own error shape. */
const toy: Ecosystem = {
  id: "toy",
  prefix: "/toy",
  clientUrl: (baseUrl) => `${baseUrl}/toy/`,
  upstreams: [{
    key: "toy_upstream",
    name: "toy",
    default: "https://toys.example",
    meaning: "where toys come from",
  }],
  cachedFiles: ["toy", "file"],
  documents: ["toy", "catalog"],
  formatError: (status, message, headers) =>
    new Response(`toy says: ${message}\n`, { status, headers }),
  create: (ctx, upstreams) => ({
    routes: [route({
      method: "GET",
      pattern: "/toy/:name",
      description: "one toy",
      params: (raw) => /^[a-z]+$/.test(raw.name) ? { name: raw.name } : undefined,
      handle: (_request, { name }) =>
        name === "lost"
          ? errorResponse(404, "that toy is lost")
          : jsonResponse({ toy: name, from: upstreams.toy }),
    })],
    idle: () => ctx.idle(),
  }),
  clients: {
    commands: [{
      name: "toyctl",
      shellFunction: true,
      env: (registry) => ({ TOY_INDEX: `${registry.baseUrl}/toy/` }),
      publicEnv: { TOY_INDEX: "https://toys.example/" },
    }],
    userFiles: (registry) => ({ ".toyrc": `index=${registry.baseUrl}/toy/\n` }),
  },
};

const WITH_TOY = [...ECOSYSTEMS, toy];
const TOYS = "http://127.0.0.1:9/toys";

Deno.test("an ecosystem added to the list gets a config key, a start flag and a server argument", async () => {
  const keys = new SettingKeys(WITH_TOY);
  assert.ok(keys.names.includes("toy_upstream"));
  await withTempDir(async (dir) => {
    const path = join(dir, "pkg.yaml");
    const env = (name: string) => name === "HOME" ? dir : undefined;
    // Its default, then the config file, then the start flag's text.
    assert.equal(
      (await loadSettings(path, env, {}, keys)).upstreams.toy_upstream,
      "https://toys.example",
    );
    await Deno.writeTextFile(path, `toy_upstream: ${TOYS}/\n`);
    const settings = await loadSettings(path, env, {}, keys);
    assert.equal(settings.upstreams.toy_upstream, TOYS);
    await assert.rejects(
      loadSettings(path, env, { toy_upstream: "ftp://toys" }, keys),
      /invalid value for toy_upstream: 'ftp:\/\/toys' \(expected an http\(s\) URL\)/,
    );

    // The flag, as `vm pkg start` declares its options.
    const option = settingOptions(env, keys).find((each) => each.key === "toy_upstream");
    assert.equal(option?.flags, "--toy-upstream <url>");
    const start = new Command("start").exitOverride();
    addSettingOptions(start, settingOptions(env, keys));
    start.parse(["--toy-upstream", TOYS], { from: "user" });
    assert.equal((start.opts() as Record<string, unknown>).toyUpstream, TOYS);
    assert.match(start.helpInformation(), /--toy-upstream <url>\s+where toys come from/);

    // The argument a background or --docker server gets, and what that server may reach.
    assert.ok(settingArgs(settings, [], keys).includes(`--toy-upstream=${TOYS}`));
    const options = registryOptionsFor({ ...settings, bridge: false });
    assert.equal(options.upstreams?.toy_upstream, TOYS);
    assert.ok(upstreamsOf(options, WITH_TOY).includes(TOYS));
  });
});

Deno.test("an ecosystem added to the list is served: routes, error shape, status, clients", async () => {
  await withRegistry(
    { ecosystems: WITH_TOY, upstreams: { toy_upstream: TOYS } },
    async (registry) => {
      const found = await fetch(`${registry.url}/toy/robot`);
      assert.deepEqual(await found.json(), { toy: "robot", from: TOYS });
      const lost = await fetch(`${registry.url}/toy/lost`);
      assert.equal(lost.status, 404);
      assert.equal(await lost.text(), "toy says: that toy is lost\n");
      const wrong = await fetch(`${registry.url}/toy/robot`, { method: "DELETE" });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.get("allow"), "GET, HEAD");
      assert.equal(await wrong.text(), "toy says: DELETE is not supported on /toy/robot\n");
      const head = await fetch(`${registry.url}/toy/robot`, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal((await head.arrayBuffer()).byteLength, 0);

      const { routes } = await fetch(`${registry.url}/-/routes`).then((r) => r.json());
      assert.deepEqual(routes.filter((each: { ecosystem: string }) => each.ecosystem === "toy"), [
        { method: "GET", pattern: "/toy/:name", ecosystem: "toy", description: "one toy" },
      ]);
      const status = await registry.status();
      assert.equal(status.ecosystems.toy.requests, 3, "the GET, the lost one and the HEAD");
      assert.equal(status.upstreams.toy, TOYS);
      const index = await fetch(`${registry.url}/`).then((r) => r.json());
      assert.equal(index.toy, `${registry.url}/toy/`);
      // The others still serve beside it.
      const pypi = await fetch(`${registry.url}/pypi`, { redirect: "manual" });
      await pypi.body?.cancel();
      assert.equal(pypi.status, 301);
    },
  );
  assert.ok(clientCommands(WITH_TOY).some((command) => command.name === "toyctl"));
  assert.equal(
    userConfigFiles("http://host.docker.internal:3080", WITH_TOY)[".toyrc"],
    "index=http://host.docker.internal:3080/toy/\n",
  );
});
