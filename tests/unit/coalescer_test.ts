// Coalescer on its own: callers for one key while its operation is in flight share it (one
// upstream fetch for a hundred clients), other keys run apart, and a key is free again once its
// operation settled, whether it succeeded or failed. Operations finish when the test says.
import assert from "node:assert/strict";
import { Coalescer } from "../../src/store/coalescer.ts";

/** An operation that finishes when the test resolves or rejects it, counting its starts. */
function controlled<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const state = {
    starts: 0,
    operation: () => {
      state.starts++;
      return new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
    },
    resolve: (value: T) => resolve(value),
    reject: (error: Error) => reject(error),
  };
  return state;
}

Deno.test("callers of one key in flight share one operation and its result", async () => {
  const coalescer = new Coalescer<string>();
  const op = controlled<string>();
  const callers = Array.from({ length: 50 }, () => coalescer.run("file", op.operation));
  assert.equal(op.starts, 1);
  assert.ok(callers.every((promise) => promise === callers[0]), "the same promise for all");
  assert.equal(coalescer.has("file"), true);
  assert.equal(coalescer.size, 1);
  op.resolve("bytes");
  assert.deepEqual(await Promise.all(callers), Array(50).fill("bytes"));
  assert.equal(coalescer.has("file"), false);
  assert.equal(coalescer.size, 0);
});

Deno.test("other keys run their own operations at the same time", async () => {
  const coalescer = new Coalescer<number>();
  const a = controlled<number>();
  const b = controlled<number>();
  const first = coalescer.run("a", a.operation);
  const second = coalescer.run("b", b.operation);
  assert.equal(a.starts + b.starts, 2);
  assert.equal(coalescer.size, 2);
  b.resolve(2);
  assert.equal(await second, 2);
  assert.deepEqual([coalescer.has("a"), coalescer.has("b")], [true, false]);
  a.resolve(1);
  assert.equal(await first, 1);
  assert.equal(coalescer.size, 0);
});

Deno.test("a key is free again once its operation settled: a later caller starts anew", async () => {
  const coalescer = new Coalescer<string>();
  const op = controlled<string>();
  const first = coalescer.run("doc", op.operation);
  op.resolve("v1");
  assert.equal(await first, "v1");
  const second = coalescer.run("doc", op.operation);
  assert.notEqual(second, first);
  assert.equal(op.starts, 2);
  op.resolve("v2");
  assert.equal(await second, "v2");
});

Deno.test("a failure reaches every caller of that round, and does not stick to the key", async () => {
  const coalescer = new Coalescer<string>();
  const op = controlled<string>();
  const callers = [coalescer.run("doc", op.operation), coalescer.run("doc", op.operation)];
  op.reject(new Error("upstream down"));
  for (const caller of callers) await assert.rejects(caller, /upstream down/);
  assert.equal(coalescer.has("doc"), false);
  const retry = coalescer.run("doc", op.operation);
  assert.equal(op.starts, 2);
  op.resolve("back");
  assert.equal(await retry, "back");
});
