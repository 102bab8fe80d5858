import assert from "node:assert/strict";
import { join } from "node:path";
import { BlobStore } from "../../src/store/blob_store.ts";
import {
  type PackageState,
  PrivatePackages,
  type PrivateVersion,
} from "../../src/store/private_packages.ts";
import { tokenOf, WriteAuth } from "../../src/registry/auth.ts";

async function withPackages(
  fn: (
    open: (sameName?: (name: string) => string) => Promise<PrivatePackages>,
    renders: string[],
  ) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const blobs = new BlobStore(join(dir, "blobs"), join(dir, "tmp"));
  await blobs.init();
  const kv = await Deno.openKv(join(dir, "kv"));
  const renders: string[] = [];
  // Separate instances on one KV: their in-process locks are separate, so only the
  // versionstamp check keeps their changes apart.
  const open = async (sameName?: (name: string) => string) => {
    const packages = new PrivatePackages(kv, blobs, "npm", (state: PackageState) => {
      renders.push(`${state.pkg.name}@${state.pkg.rev}:${[...state.versions.keys()].join(",")}`);
      return Promise.resolve({ doc: "0".repeat(64) });
    }, sameName);
    await packages.init();
    return packages;
  };
  try {
    await fn(open, renders);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function version(v: string): PrivateVersion {
  return {
    version: v,
    publishedAt: Date.now(),
    files: [{ filename: `pkg-${v}.tgz`, sha256: "a".repeat(64), size: 1 }],
    metaDigest: "b".repeat(64),
  };
}

function addVersion(v: string) {
  return (current: PackageState | undefined) => {
    const state = current ?? PrivatePackages.emptyPackage("pkg", false);
    if (state.versions.has(v)) throw new Error(`${v} exists`);
    state.versions.set(v, version(v));
    return state;
  };
}

Deno.test("concurrent publishes of different versions lose none, across two instances", async () => {
  await withPackages(async (open) => {
    const [a, b] = [await open(), await open()];
    const versions = Array.from({ length: 20 }, (_, i) => `1.0.${i}`);
    await Promise.all(versions.map((v, i) => (i % 2 ? a : b).change("pkg", addVersion(v))));
    const state = await a.state("pkg");
    assert.deepEqual([...state!.versions.keys()].sort(), [...versions].sort());
    assert.equal(state!.pkg.versions.length, 20);
    assert.equal(state!.pkg.rev, 20, "one revision per change");
    assert.equal((await a.file("pkg", "pkg-1.0.7.tgz"))?.version, "1.0.7");
  });
});

Deno.test("the same version published twice at once: exactly one wins", async () => {
  await withPackages(async (open) => {
    const packages = await open();
    const results = await Promise.allSettled([
      packages.change("pkg", addVersion("1.0.0")),
      packages.change("pkg", addVersion("1.0.0")),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    assert.equal((await packages.state("pkg"))!.versions.size, 1);
  });
});

Deno.test("a failed mutation changes nothing; removing all versions keeps the name", async () => {
  await withPackages(async (open, renders) => {
    const packages = await open();
    await packages.change("pkg", addVersion("1.0.0"));
    await assert.rejects(
      packages.change("pkg", (current) => {
        current!.versions.clear();
        throw new Error("refused halfway");
      }),
      /refused halfway/,
    );
    assert.equal((await packages.state("pkg"))!.versions.size, 1);

    await packages.change("pkg", (current) => {
      current!.versions.clear();
      return current;
    });
    assert.equal(packages.has("pkg"), true, "the name stays private");
    const kept = await packages.state("pkg");
    assert.equal(kept!.versions.size, 0);
    assert.deepEqual(kept!.pkg.documents, {}, "no documents without versions");
    assert.equal(await packages.file("pkg", "pkg-1.0.0.tgz"), undefined);
    assert.equal(renders.length, 1, "only states with versions are rendered");

    await packages.change("pkg", () => undefined);
    assert.equal(packages.has("pkg"), false);
    assert.equal((await open()).has("pkg"), false, "forgotten for a new opener too");
  });
});

Deno.test("the write token is accepted as Bearer, Basic password and bare; nothing else", () => {
  const auth = new WriteAuth("vmpkg_secret");
  const request = (authorization?: string) =>
    new Request("http://x/", { headers: authorization ? { authorization } : {} });
  assert.equal(auth.isAuthorized(request("Bearer vmpkg_secret")), true);
  assert.equal(auth.isAuthorized(request(`Basic ${btoa("__token__:vmpkg_secret")}`)), true);
  assert.equal(auth.isAuthorized(request("vmpkg_secret")), true);
  assert.equal(auth.isAuthorized(request()), false);
  assert.equal(auth.isAuthorized(request("Bearer vmpkg_secre")), false);
  assert.equal(auth.isAuthorized(request("Bearer vmpkg_secretX")), false);
  assert.equal(auth.isAuthorized(request(`Basic ${btoa("vmpkg_secret")}`)), false);
  assert.equal(auth.isAuthorized(request("Basic %%%")), false);
  assert.equal(tokenOf(request("Token abc")), "abc");
  assert.equal(auth.refusal(request())?.status, 401);
  assert.equal(auth.refusal(request("Bearer vmpkg_secret")), undefined);
});

/** cargo's key: case and `-`/`_` ignored. */
const crateKey = (name: string) => name.toLowerCase().replaceAll("_", "-");

function addVersionTo(name: string, v: string) {
  return (current: PackageState | undefined) => {
    const state = current ?? PrivatePackages.emptyPackage(name, false);
    if (state.versions.has(v)) throw new Error(`${v} exists`);
    state.versions.set(v, version(v));
    return state;
  };
}

Deno.test("with a name key, every spelling finds one package; a new one keeps its spelling", async () => {
  await withPackages(async (open) => {
    const packages = await open(crateKey);
    // Two spellings at once: the changes are serialized by key, so they make one package.
    await Promise.all([
      packages.change("my_crate", addVersionTo("my_crate", "1.0.0")),
      packages.change("my-crate", addVersionTo("my-crate", "1.0.1")),
    ]);
    assert.equal(packages.count(), 1);
    const [state] = await packages.list();
    assert.equal(state.pkg.name, "my_crate", "stored as the first change spelled it");
    assert.deepEqual([...state.versions.keys()].sort(), ["1.0.0", "1.0.1"]);
    for (const spelling of ["my_crate", "my-crate", "MY-CRATE"]) {
      assert.equal(packages.has(spelling), true, spelling);
      assert.equal(packages.storedName(spelling), "my_crate", spelling);
      assert.equal((await packages.get(spelling))?.name, "my_crate", spelling);
      assert.equal((await packages.state(spelling))?.versions.size, 2, spelling);
      assert.equal((await packages.file(spelling, "pkg-1.0.1.tgz"))?.version, "1.0.1", spelling);
    }
    assert.equal(packages.has("mycrate"), false);
    // A new opener finds it by every spelling too.
    assert.equal((await open(crateKey)).storedName("My-Crate"), "my_crate");
    await packages.change("MY-CRATE", () => undefined);
    assert.equal(packages.has("my_crate"), false);
  });
});

Deno.test("two records of one key from before keys were compared each stay reachable", async () => {
  await withPackages(async (open) => {
    const exact = await open();
    await exact.change("foo-bar", addVersionTo("foo-bar", "1.0.0"));
    await exact.change("foo_bar", addVersionTo("foo_bar", "2.0.0"));
    const packages = await open(crateKey);
    assert.equal(packages.count(), 2);
    assert.equal(packages.storedName("foo-bar"), "foo-bar");
    assert.equal(packages.storedName("foo_bar"), "foo_bar");
    const other = packages.storedName("Foo-Bar");
    assert.ok(other === "foo-bar" || other === "foo_bar");
    // When the record a key finds goes, the other one is found by that key.
    await packages.change(other!, () => undefined);
    assert.equal(packages.storedName("FOO_BAR"), other === "foo-bar" ? "foo_bar" : "foo-bar");
  });
});
