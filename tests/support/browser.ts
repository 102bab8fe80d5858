// A real browser for the dashboard tests: Debian's chromium, headless, driven by puppeteer-core.
// Absent chromium, the tests say why they skip; under CI (VM_REQUIRE_BROWSER=1, set by .ci/run)
// they fail instead, as the Docker tests do with VM_REQUIRE_DOCKER.
import type { Browser } from "puppeteer-core";

export const CHROMIUM = Deno.env.get("VM_CHROMIUM") ?? "/usr/bin/chromium";

/** Why the browser tests cannot run here, or undefined when they can. */
export async function browserMissing(): Promise<string | undefined> {
  try {
    await Deno.stat(CHROMIUM);
    return undefined;
  } catch {
    const why = `${CHROMIUM} is not installed (apt-get install -y chromium)`;
    if (Deno.env.get("VM_REQUIRE_BROWSER") === "1") {
      throw new Error(`VM_REQUIRE_BROWSER=1 but ${why}`);
    }
    return why;
  }
}

export async function withBrowser(fn: (browser: Browser) => Promise<void>): Promise<void> {
  const { default: puppeteer } = await import("puppeteer-core");
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespace for chromium's sandbox.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
}

/** Where screenshots go for a person to look at: $VM_TEST_ARTIFACTS or tests/.artifacts/. */
export async function artifactsDir(): Promise<string> {
  const dir = Deno.env.get("VM_TEST_ARTIFACTS") ??
    new URL("../.artifacts/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}
