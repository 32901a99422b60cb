// Helpers of the browser tests: Debian's Chromium driven by playwright-core, against the
// stack whose API is at $API_URL (tests/browser/run.sh starts it).

import { mkdirSync } from 'node:fs';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const API = process.env.API_URL;
if (!API) throw new Error('API_URL is not set: run the tests with tests/browser/run.sh');

export const ARTIFACTS = new URL('./artifacts/', import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });

/** A phone (the rider app must work at 375 px) and a desktop (the restaurant console). */
export const PHONE = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
export const DESKTOP = { viewport: { width: 1280, height: 800 } };

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic', '--no-first-run',
    ],
  });
}

/**
 * Browser contexts of one test, each a separate user (own storage). On close it checks what
 * holds for every page: no uncaught script error, no request to another origin.
 */
export class Session {
  constructor(browser) {
    this.browser = browser;
    this.contexts = [];
    this.errors = [];
    this.foreign = [];
  }

  async page(device = DESKTOP) {
    const context = await this.browser.newContext(device);
    this.contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => this.errors.push(`${page.url()}: ${error.message}`));
    page.on('request', (request) => {
      if (!request.url().startsWith(API + '/')) this.foreign.push(request.url());
    });
    return page;
  }

  async close() {
    await Promise.all(this.contexts.map((context) => context.close()));
    assert.deepEqual(this.errors, [], 'uncaught errors in the pages');
    assert.deepEqual(this.foreign, [], 'requests to another origin (everything must be served by the API)');
  }
}

/** Marks the page so that `assertNotReloaded` can tell a live update from a reload. */
export async function markLoaded(page) {
  await page.evaluate(() => { window.__loadedOnce = true; });
}

export async function assertNotReloaded(page) {
  assert.equal(await page.evaluate(() => window.__loadedOnce), true, `${page.url()} was reloaded`);
}

/** Polls `check` until it returns a truthy value, which it returns; fails after `timeout`
 * saying `what` (a string, or a function giving one). */
export async function until(check, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) {
      assert.fail(`timed out after ${timeout} ms waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the locator's trimmed text equals `expected` (a string) or matches it (a RegExp). */
export async function hasText(locator, expected, timeout) {
  const matches = (text) => (expected instanceof RegExp ? expected.test(text) : text === expected);
  let text;
  await until(async () => {
    text = ((await locator.textContent({ timeout: 1000 }).catch(() => null)) ?? '').trim();
    return matches(text);
  }, () => `${locator} to read ${expected} (it reads ${JSON.stringify(text)})`, timeout);
}

/** GET on the API from the test itself (not through a page). */
export async function apiGet(path) {
  const response = await fetch(API + path);
  assert.ok(response.ok, `GET ${path}: ${response.status}`);
  return response.json();
}

export function uniqueId(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

export async function screenshot(page, name) {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

/** The page fits its viewport: nothing sticks out sideways (a phone must not scroll horizontally). */
export async function assertNoHorizontalScroll(page) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  assert.ok(scroll <= width, `${page.url()} is ${scroll} px wide in a ${width} px viewport`);
}

/**
 * Freezes the page's view of the open calls: from now on it keeps getting the list as it is
 * at the next poll, as a rider whose app has not refreshed yet would. Resolves once that
 * snapshot is taken; `thaw()` lets the page see the live list again.
 */
export async function freezeOpenCalls(page) {
  const pattern = '**/riders/*/calls';
  let snapshot = null;
  let taken;
  const ready = new Promise((resolve) => { taken = resolve; });
  await page.route(pattern, async (route) => {
    if (snapshot === null) {
      const response = await route.fetch();
      snapshot = await response.text();
      taken();
    }
    await route.fulfill({ status: 200, contentType: 'application/json', body: snapshot });
  });
  await ready;
  return {
    snapshot: () => JSON.parse(snapshot),
    thaw: () => page.unroute(pattern),
  };
}
