// The hourly traffic kept for the dashboard's chart: one record per hour (the latest figures win),
// three days kept, differences per hour never negative; the chart draws one bar per hour.
import assert from "node:assert/strict";
import {
  HOUR_MS,
  hourlyTraffic,
  KEEP_MS,
  TrafficHistory,
} from "../../src/registry/traffic_history.ts";
import { trafficChart } from "../../src/registry/dashboard/chart.ts";
import { AdjustableClock } from "../../src/store/clock.ts";
import { zeroCounters } from "../../src/registry/counters.ts";

const totals = (requests: number, directBytes = 0, upstreamBytes = 0) => ({
  ...zeroCounters(),
  requests,
  directBytes,
  upstreamBytes,
});

Deno.test("one record per hour, the latest figures win, older than three days go", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const clock = new AdjustableClock();
    const history = new TrafficHistory(kv, clock);
    await history.record(totals(1));
    await history.record(totals(5)); // same hour: overwrites
    assert.deepEqual((await history.samples()).map((s) => s.requests), [5]);
    clock.advance(HOUR_MS);
    await history.record(totals(9, 1000, 100));
    const samples = await history.samples();
    assert.equal(samples.length, 2);
    assert.equal(samples[1].hour - samples[0].hour, HOUR_MS);
    const hours = hourlyTraffic(samples);
    assert.deepEqual(hours.map((h) => [h.requests, h.directBytes, h.upstreamBytes]), [[
      4,
      1000,
      100,
    ]]);
    // Days pass: a record in a new hour drops those past the span.
    clock.advance(KEEP_MS + HOUR_MS);
    await history.record(totals(10));
    assert.deepEqual((await history.samples()).map((s) => s.requests), [10]);
  } finally {
    kv.close();
  }
});

Deno.test("a counter that went down counts as no traffic, not negative", () => {
  const sample = (hour: number, requests: number) => ({ hour, ...totals(requests) });
  const hours = hourlyTraffic([sample(0, 50), sample(HOUR_MS, 3), sample(2 * HOUR_MS, 10)]);
  assert.deepEqual(hours.map((h) => h.requests), [0, 7]);
});

Deno.test("the chart draws a bar per hour of the last three days, titles as text", () => {
  const now = Date.UTC(2026, 11, 1, 12, 30);
  const hour = (back: number, requests: number) => ({
    hour: Math.floor(now / HOUR_MS) * HOUR_MS - back * HOUR_MS,
    ...totals(requests, 2048, 1024),
  });
  const chart = String(trafficChart([hour(100, 9), hour(2, 5), hour(1, 10), hour(0, 0)], now));
  // The hour 100 hours back is outside the span; the others each get a bar in both charts.
  assert.equal(chart.match(/class="bar-requests"/g)?.length, 3);
  assert.equal(chart.match(/class="bar-saved"/g)?.length, 3);
  assert.match(chart, /<title>2026-12-01T11:00Z: 10 requests<\/title>/);
  assert.match(chart, /1\.0 KB saved/);
  assert.doesNotMatch(chart, /style=/); // colours come from the stylesheet (CSP)
  assert.match(String(trafficChart([], now)), /second hour/);
});
