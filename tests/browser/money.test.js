// Money in the pages: the rider's earnings (today's statement as the server computes it, a
// statement for a day, a week or a month with its CSV, the payouts) and the restaurant's
// invoices (listed once issued, opened with their lines, downloaded as CSV).
//
// tests/browser/run.sh starts the worker with PAYOUT_PERIOD=5s and INVOICE_PERIOD=5s, so a
// payout and an invoice follow a settled delivery within seconds. Each test has a rider and a
// restaurant of its own, so the money it sees is only its own.

import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  API, DEMO, DESKTOP, PHONE, Session, apiAs, apiGet, assertNoHorizontalScroll, hasText, launch, newAccount, screenshot,
  tokenOf, until,
} from './lib.js';
import { myDelivery, openConsole, openRiderApp } from './pages.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Whole won as the pages write them: "18,000 KRW". */
const krw = (amount) => `${amount.toLocaleString('en-US')} KRW`;

/** Today and other days as the API names them (UTC). */
const day = (date) => date.toISOString().slice(0, 10);
const shift = (from, days) => {
  const date = new Date(`${from}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return day(date);
};

/** A GET of the API as `as` that answers CSV: its text and file name. */
async function csvOf(path, as) {
  const response = await fetch(API + path, {
    headers: { authorization: `Bearer ${await tokenOf(as)}`, accept: 'text/csv' },
  });
  assert.equal(response.status, 200, `GET ${path} as CSV: ${response.status}`);
  const disposition = response.headers.get('content-disposition') ?? '';
  return { text: await response.text(), filename: /filename="([^"]+)"/.exec(disposition)?.[1] };
}

/** Clicks `button` and resolves to the file the page saved: {name, text}. */
async function downloaded(page, button) {
  const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
  return { name: download.suggestedFilename(), text: await readFile(await download.path(), 'utf8') };
}

/** A delivery of `restaurant` to `destination` that `rider` picks up and completes through the
 * API; its id once the payment has settled. */
async function completedDelivery(restaurant, rider, destination, cost) {
  const called = await apiAs(restaurant, 'POST', '/deliveries', { destination, cost });
  assert.equal(called.status, 201, JSON.stringify(called.body));
  const id = called.body.deliveryId;
  // The call reaches the rider's open calls asynchronously.
  await until(async () => (await apiGet('/rider/calls', rider)).some((c) => c.deliveryId === id), 'the call to reach the rider');
  for (const step of ['pickup', 'complete']) {
    const { status, body } = await apiAs(rider, 'POST', `/deliveries/${id}/${step}`);
    assert.equal(status, 200, `${step}: ${JSON.stringify(body)}`);
  }
  await until(async () => (await apiGet(`/deliveries/${id}`)).payment?.status === 'Settled', 'the payment to settle', 30_000);
  return id;
}

/** The rider's statement of `from` to `to`, once it lists delivery `id`. */
function statementWith(rider, from, to, id) {
  return until(async () => {
    const body = await apiGet(`/rider/statement?from=${from}&to=${to}`, rider);
    return body.lines.some((line) => line.deliveryId === id) && body;
  }, `delivery ${id} on the statement of ${from} to ${to}`);
}

test("a rider's earnings are the server's: today, a day, a week or a month, its CSV, and the payouts",
  { timeout: 150_000 }, async () => {
    const session = new Session(browser);
    const rider = (await newAccount('rider')).id;
    const restaurant = (await newAccount('restaurant')).id;
    const destination = `Seoul, Gangnam-gu, Won-ro ${Date.now() % 1000}`;
    const today = day(new Date());
    try {
      const page = await session.page(PHONE);
      // The page asks for ten payouts a page; one a page here, so that two payouts make two pages.
      await page.route('**/rider/payouts?*', (route) => {
        const url = new URL(route.request().url());
        url.searchParams.set('limit', '1');
        return route.continue({ url: url.toString() });
      });
      await openRiderApp(page, rider);

      // A new rider has earned nothing yet, and has no payouts.
      await hasText(page.locator('#today-total'), '0 KRW');
      await hasText(page.locator('#today-count'), '0');
      await hasText(page.locator('#statement-range'), `${today} (UTC)`);
      await hasText(page.locator('#statement-empty'), 'No deliveries settled to you in these days.');
      await hasText(page.locator('#payouts-empty'), 'No payouts yet: what you earn is paid out after each period.');

      // A delivery completed: today's figures are the server's statement (the fee less the
      // agency's commission), not a sum the page made.
      const id = await completedDelivery(restaurant, rider, destination, 20000);
      const { commission } = await apiGet(`/deliveries/${id}`);
      assert.ok(commission > 0, 'the demo agency takes a commission');
      const statement = await statementWith(rider, today, today, id);
      assert.equal(statement.total, 20000 - commission);
      await hasText(page.locator('#today-total'), krw(statement.total));
      await hasText(page.locator('#today-count'), '1');
      await hasText(myDelivery(page, id).locator('.status'), 'Completed');

      // Today's statement: the line with its fee, commission and earning, and the totals.
      const line = page.locator(`#statement-lines tbody tr[data-key="${id}"]`);
      await hasText(line.locator('.destination'), destination);
      await hasText(line.locator('.cost'), '20,000 KRW');
      await hasText(line.locator('.commission'), krw(commission));
      await hasText(line.locator('.earning'), krw(20000 - commission));
      await hasText(page.locator('#statement-total'), krw(statement.total));
      await screenshot(page, '40-rider-earnings-today');

      // This week (Monday to Sunday, UTC) and this month: the page asks the server for each.
      const weekday = (new Date(`${today}T00:00:00Z`).getUTCDay() + 6) % 7;
      const monday = shift(today, -weekday);
      const sunday = shift(monday, 6);
      const first = `${today.slice(0, 8)}01`;
      const nextMonth = new Date(`${first}T00:00:00Z`);
      nextMonth.setUTCMonth(nextMonth.getUTCMonth() + 1);
      const last = shift(day(nextMonth), -1);
      for (const [name, from, to] of [['Week', monday, sunday], ['Month', first, last]]) {
        const [request] = await Promise.all([
          page.waitForRequest((r) => new URL(r.url()).pathname === '/rider/statement'
            && new URL(r.url()).searchParams.get('from') === from && new URL(r.url()).searchParams.get('to') === to),
          page.getByRole('button', { name, exact: true }).click(),
        ]);
        assert.ok(request);
        assert.equal(await page.getByRole('button', { name, exact: true }).getAttribute('aria-pressed'), 'true');
        await hasText(page.locator('#statement-range'), `${from} to ${to} (UTC)`);
        const wide = await statementWith(rider, from, to, id);
        await hasText(page.locator('#statement-total'), krw(wide.total));
        await line.waitFor();
      }
      await assertNoHorizontalScroll(page);
      await screenshot(page, '41-rider-statement-month');

      // The month's CSV: fetched with the rider's token, saved under the API's name, the same
      // file the API gives.
      const csv = await downloaded(page, page.getByRole('button', { name: /^Download the statement of .* as CSV$/ }));
      const expected = await csvOf(`/rider/statement?from=${first}&to=${last}`, rider);
      assert.equal(csv.name, expected.filename);
      assert.equal(csv.name, `statement-${rider}-${first}-${last}.csv`);
      assert.equal(csv.text, expected.text);
      assert.match(csv.text, /^deliveryId,completedAt,cost,commission,earning,failureReason\r?\n/);
      assert.ok(csv.text.includes(`${id},`), 'the delivery is a line of the CSV');
      await hasText(page.locator('#statement-csv-result'), `Downloaded ${csv.name}.`);

      // Another day, by its date: yesterday, when the rider had nothing settled.
      await page.getByRole('button', { name: 'Day', exact: true }).click();
      await page.getByLabel('Date (UTC)').fill(shift(today, -1));
      await hasText(page.locator('#statement-range'), `${shift(today, -1)} (UTC)`);
      await hasText(page.locator('#statement-empty'), 'No deliveries settled to you in these days.');
      assert.equal(await line.count(), 0);
      await hasText(page.locator('#today-total'), krw(statement.total)); // today stays today

      // The payout run pays the rider its earnings; an operator's bonus is paid in a later run.
      const payouts = page.locator('#payouts li');
      await until(async () => (await payouts.count()) === 1, 'the first payout to show', 45_000);
      await hasText(payouts.first().locator('.amount'), krw(statement.total));
      await hasText(payouts.first().locator('.status'), 'Paid');
      const bonus = await apiAs(DEMO.operator, 'POST', '/adjustments',
        { account: { role: 'rider', id: rider }, amount: 1500, reason: 'rainy day bonus' });
      assert.equal(bonus.status, 201, JSON.stringify(bonus.body));
      // Newest first: the new payout goes on top of the one shown.
      await hasText(payouts.first().locator('.amount'), '1,500 KRW', 45_000);
      await hasText(payouts.nth(1).locator('.amount'), krw(statement.total));
      const { items } = await apiGet(`/rider/payouts?riderId=${rider}`);
      assert.deepEqual(items.map((p) => p.amount), [1500, statement.total]);
      // Today's figures follow: all of it earned today, all of it paid out.
      await hasText(page.locator('#today-total'), krw(statement.total + 1500), 30_000);
      await hasText(page.locator('#today-paid'), krw(statement.total + 1500), 30_000);
      await hasText(page.locator('#today-balance'), '0 KRW', 30_000);

      // Opened anew, the app shows the first page (one payout here) and loads the next on request.
      await page.reload();
      await page.locator('#app').waitFor();
      await hasText(payouts.first().locator('.amount'), '1,500 KRW');
      assert.equal(await payouts.count(), 1);
      const more = page.getByRole('button', { name: 'Load more' });
      await more.click();
      await hasText(payouts.nth(1).locator('.amount'), krw(statement.total));
      await more.waitFor({ state: 'hidden' });
      assert.equal(await payouts.count(), 2);
      await assertNoHorizontalScroll(page);
      await screenshot(page, '42-rider-payouts');
    } finally {
      await session.close();
    }
  });

