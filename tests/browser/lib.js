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

/** The demo accounts of ./infra/run.sh; each one's secret is `demo-<id>`. */
export const DEMO = { restaurant: 'r-1', otherRestaurant: 'r-2', rider: 'rider-7', otherRider: 'rider-8', operator: 'ops-1' };
export const demoSecret = (id) => `demo-${id}`;

/** Secrets of the accounts the tests made (demo accounts have theirs by rule). */
const secrets = new Map();
export const secretOf = (id) => secrets.get(id) ?? demoSecret(id);

/** Tokens by account id. The API counts sign-in attempts per account (a burst of 20, then one
 * every 6 s), so the tests sign each account in once through the API. */
const tokens = new Map();

/** A bearer token of `id` (password grant), signed in once per test file. */
export async function tokenOf(id) {
  if (!tokens.has(id)) {
    const response = await fetch(API + '/oauth/token', {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', username: id, password: secretOf(id) }),
    });
    assert.equal(response.status, 200, `sign in as ${id}: ${await response.clone().text()}`);
    tokens.set(id, (await response.json()).access_token);
  }
  return tokens.get(id);
}

/** A request to the API from the test itself (not through a page), as account `as`:
 * resolves to {status, body}. */
export async function apiAs(as, method, path, body) {
  const headers = { authorization: `Bearer ${await tokenOf(as)}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** GET on the API from the test itself, as account `as` (the operator, who sees everything,
 * unless told); fails unless it answers 200. */
export async function apiGet(path, as = DEMO.operator) {
  const { status, body } = await apiAs(as, 'GET', path);
  assert.equal(status, 200, `GET ${path} as ${as}: ${status} ${JSON.stringify(body)}`);
  return body;
}

/** A new account made by the demo operator: {id, secret, name}. Tests that need a clean
 * slate (no deliveries yet) or one more rider use one. */
export async function newAccount(role, prefix = role === 'rider' ? 'rider' : 'r') {
  const id = uniqueId(prefix);
  const name = role === 'rider' ? `Test rider ${id.slice(-4)}` : `Test kitchen ${id.slice(-4)}`;
  const attributes = role === 'restaurant' ? { zone: 'gangnam', pickupAddress: 'Seoul, Gangnam-gu, Teheran-ro 5' } : {};
  const { status, body } = await apiAs(DEMO.operator, 'POST', '/accounts', { role, id, name, ...attributes });
  assert.equal(status, 201, `create ${role} ${id}: ${JSON.stringify(body)}`);
  secrets.set(id, body.secret);
  return { id, secret: body.secret, name };
}

export function uniqueId(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

export async function screenshot(page, name) {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

/** How many lines the text of each visible element of `locator` takes: [{text, lines}]. */
export function lineCounts(locator) {
  return locator.evaluateAll((nodes) => nodes.filter((n) => n.offsetParent !== null).map((node) => {
    const range = document.createRange();
    range.selectNodeContents(node);
    return { text: node.textContent, lines: new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size };
  }));
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
  const pattern = '**/rider/calls';
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
