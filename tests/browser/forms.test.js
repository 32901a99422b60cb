// The call form (its own checks, all errors at once; the API's errors next to the field at
// fault; "Calling…" while waiting; a call accepted while payment is pending), the table's
// buttons, the page when the API is slow or gone, and Swagger UI at /docs.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  API, DESKTOP, Session, apiAs, apiGet, assertNoHorizontalScroll, hasText, launch, lineCounts, newAccount, screenshot,
  until,
} from './lib.js';
import { callRider, deliveryRow, openConsole, submitCall } from './pages.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** The inline message under `inputId`, and whether the input is marked invalid. */
async function fieldError(page, inputId) {
  const error = page.locator(`#${inputId}-error`);
  return {
    shown: await error.isVisible(),
    text: ((await error.textContent()) ?? '').trim(),
    invalid: (await page.locator(`#${inputId}`).getAttribute('aria-invalid')) === 'true',
    // Still styled as a field error (shown in red, beside its input).
    styled: (await error.getAttribute('class')).split(' ').includes('field-error'),
  };
}

const noError = { shown: false, text: '', invalid: false, styled: true };
const error = (text) => ({ shown: true, text, invalid: true, styled: true });

/** Counts the calls (POST /deliveries) the page sends from now on. */
function countCalls(page) {
  const sent = { count: 0 };
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/deliveries') sent.count += 1;
  });
  return sent;
}

test('the form checks what it can before calling, shows every error at once, and its examples are hints', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const restaurant = await newAccount('restaurant');
    const page = await session.page(DESKTOP);
    await openConsole(page, restaurant.id, restaurant.secret);
    const sent = countCalls(page);

    // Examples are hints beside the labels, never grey text inside an empty field.
    for (const id of ['destination', 'cost']) {
      assert.equal(await page.locator(`#${id}`).getAttribute('placeholder'), null, `#${id} has no placeholder`);
      assert.equal(await page.locator(`#${id}-hint`).isVisible(), true);
      assert.match(await page.locator(`#${id}`).getAttribute('aria-describedby'), new RegExp(`\\b${id}-hint\\b`));
    }
    await hasText(page.locator('#destination-hint'), 'Street address, for example “Seoul, Gangnam-gu, Teheran-ro 1”.');

    // Both fields empty: both say so at once; the first gets the focus.
    await submitCall(page, '', '');
    await hasText(page.locator('#destination-error'), 'Enter the destination.');
    assert.deepEqual(await fieldError(page, 'destination'), error('Enter the destination.'));
    assert.deepEqual(await fieldError(page, 'cost'), error('Enter the fee.'));
    assert.equal(await page.evaluate(() => document.activeElement.id), 'destination');
    await screenshot(page, '20-restaurant-two-errors');

    // Only the fee is wrong: its message alone, and the focus on it.
    await submitCall(page, 'Seoul, Seocho-gu', 0);
    await hasText(page.locator('#cost-error'), 'Fee must be a whole number of won from 1 to 1,000,000.');
    assert.deepEqual(await fieldError(page, 'destination'), noError);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'cost');
    await screenshot(page, '21-restaurant-fee-error');

    await submitCall(page, '   ', 'twenty');
    await hasText(page.locator('#destination-error'), 'Enter the destination.');
    assert.deepEqual(await fieldError(page, 'cost'), error('Fee must be a whole number of won from 1 to 1,000,000.'));
    await submitCall(page, 'x'.repeat(257), '1,000,001');
    await hasText(page.locator('#destination-error'), 'Destination must be at most 256 characters.');
    assert.deepEqual(await fieldError(page, 'cost'), error('Fee must be a whole number of won from 1 to 1,000,000.'));

    // None of these reached the API, and nothing was called.
    assert.equal(sent.count, 0);
    assert.deepEqual(await apiGet('/delivery-list?limit=100', restaurant.id), { items: [], nextCursor: null });
    await hasText(page.locator('#list-empty'), 'No deliveries yet.');
  } finally {
    await session.close();
  }
});

