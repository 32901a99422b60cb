// The restaurant console's history: its deliveries in pages of 20, newest change first, the
// older ones on "Load more" (the API's nextCursor), and only the days chosen (From, To: UTC
// days, the API's `from` and `to`).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { DESKTOP, Session, apiAs, apiGet, hasText, launch, newAccount, screenshot, until } from './lib.js';
import { deliveryRow, openConsole } from './pages.js';

/** The console's page size. */
const PAGE = 20;

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** The rows of a `GET /delivery-list` answer: {items, nextCursor}, or a bare array (an API
 * without paging yet). */
const rowsOf = (data) => (Array.isArray(data) ? data : data.items);

const day = (date) => date.toISOString().slice(0, 10);

/** All of `restaurant`'s rows as the API lists them, newest change first, once two reads a
 * second apart agree (the rows settle as the calls' payments register). */
async function settledList(restaurant, count) {
  let last = '';
  let rows;
  await until(async () => {
    rows = rowsOf(await apiGet('/delivery-list?limit=100', restaurant));
    const now = JSON.stringify(rows.map((r) => [r.deliveryId, r.status, r.updatedAt]));
    const stable = rows.length === count && now === last;
    last = now;
    if (!stable) await new Promise((resolve) => setTimeout(resolve, 1000));
    return stable;
  }, `the ${count} deliveries of ${restaurant} to be listed and stay put`, 60_000);
  return rows;
}

/** The delivery ids in the console's table, top to bottom. */
function shownIds(page) {
  return page.locator('#deliveries tbody tr').evaluateAll((rows) => rows.map((row) => row.dataset.key));
}

/** Waits for the console's request of the delivery list with these query parameters. */
function listRequest(page, params) {
  return page.waitForRequest((request) => {
    const url = new URL(request.url());
    return url.pathname === '/delivery-list'
      && Object.entries(params).every(([name, value]) => url.searchParams.get(name) === value);
  });
}

test('the console lists its deliveries 20 at a time, loads older ones, and shows only the days chosen', { timeout: 180_000 }, async () => {
  const session = new Session(browser);
  const restaurant = (await newAccount('restaurant')).id;
  const ids = [];
  try {
    // One page and one more row: 21 calls, a few at a time.
    for (let i = 0; i < PAGE + 1; i += 7) {
      const batch = await Promise.all(Array.from({ length: Math.min(7, PAGE + 1 - i) }, (_, j) =>
        apiAs(restaurant, 'POST', '/deliveries', { destination: `Seoul, Gangnam-gu, History-ro ${i + j + 1}`, cost: 10000 + i + j })));
      for (const { status, body } of batch) {
        assert.equal(status, 201, JSON.stringify(body));
        ids.push(body.deliveryId);
      }
    }
    const listed = await settledList(restaurant, PAGE + 1);
    const listedIds = listed.map((r) => r.deliveryId);
    const paged = !Array.isArray(await apiGet('/delivery-list?limit=1', restaurant));

    const page = await session.page(DESKTOP);
    await openConsole(page, restaurant);
    // The first page: the 20 newest changes, in the API's order, and a way to the rest.
    await until(async () => (await shownIds(page)).length === PAGE, 'the first page of 20');
    assert.deepEqual(await shownIds(page), listedIds.slice(0, PAGE));
    await hasText(page.locator('#list-count'), paged
      ? 'Showing 20 deliveries · older ones load on request'
      : 'Showing 20 deliveries');
    await screenshot(page, '44-restaurant-history-first-page');
    if (paged) {
      const more = page.getByRole('button', { name: 'Load more' });
      const [request] = await Promise.all([
        page.waitForRequest((r) => new URL(r.url()).pathname === '/delivery-list' && new URL(r.url()).searchParams.has('cursor')),
        more.click(),
      ]);
      assert.equal(new URL(request.url()).searchParams.get('limit'), String(PAGE));
      await until(async () => (await shownIds(page)).length === PAGE + 1, 'the older delivery to load');
      assert.deepEqual(await shownIds(page), listedIds);
      await more.waitFor({ state: 'hidden' });
      await hasText(page.locator('#list-count'), 'Showing 21 deliveries');
    } else {
      // An API without paging yet answers a bare array: no "Load more" to offer.
      assert.equal(await page.getByRole('button', { name: 'Load more' }).isHidden(), true);
    }

    // Days with nothing: from tomorrow on. The console asks the API for those days.
    const today = day(new Date());
    const tomorrow = day(new Date(Date.now() + 86_400_000));
    const yesterday = day(new Date(Date.now() - 86_400_000));
    await page.getByLabel('From (UTC)').fill(tomorrow);
    await Promise.all([listRequest(page, { from: tomorrow }), page.getByRole('button', { name: 'Show' }).click()]);
    await hasText(page.locator('#list-empty'), 'No deliveries changed on these days.');
    assert.equal(await page.locator('#deliveries tbody tr').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Load more' }).isHidden(), true);
    await screenshot(page, '45-restaurant-history-no-days');

    // Until yesterday: nothing either.
    await page.getByLabel('From (UTC)').fill('');
    await page.getByLabel('To (UTC)').fill(yesterday);
    await Promise.all([listRequest(page, { to: yesterday }), page.getByRole('button', { name: 'Show' }).click()]);
    await hasText(page.locator('#list-empty'), 'No deliveries changed on these days.');

    // Today: the first page again, then the rest.
    await page.getByLabel('From (UTC)').fill(today);
    await page.getByLabel('To (UTC)').fill(today);
    await Promise.all([listRequest(page, { from: today, to: today }), page.getByRole('button', { name: 'Show' }).click()]);
    await until(async () => (await shownIds(page)).length === PAGE, 'the first page of today');
    assert.deepEqual(await shownIds(page), listedIds.slice(0, PAGE));
    if (paged) {
      await Promise.all([listRequest(page, { from: today, to: today, limit: String(PAGE) }),
        page.getByRole('button', { name: 'Load more' }).click()]);
      await until(async () => (await shownIds(page)).length === PAGE + 1, 'the rest of today');
    }

    // From after To is refused before anything is asked.
    await page.getByLabel('From (UTC)').fill(tomorrow);
    await page.getByLabel('To (UTC)').fill(today);
    await page.getByRole('button', { name: 'Show' }).click();
    await hasText(page.locator('#history-from-error'), 'From must be on or before To.');
    assert.equal(await page.getByLabel('From (UTC)').getAttribute('aria-invalid'), 'true');

    // All days: back to every delivery, newest first; a new call shows on top at once.
    await page.getByRole('button', { name: 'All days' }).click();
    await until(async () => (await shownIds(page)).length === PAGE, 'the first page of all days');
    assert.equal(await page.locator('#history-from-error').isHidden(), true);
    const { body } = await apiAs(restaurant, 'POST', '/deliveries', { destination: 'Seoul, Gangnam-gu, History-ro 99', cost: 9900 });
    ids.push(body.deliveryId);
    await hasText(deliveryRow(page, body.deliveryId).locator('.status'), 'Called');
    assert.equal((await shownIds(page))[0], body.deliveryId);

    // The restaurant has billed nothing yet (calls are billed once delivered).
    await hasText(page.locator('#invoices-empty'), 'No invoices yet: one is issued after each billing period with deliveries.');
  } finally {
    await session.close();
    // Open calls reach every rider in gangnam: cancelled, they stay out of the other tests' way.
    for (const id of ids) await apiAs(restaurant, 'POST', `/deliveries/${id}/cancel`, {});
  }
});
