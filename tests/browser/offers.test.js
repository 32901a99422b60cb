// Offer mode in the rider app: a restaurant in offer mode has each call offered to one rider
// at a time. The rider sees it as "Offered to you" with the seconds left to answer, above the
// calls open to every rider, and accepts it (it becomes the rider's, Assigned, to pick up) or
// declines it (it goes to the next rider); unanswered, it lapses.
//
// Which rider an offer goes to: among those online with a free place, the one holding the
// fewest deliveries, then the one waiting longest (never given one = longest), then the
// smallest id. Every rider is online until it says otherwise, so the riders here get ids that
// sort before every other rider's ("rider-0-…", then "rider-1-…"), each has held nothing, and
// they work in gangnam only: the demo restaurant r-2 (mapo) is in offer mode too, and its calls
// (of the other tests) must not hold an offer out to them.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  DEMO, PHONE, Session, apiAs, apiGet, assertNoHorizontalScroll, hasText, launch, newAccount, screenshot, until,
} from './lib.js';
import { callCard, message, myDelivery, openRiderApp } from './pages.js';

/** The narrowest phone the rider app is made for. */
const NARROW_PHONE = { ...PHONE, viewport: { width: 360, height: 740 } };

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** A new restaurant that an operator put in offer mode; its id. */
async function offeringRestaurant() {
  const { id } = await newAccount('restaurant');
  const { status, body } = await apiAs(DEMO.operator, 'PATCH', `/accounts/${id}`, { dispatchMode: 'offer' });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.dispatchMode, 'offer');
  return id;
}

/** A new rider working in gangnam only (the zone of the restaurants made here), so that the
 * offers of the demo restaurant in offer mode (r-2, in mapo) never reach it; its id. */
async function gangnamRider(prefix) {
  const { id } = await newAccount('rider', prefix);
  const { status, body } = await apiAs(DEMO.operator, 'PATCH', `/accounts/${id}`, { zones: ['gangnam'] });
  assert.equal(status, 200, JSON.stringify(body));
  return id;
}

/** A call of `restaurant` through the API; its delivery id. */
async function call(restaurant, destination, cost = 15000) {
  const { status, body } = await apiAs(restaurant, 'POST', '/deliveries', { destination, cost });
  assert.equal(status, 201, JSON.stringify(body));
  return body.deliveryId;
}

/** The restaurant cancels delivery `id`, so that its offers stop going round the riders of
 * the other tests. */
async function cancel(restaurant, id) {
  const { status, body } = await apiAs(restaurant, 'POST', `/deliveries/${id}/cancel`, {});
  assert.equal(status, 200, JSON.stringify(body));
}

/** Waits until `check(dispatch)` holds for the `dispatch` of delivery `id` (as the operator
 * sees it), and returns that dispatch. */
async function dispatchWhen(id, check, what) {
  let dispatch;
  await until(async () => {
    ({ dispatch } = await apiGet(`/deliveries/${id}`));
    return dispatch && check(dispatch);
  }, () => `${what} (dispatch of ${id}: ${JSON.stringify(dispatch)})`, 20_000);
  return dispatch;
}

const offeredTo = (id, rider) =>
  dispatchWhen(id, (d) => d.offer?.riderId === rider, `the call to be offered to ${rider}`);

/** The seconds an offer card says are left to answer it. */
async function secondsLeft(card) {
  const text = ((await card.getByRole('timer').textContent()) ?? '').trim();
  const match = /^(\d+) s left to answer$/.exec(text);
  assert.ok(match, `the countdown reads ${JSON.stringify(text)}`);
  return Number(match[1]);
}

async function setHidden(page, hidden) {
  await page.evaluate((value) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => value });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