test('the API\'s validation errors show next to the field at fault, and nothing is called', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const restaurant = await newAccount('restaurant');
    const page = await session.page(DESKTOP);
    await openConsole(page, restaurant.id, restaurant.secret);

    // A right-to-left override is the API's to refuse: its message is under Destination.
    const response = await callRider(page, 'Seoul, Gangnam-gu\u202E Teheran-ro 1', '20,000');
    assert.equal(response.status(), 422);
    assert.equal((await response.json()).field, 'destination');
    const expected = 'Destination must not contain control, format, bidirectional, private-use or unassigned characters (found U+202E).';
    await hasText(page.locator('#destination-error'), expected);
    assert.deepEqual(await fieldError(page, 'destination'), error(expected));
    assert.deepEqual(await fieldError(page, 'cost'), noError);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'destination');
    assert.equal(await page.locator('#call-result').isHidden(), true);
    await screenshot(page, '22-restaurant-api-error');

    assert.deepEqual(await apiGet('/delivery-list?limit=100', restaurant.id), { items: [], nextCursor: null });
    assert.equal(await page.locator('#deliveries tbody tr').count(), 0);
  } finally {
    await session.close();
  }
});

test('a call says "Calling…" while it waits, and one accepted while payment is pending says so', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const restaurant = await newAccount('restaurant');
    const page = await session.page(DESKTOP);
    await openConsole(page, restaurant.id, restaurant.secret);
    // The payment side cannot be taken down under the shared stack, so this one answer is the
    // contract's 202 with payment Pending, given by the test when it is ready.
    const deliveryId = `pending-${Date.now().toString(36)}`;
    let answer;
    const answered = new Promise((resolve) => { answer = resolve; });
    await page.route('**/deliveries', async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      await answered;
      return route.fulfill({
        status: 202,
        contentType: 'application/json',
        headers: { location: `/deliveries/${deliveryId}` },
        body: JSON.stringify({
          deliveryId, restaurantId: restaurant.id, destination: 'Seoul, Yongsan-gu', cost: 12000, status: 'Called',
          riderId: null, payment: { status: 'Pending' }, settled: null, overdue: false,
        }),
      });
    });
    const response = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/deliveries');
    await submitCall(page, 'Seoul, Yongsan-gu', 12000);

    // While the API has not answered, the button says so and cannot be pressed twice.
    const button = page.locator('#call-button');
    await hasText(button, 'Calling…');
    assert.equal(await button.isDisabled(), true);
    await screenshot(page, '23-restaurant-calling');
    answer();

    assert.equal((await response).status(), 202);
    const notice = page.locator('#call-result');
    await hasText(notice, 'Call accepted for Seoul, Yongsan-gu, but payment is still pending: riders will see it as soon as payment confirms the fee. No need to call again.');
    assert.match(await notice.getAttribute('class'), /\bwarn\b/);
    await hasText(button, 'Call a rider');
    assert.equal(await button.isEnabled(), true);
    await hasText(deliveryRow(page, deliveryId).locator('.status'), 'Called · payment pending');
    await screenshot(page, '24-restaurant-payment-pending');
  } finally {
    await session.close();
  }
});

test('Cancel and its confirmation never break inside a word', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const restaurant = await newAccount('restaurant');
    const long = 'Seoul, Gangnam-gu, Teheran-ro 152, Gangnam Finance Center, tower B, floor 31, the reception desk by the lifts';
    const { status, body } = await apiAs(restaurant.id, 'POST', '/deliveries', { destination: long, cost: 30000 });
    assert.equal(status, 201, JSON.stringify(body));
    // A narrow window, still wide enough for the table layout.
    const page = await session.page({ viewport: { width: 700, height: 800 } });
    await openConsole(page, restaurant.id, restaurant.secret);
    const row = deliveryRow(page, body.deliveryId);
    await hasText(row.locator('.status'), 'Called');

    for (const line of await lineCounts(row.locator('button'))) assert.equal(line.lines, 1, `"${line.text}" takes ${line.lines} lines`);
    await row.getByRole('button', { name: `Cancel the delivery to ${long}`, exact: true }).click();
    await row.getByRole('button', { name: `Keep the delivery to ${long}` }).waitFor();
    const shown = await lineCounts(row.locator('button'));
    assert.deepEqual(shown.map((b) => b.text), ['Yes, cancel', 'Keep']);
    for (const line of shown) assert.equal(line.lines, 1, `"${line.text}" takes ${line.lines} lines`);
    await assertNoHorizontalScroll(page);
    await screenshot(page, '25-restaurant-cancel-confirm-narrow');

    // Keep: nothing was cancelled.
    await row.getByRole('button', { name: `Keep the delivery to ${long}` }).click();
    await row.getByRole('button', { name: `Cancel the delivery to ${long}`, exact: true }).waitFor();
    assert.equal((await apiGet(`/deliveries/${body.deliveryId}`, restaurant.id)).status, 'Called');
  } finally {
    await session.close();
  }
});

