// Dispatch in the pages: the rider's online switch, the new-call count in the tab title, a
// delivery the rider cannot hand over, and the restaurant console's timeline of who has it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { DEMO, DESKTOP, PHONE, Session, apiAs, hasText, launch, newAccount, screenshot, until } from './lib.js';
import { callCard, deliveryRow, message, myDelivery, openConsole, openRiderApp } from './pages.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** A call from the demo restaurant through the API; its delivery id. */
async function call(destination, cost = 15000) {
  const { status, body } = await apiAs(DEMO.restaurant, 'POST', '/deliveries', { destination, cost });
  assert.equal(status, 201, JSON.stringify(body));
  return body.deliveryId;
}

test('a rider going offline sees no calls and is told why, and back online sees them again', { timeout: 90_000 }, async () => {
  const session = new Session(browser);
  const rider = (await newAccount('rider')).id;
  try {
    const page = await session.page(PHONE);
    await openRiderApp(page, rider);
    await hasText(page.locator('#availability-state'), 'Online');
    await hasText(page.locator('#holding'), 'Holding 0 of 3');
    const id = await call(`Seoul, Gangnam-gu, Switch-ro ${Date.now() % 1000}`);
    await callCard(page, id).waitFor();

    await page.getByRole('switch').click();
    await hasText(page.locator('#availability-state'), 'Offline');
    assert.equal(await page.getByRole('switch').getAttribute('aria-checked'), 'false');
    await hasText(message(page), 'You are offline: no new calls until you go online. What you hold stays yours.');
    await callCard(page, id).waitFor({ state: 'detached' });
    await hasText(page.locator('#calls-empty'), 'You are offline: go online to see and take calls.');
    const { body } = await apiAs(rider, 'GET', '/rider/availability');
    assert.equal(body.online, false, 'the switch changed the API, not only the page');
    await screenshot(page, '20-rider-offline');

    await page.getByRole('switch').click();
    await hasText(page.locator('#availability-state'), 'Online');
    await callCard(page, id).waitFor();
  } finally {
    await session.close();
  }
});

test('a new call while the tab is hidden shows as a count in its title', { timeout: 90_000 }, async () => {
  const session = new Session(browser);
  const rider = (await newAccount('rider')).id;
  try {
    const page = await session.page(PHONE);
    await openRiderApp(page, rider);
    const title = await page.title();
    // The tab goes to the background, as when the rider pockets the phone.
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await call(`Seoul, Gangnam-gu, Hidden-ro ${Date.now() % 1000}`);
    await until(async () => (await page.title()) === `(1) ${title}`, 'the title to count the new call', 15_000);
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await until(async () => (await page.title()) === title, 'the count to clear once the tab is seen');
  } finally {
    await session.close();
  }
});

test("a rider who can't deliver reports why, and the restaurant sees who had it and when", { timeout: 120_000 }, async () => {
  const session = new Session(browser);
  const rider = (await newAccount('rider')).id;
  const destination = `Seoul, Gangnam-gu, Fail-ro ${Date.now() % 1000}`;
  try {
    const restaurant = await session.page(DESKTOP);
    const page = await session.page(PHONE);
    await openConsole(restaurant, DEMO.restaurant);
    await openRiderApp(page, rider);
    const id = await call(destination, 12000);
    await callCard(page, id).getByRole('button', { name: `Pick up the delivery to ${destination}` }).click();
    const mine = myDelivery(page, id);
    await hasText(mine.locator('.status'), 'Picked');
    await hasText(page.locator('#holding'), 'Holding 1 of 3');

    // The console names the rider and the times so far.
    const row = deliveryRow(restaurant, id);
    await hasText(row.locator('.rider'), rider);
    await hasText(row.locator('.timeline'), /called .+ · assigned .+ · picked up .+/);

    await mine.getByRole('button', { name: "Can't deliver" }).click();
    await mine.getByRole('combobox', { name: 'Why you cannot deliver' }).selectOption('customer_unreachable');
    await mine.getByRole('textbox', { name: /Note/ }).fill('rang three times');
    await screenshot(page, '21-rider-cant-deliver');
    await mine.getByRole('button', { name: 'Report' }).click();
    await hasText(message(page), `Reported: the delivery to ${destination} could not be delivered (Customer unreachable).`);
    await hasText(mine.locator('.status'), 'Failed');
    await hasText(mine.locator('.outcome'), /^Could not deliver: Customer unreachable/);
    assert.equal(await mine.locator('button:visible').count(), 0, 'nothing left to press on a failed delivery');

    const { body } = await apiAs(DEMO.operator, 'GET', `/deliveries/${id}`);
    assert.deepEqual(body.failure, { reason: 'customer_unreachable', note: 'rang three times' });
    await hasText(row.locator('.status'), 'Failed');
    await hasText(row.locator('.timeline'), /failed .+ · reason: Customer unreachable/);
    await screenshot(restaurant, '22-restaurant-failed-timeline');
  } finally {
    await session.close();
  }
});

test('a rider whose delivery the dispatcher moves to another rider is told, and the card goes', { timeout: 90_000 }, async () => {
  const session = new Session(browser);
  const [first, second] = [(await newAccount('rider')).id, (await newAccount('rider')).id];
  const destination = `Seoul, Gangnam-gu, Move-ro ${Date.now() % 1000}`;
  try {
    const page = await session.page(PHONE);
    await openRiderApp(page, first);
    const id = await call(destination, 9000);
    await callCard(page, id).getByRole('button', { name: `Pick up the delivery to ${destination}` }).click();
    await hasText(myDelivery(page, id).locator('.status'), 'Picked');
    const { status, body } = await apiAs(DEMO.operator, 'POST', `/deliveries/${id}/reassign`,
      { riderId: second, reason: 'scooter broke down' });
    assert.equal(status, 200, JSON.stringify(body));
    await hasText(message(page),
      `The delivery to ${destination} was reassigned to another rider by the dispatcher: it is no longer yours.`);
    await myDelivery(page, id).waitFor({ state: 'detached' });
    await hasText(page.locator('#holding'), 'Holding 0 of 3');
    await screenshot(page, '23-rider-reassigned-away');
  } finally {
    await session.close();
  }
});
