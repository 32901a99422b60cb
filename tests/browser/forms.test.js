// The forms: the API's validation errors shown next to the field they name, the feedback
// for a call accepted while payment is pending, and Swagger UI at /docs.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { API, DESKTOP, PHONE, Session, apiGet, hasText, launch, screenshot, uniqueId } from './lib.js';
import { callRider, deliveryRow, openConsole, openRiderApp } from './pages.js';

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

test('the API\'s validation errors show next to the field at fault, and nothing is called', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  const restaurantId = uniqueId('r');
  try {
    const page = await session.page(DESKTOP);
    await openConsole(page, restaurantId);

    // Empty destination: the message is under Destination, which gets the focus.
    let response = await callRider(page, '   ', 20000);
    assert.equal(response.status(), 422);
    assert.equal((await response.json()).field, 'destination');
    await hasText(page.locator('#destination-error'), 'Destination must not be empty.');
    assert.deepEqual(await fieldError(page, 'destination'), { shown: true, text: 'Destination must not be empty.', invalid: true, styled: true });
    assert.deepEqual(await fieldError(page, 'cost'), { shown: false, text: '', invalid: false, styled: true });
    assert.equal(await page.evaluate(() => document.activeElement.id), 'destination');
    await screenshot(page, '20-restaurant-destination-error');

    // Fee 0: the message moves to Fee; the destination's is cleared.
    response = await callRider(page, 'Seoul, Seocho-gu', 0);
    assert.equal(response.status(), 422);
    await hasText(page.locator('#cost-error'), 'Fee must be a positive integer up to 1000000.');
    assert.deepEqual(await fieldError(page, 'destination'), { shown: false, text: '', invalid: false, styled: true });
    assert.equal((await fieldError(page, 'cost')).invalid, true);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'cost');
    await screenshot(page, '21-restaurant-fee-error');

    // A fee that is not a number, and a missing one, are the API's to judge too.
    await callRider(page, 'Seoul, Seocho-gu', 'twenty');
    await hasText(page.locator('#cost-error'), 'Fee must be a positive integer up to 1000000.');
    await callRider(page, 'Seoul, Seocho-gu', '');
    await hasText(page.locator('#cost-error'), 'Fee is required.');

    // No call was made by any of these.
    assert.deepEqual(await apiGet(`/delivery-list?restaurantId=${restaurantId}`), []);
    assert.equal(await page.locator('#deliveries tbody tr').count(), 0);
    await hasText(page.locator('#list-empty'), 'No deliveries yet.');
  } finally {
    await session.close();
  }
});

test('an invalid rider id gets the API\'s message next to the rider id', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const page = await session.page(PHONE);
    await page.goto(API + '/rider');
    await page.getByLabel('Rider id').fill('rider 7!');
    await page.getByRole('button', { name: 'Start' }).click();
    await hasText(page.locator('#rider-id-error'), "Rider id must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
    assert.equal(await page.locator('#rider-id').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#app').isHidden(), true);
    await screenshot(page, '22-rider-invalid-id');

    // Corrected, the app starts.
    await openRiderApp(page, uniqueId('rider'));
    assert.equal(await page.locator('#rider-id').getAttribute('aria-invalid'), null);
    assert.equal(await page.locator('#rider-id-error').isHidden(), true);
  } finally {
    await session.close();
  }
});

test('a call accepted while payment is pending says so and still shows in the list', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  const restaurantId = uniqueId('r');
  try {
    const page = await session.page(DESKTOP);
    await openConsole(page, restaurantId);
    // The payment side cannot be taken down under the shared stack, so this one answer is the
    // contract's 202 with payment Pending, given by the test.
    const deliveryId = uniqueId('pending');
    await page.route('**/deliveries', (route) => route.request().method() !== 'POST' ? route.fallback() : route.fulfill({
      status: 202,
      contentType: 'application/json',
      headers: { location: `/deliveries/${deliveryId}` },
      body: JSON.stringify({
        deliveryId, restaurantId, destination: 'Seoul, Yongsan-gu', cost: 12000, status: 'Called',
        riderId: null, payment: { status: 'Pending' }, settled: null, overdue: false,
      }),
    }));
    const response = await callRider(page, 'Seoul, Yongsan-gu', 12000);
    assert.equal(response.status(), 202);
    const notice = page.locator('#call-result');
    await hasText(notice, 'Call accepted for Seoul, Yongsan-gu, but payment is still pending: riders will see it as soon as payment confirms the fee. No need to call again.');
    assert.match(await notice.getAttribute('class'), /\bwarn\b/);
    await hasText(deliveryRow(page, deliveryId).locator('.status'), 'Called · payment pending');
    await screenshot(page, '23-restaurant-payment-pending');
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
    await screenshot(page, '24-swagger-ui');
  } finally {
    await session.close();
  }
});