test('when the API is slow or gone the page says it is offline, pauses its buttons, and recovers', { timeout: 120_000 }, async () => {
  const session = new Session(browser);
  try {
    const restaurant = await newAccount('restaurant');
    const { body: open } = await apiAs(restaurant.id, 'POST', '/deliveries', { destination: 'Seoul, Jung-gu, Sejong-daero 110', cost: 8000 });
    const page = await session.page(DESKTOP);
    await openConsole(page, restaurant.id, restaurant.secret);
    const live = page.locator('#live');
    const banner = page.locator('#offline');
    const callButton = page.getByRole('button', { name: 'Call a rider' });
    const cancel = deliveryRow(page, open.deliveryId).getByRole('button', { name: /^Cancel the delivery/ });
    await hasText(live, /^Live · updated /);
    assert.equal(await banner.isHidden(), true);

    // The API's traffic, as the test lets it through: 'up', 'slow' (no answer ever) or
    // 'down' (connection refused); `downOnCall` takes it down as a call is sent.
    let mode = 'up';
    let downOnCall = false;
    await page.route((url) => !url.pathname.startsWith('/web/') && url.pathname !== '/restaurant', (route) => {
      const request = route.request();
      if (downOnCall && request.method() === 'POST' && new URL(request.url()).pathname === '/deliveries') mode = 'down';
      if (mode === 'down') return route.abort('connectionrefused');
      if (mode === 'slow') return undefined; // never answered: the page's timeout must end it
      return route.fallback();
    });

    // Slow: within the page's timeout (8 s) it says it is offline and pauses its actions.
    mode = 'slow';
    await hasText(live, 'Offline · retrying', 20_000);
    assert.equal(await banner.isVisible(), true);
    await hasText(banner, 'No connection to the server: calling and cancelling are paused until it answers again.');
    assert.equal(await callButton.isDisabled(), true);
    assert.equal(await cancel.isDisabled(), true);
    await screenshot(page, '26-restaurant-offline');

    // Back: live again, actions enabled.
    mode = 'up';
    await hasText(live, /^Live · updated /, 20_000);
    assert.equal(await banner.isHidden(), true);
    assert.equal(await callButton.isEnabled(), true);
    assert.equal(await cancel.isEnabled(), true);

    // Gone just as a call is sent: the message says no connection, and names the call.
    downOnCall = true;
    await submitCall(page, 'Seoul, Jung-gu, Eulji-ro 30', '17,500');
    const result = page.locator('#call-result');
    await hasText(result, 'Could not call a rider for Seoul, Jung-gu, Eulji-ro 30: No connection to the server. '
      + 'Nothing is lost: try again; it will not be called twice.');
    await hasText(live, 'Offline · retrying');
    assert.equal(await callButton.isDisabled(), true);
    await screenshot(page, '27-restaurant-call-no-connection');

    // Back: the message about the connection goes away by itself; the form kept what was typed.
    downOnCall = false;
    mode = 'up';
    await hasText(live, /^Live · updated /, 20_000);
    await result.waitFor({ state: 'hidden' });
    assert.equal(await page.getByLabel('Destination').inputValue(), 'Seoul, Jung-gu, Eulji-ro 30');
    assert.equal(await callButton.isEnabled(), true);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/deliveries'),
      callButton.click(),
    ]);
    assert.equal(response.status(), 201);
    await hasText(result, 'Rider called for Seoul, Jung-gu, Eulji-ro 30 (17,500 KRW); payment registered.');
    // A confirmation does not stay forever either.
    await until(async () => result.isHidden(), 'the confirmation to go away', 25_000);
    await until(async () => (await apiGet('/delivery-list?limit=100', restaurant.id)).items.length === 2, 'two deliveries listed');
  } finally {
    await session.close();
  }
});

test('Swagger UI at /docs shows the API from /openapi.json, with nothing fetched elsewhere', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const page = await session.page(DESKTOP);
    const spec = page.waitForResponse((r) => new URL(r.url()).pathname === '/openapi.json');
    await page.goto(API + '/docs');
    assert.equal((await spec).status(), 200);
    await page.getByText('Delivery agency API').first().waitFor();
    await page.locator('.opblock-summary-path', { hasText: '/deliveries/{delivery_id}/pickup' }).first().waitFor();
    assert.equal(new URL(page.url()).pathname, '/docs/');
    await screenshot(page, '28-swagger-ui');
  } finally {
    await session.close();
  }
});