test('an offer shows to its rider first, counting down, with Accept and Decline; declined it goes, accepted it is the rider\'s to pick up',
  { timeout: 150_000 }, async () => {
    const session = new Session(browser);
    const restaurant = await offeringRestaurant();
    const rider = await gangnamRider('rider-0');
    // The next in line: it gets the offer the first rider declines.
    const next = await gangnamRider('rider-1');
    const suffix = Date.now() % 1000;
    const declined = `Seoul, Gangnam-gu, Decline-ro ${suffix}`;
    const taken = `Seoul, Gangnam-gu, Accept-ro ${suffix}`;
    const open = `Seoul, Gangnam-gu, Broadcast-ro ${suffix}`;
    const cleanup = [];
    try {
      const page = await session.page(NARROW_PHONE);
      await openRiderApp(page, rider);

      // The first call is offered to the rider, then a call of a restaurant in broadcast
      // mode comes in: newer, yet below the offer.
      const first = await call(restaurant, declined, 12000);
      cleanup.push([restaurant, first]);
      await offeredTo(first, rider);
      const broadcast = await call(DEMO.restaurant, open, 9000);
      cleanup.push([DEMO.restaurant, broadcast]);
      const card = callCard(page, first);
      await card.waitFor();
      await callCard(page, broadcast).waitFor();
      assert.equal(await page.locator('#calls li').first().getAttribute('data-key'), first, 'the offer comes first');
      await hasText(card.locator('.offer-label'), 'Offered to you');
      assert.equal(await card.getByRole('button', { name: /^Pick up/ }).count(), 0, 'an offer is accepted, not picked up');
      assert.ok(await card.getByRole('button', { name: `Accept the delivery to ${declined}` }).isVisible());
      assert.ok(await card.getByRole('button', { name: `Decline the delivery to ${declined}` }).isVisible());
      assert.ok(await callCard(page, broadcast).getByRole('button', { name: `Pick up the delivery to ${open}` }).isVisible(),
        'a call open to every rider keeps its Pick up');
      assert.equal(await callCard(page, broadcast).locator('.offer-label').isVisible(), false);

      // The countdown runs: the seconds left go down by themselves.
      const before = await secondsLeft(card);
      assert.ok(before > 0 && before <= 30, `${before} s left of a 30 s offer`);
      let later = before;
      await until(async () => (later = await secondsLeft(card)) < before, 'the countdown to go down', 5_000);
      await assertNoHorizontalScroll(page);
      await screenshot(page, '30-rider-offer');

      // Decline: the card goes, and the offer goes to the next rider.
      await card.getByRole('button', { name: `Decline the delivery to ${declined}` }).click();
      await card.waitFor({ state: 'detached' });
      await hasText(message(page), `Declined the delivery to ${declined}: it goes to another rider.`);
      const passedOn = await offeredTo(first, next);
      assert.equal(passedOn.declines, 1, JSON.stringify(passedOn));
      // Two more refreshes of the list: it stays gone (the rider declined it).
      for (let i = 0; i < 2; i += 1) {
        await page.waitForResponse((r) => new URL(r.url()).pathname === '/rider/calls');
      }
      assert.equal(await card.count(), 0, 'a declined offer does not come back');
      await cancel(restaurant, first);
      cleanup.shift();

      // The second call is offered to the rider again (it holds nothing and has waited
      // longest); it is announced like any new call, in the title while the tab is hidden.
      const title = await page.title();
      await setHidden(page, true);
      const second = await call(restaurant, taken, 14000);
      cleanup.push([restaurant, second]);
      await offeredTo(second, rider);
      await until(async () => (await page.title()) === `(1) ${title}`, 'the title to count the new offer', 15_000);
      await setHidden(page, false);
      await until(async () => (await page.title()) === title, 'the count to clear once the tab is seen');

      // Accept: the delivery is the rider's, Assigned, with its Pick up.
      const offer = callCard(page, second);
      await offer.getByRole('button', { name: `Accept the delivery to ${taken}` }).click();
      await offer.waitFor({ state: 'detached' });
      await hasText(message(page), new RegExp(`^Accepted: pick up the delivery to ${taken} at .+, then press Pick up\\.$`));
      const mine = myDelivery(page, second);
      await hasText(mine.locator('.status'), 'Assigned');
      await hasText(mine.locator('.outcome'), 'You accepted it: pick it up at the restaurant, then press Pick up.');
      const pickUp = mine.getByRole('button', { name: `Pick up the delivery to ${taken}` });
      assert.ok(await pickUp.isVisible(), 'the accepted delivery has its Pick up');
      await hasText(page.locator('#holding'), 'Holding 1 of 3');
      const { body: view } = await apiAs(rider, 'GET', `/deliveries/${second}`);
      assert.equal(view.status, 'Assigned');
      assert.equal(view.riderId, rider);
      await assertNoHorizontalScroll(page);
      await screenshot(page, '31-rider-offer-accepted');

      // Then as any assigned delivery: picked up, then completed.
      await pickUp.click();
      await hasText(mine.locator('.status'), 'Picked');
      cleanup.pop();
      await mine.getByRole('button', { name: `Complete the delivery to ${taken}` }).click();
      await hasText(mine.locator('.status'), 'Completed');
    } finally {
      for (const [by, id] of cleanup) await apiAs(by, 'POST', `/deliveries/${id}/cancel`, {}).catch(() => {});
      await session.close();
    }
  });

test('an offer left unanswered counts down to lapsed, goes on the next refresh, and passes to another rider',
  { timeout: 120_000 }, async () => {
    const session = new Session(browser);
    const restaurant = await offeringRestaurant();
    const rider = await gangnamRider('rider-0');
    const destination = `Seoul, Gangnam-gu, Lapse-ro ${Date.now() % 1000}`;
    let id = null;
    try {
      const page = await session.page(NARROW_PHONE);
      await openRiderApp(page, rider);
      id = await call(restaurant, destination, 11000);
      await offeredTo(id, rider);
      const card = callCard(page, id);
      await card.waitFor();
      // From now on the list does not refresh (the server answers it with an error), so the
      // card stays as the countdown reaches 0.
      const pattern = '**/rider/calls';
      await page.route(pattern, (route) => route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ code: 'unavailable', message: 'not now' }),
      }));
      await hasText(card.getByRole('timer'), 'Lapsed: you did not answer in time', 45_000);
      assert.equal(await card.locator('button:visible').count(), 0, 'nothing to press on a lapsed offer');
      await screenshot(page, '32-rider-offer-lapsed');
      await page.unroute(pattern);
      await card.waitFor({ state: 'detached' });
      // A lapse counts as a decline: the call moved on.
      await dispatchWhen(id, (d) => d.declines >= 1 && d.offer?.riderId !== rider, 'the lapsed offer to move on');
    } finally {
      if (id) await apiAs(restaurant, 'POST', `/deliveries/${id}/cancel`, {}).catch(() => {});
      await session.close();
    }
  });