test('a restaurant sees its invoice once issued, opens its lines and downloads it as CSV', { timeout: 120_000 }, async () => {
  const session = new Session(browser);
  const restaurant = (await newAccount('restaurant')).id;
  const rider = (await newAccount('rider')).id;
  const destination = `Seoul, Gangnam-gu, Bill-ro ${Date.now() % 1000}`;
  try {
    const page = await session.page(DESKTOP);
    await openConsole(page, restaurant);
    await hasText(page.locator('#invoices-empty'), 'No invoices yet: one is issued after each billing period with deliveries.');
    assert.equal(await page.locator('#invoices tbody tr').count(), 0);

    const id = await completedDelivery(restaurant, rider, destination, 15000);
    // The invoice run of the next period bills it; the console shows it by itself.
    const row = page.locator(`#invoices tbody tr[data-key="${restaurant}-1"]`);
    await row.waitFor({ timeout: 45_000 });
    const invoice = await apiGet(`/restaurant/invoices/${restaurant}-1`, restaurant);
    assert.deepEqual(invoice.lines.map((l) => [l.deliveryId, l.cost]), [[id, 15000]]);
    await hasText(row.locator('.number'), `${restaurant}-1`);
    await hasText(row.locator('.total'), '15,000 KRW');
    await hasText(row.locator('.period'), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} to \d{2}:\d{2}:\d{2} UTC$/);
    assert.equal(await page.locator('#invoices-empty').isHidden(), true);

    // Opened: its lines (the delivery's destination, from the history), its total.
    await page.getByRole('button', { name: `View invoice ${restaurant}-1` }).click();
    await hasText(page.locator('#invoice-title'), `Invoice ${restaurant}-1`);
    const line = page.locator(`#invoice-lines tbody tr[data-key="${id}"]`);
    await hasText(line.locator('.destination'), destination);
    await hasText(line.locator('.cost'), '15,000 KRW');
    await hasText(page.locator('#invoice-total'), '15,000 KRW');
    assert.equal(await page.locator('#invoice-adjustments-block').isHidden(), true);
    await screenshot(page, '43-restaurant-invoice');

    const csv = await downloaded(page, page.getByRole('button', { name: `Download invoice ${restaurant}-1 as CSV` }));
    const expected = await csvOf(`/restaurant/invoices/${restaurant}-1`, restaurant);
    assert.equal(csv.name, `invoice-${restaurant}-1.csv`);
    assert.equal(csv.text, expected.text);
    assert.match(csv.text, /^kind,id,at,amount,reason\r?\ndelivery,/);
    await hasText(page.locator('#invoice-csv-result'), `Downloaded invoice-${restaurant}-1.csv.`);

    await page.getByRole('button', { name: 'Close' }).click();
    assert.equal(await page.locator('#invoice').isHidden(), true);
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), `View invoice ${restaurant}-1`);
  } finally {
    await session.close();
  }
});
