// A delivery from call to settlement, and a cancel before pickup, across the restaurant
// console and several riders' apps, each its own browser context (its own user).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  API, DESKTOP, PHONE, Session, apiGet, assertNoHorizontalScroll, assertNotReloaded, freezeOpenCalls, hasText,
  launch, screenshot, uniqueId, until,
} from './lib.js';
import { callCard, callRider, deliveryRow, message, myDelivery, openConsole, openRiderApp } from './pages.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Polls the API itself until rider `riderId`'s open calls do (or do not) list `deliveryId`. */
async function offered(riderId, deliveryId, expected = true) {
  return until(async () => {
    const calls = await apiGet(`/riders/${riderId}/calls`);
    return calls.some((call) => call.deliveryId === deliveryId) === expected;
  }, `the API to ${expected ? 'offer' : 'withdraw'} call ${deliveryId}`);
}

test('a call goes from the restaurant to the fastest rider, who completes it and is paid', { timeout: 120_000 }, async () => {
  const session = new Session(browser);
  const restaurantId = uniqueId('r');
  const [fast, late, watching] = [uniqueId('rider-fast'), uniqueId('rider-late'), uniqueId('rider-watch')];
  const destination = `Seoul, Gangnam-gu, Teheran-ro ${Math.floor(Math.random() * 900) + 100}`;
  try {
    const restaurant = await session.page(DESKTOP);
    const riderFast = await session.page(PHONE);
    const riderLate = await session.page(PHONE);
    const riderWatching = await session.page(PHONE);
    await openConsole(restaurant, restaurantId);
    await openRiderApp(riderFast, fast);
    await openRiderApp(riderLate, late);
    await openRiderApp(riderWatching, watching);
    await screenshot(riderFast, '01-rider-waiting');

    // The restaurant calls a rider: the call is confirmed with its payment registered.
    const response = await callRider(restaurant, destination, 20000);
    const calledAt = Date.now();
    assert.equal(response.status(), 201);
    const { deliveryId } = await response.json();
    await hasText(restaurant.locator('#call-result'), `Rider called for ${destination} (20,000 KRW); payment registered.`);
    const row = deliveryRow(restaurant, deliveryId);
    await hasText(row.locator('.status'), 'Called');
    await hasText(row.locator('.fee'), '20,000 KRW');

    // The riders' pages show the call without reloading, within 2 s of the API offering it.
    await offered(fast, deliveryId);
    const offeredAt = Date.now();
    await Promise.all([riderFast, riderLate, riderWatching].map((page) => callCard(page, deliveryId).waitFor({ timeout: 2000 })));
    console.log(`# call shown ${Date.now() - offeredAt} ms after the API offered it, ${Date.now() - calledAt} ms after the call`);
    await hasText(callCard(riderFast, deliveryId).locator('.destination'), destination);
    await hasText(callCard(riderFast, deliveryId).locator('.fee'), '20,000 KRW');
    await screenshot(restaurant, '02-restaurant-called');
    await screenshot(riderFast, '03-rider-call-offered');
    await assertNoHorizontalScroll(riderFast);

    // The late rider's app stops refreshing here: it keeps showing the call as open.
    const stale = await freezeOpenCalls(riderLate);
    assert.ok(stale.snapshot().some((call) => call.deliveryId === deliveryId), 'the frozen list has the call');

    // The fast rider picks it up; keyboard focus moves to its Complete button.
    await callCard(riderFast, deliveryId).getByRole('button', { name: `Pick up the delivery to ${destination}` }).click();
    await hasText(message(riderFast), `Picked up: take it to ${destination}, then press Complete.`);
    await callCard(riderFast, deliveryId).waitFor({ state: 'detached' });
    const mine = myDelivery(riderFast, deliveryId);
    await hasText(mine.locator('.status'), 'Picked');
    assert.equal(await riderFast.evaluate(() => document.activeElement?.textContent), 'Complete');
    await screenshot(riderFast, '04-rider-picked');

    // The restaurant sees who has it, and can no longer cancel.
    await hasText(row.locator('.status'), 'Picked');
    await hasText(row.locator('.rider'), fast);
    assert.equal(await row.locator('button').isHidden(), true, 'no Cancel button once picked up');

    // A rider whose app is live sees the call go away.
    await offered(watching, deliveryId, false);
    await callCard(riderWatching, deliveryId).waitFor({ state: 'detached', timeout: 2000 });
    await screenshot(riderWatching, '05-other-rider-call-gone');

    // The late rider taps Pick up on the stale card: someone else was faster.
    await screenshot(riderLate, '06-late-rider-stale-list');
    await callCard(riderLate, deliveryId).getByRole('button', { name: /^Pick up/ }).click();
    await hasText(message(riderLate), 'Someone else was faster: another rider already picked this delivery up.');
    await callCard(riderLate, deliveryId).waitFor({ state: 'detached' });
    await screenshot(riderLate, '07-late-rider-too-late');
    // Back to live, the call stays gone and nothing of it is the late rider's.
    await stale.thaw();
    await riderLate.waitForResponse((r) => new URL(r.url()).pathname === `/riders/${late}/calls`);
    await riderLate.waitForResponse((r) => new URL(r.url()).pathname === `/riders/${late}/calls`);
    assert.equal(await callCard(riderLate, deliveryId).count(), 0);
    assert.equal(await myDelivery(riderLate, deliveryId).count(), 0);

    // The fast rider completes; the payment is settled and both pages show the amount.
    await mine.getByRole('button', { name: `Complete the delivery to ${destination}` }).click();
    await hasText(message(riderFast), `Delivered to ${destination}: 20,000 KRW is being settled to you.`);
    await hasText(mine.locator('.status'), 'Completed');
    await hasText(mine.locator('.outcome'), 'Earned 20,000 KRW');
    await hasText(riderFast.locator('#earned'), 'Earned so far: 20,000 KRW');
    assert.equal(await mine.locator('button').isHidden(), true, 'no Complete button once completed');
    await screenshot(riderFast, '08-rider-completed-earned');

    await hasText(row.locator('.status'), 'Completed');
    await hasText(row.locator('.settled'), '20,000 KRW');
    await screenshot(restaurant, '09-restaurant-completed-settled');

    const listed = await apiGet(`/delivery-list/${deliveryId}`);
    assert.equal(listed.status, 'Completed');
    assert.equal(listed.settled, 20000);
    assert.equal(listed.riderId, fast);
    for (const page of [restaurant, riderFast, riderLate, riderWatching]) await assertNotReloaded(page);
  } finally {
    await session.close();
  }
});

test('a restaurant cancels before pickup: the call leaves the riders\' lists', { timeout: 120_000 }, async () => {
  const session = new Session(browser);
  const restaurantId = uniqueId('r');
  const [live, slow] = [uniqueId('rider-live'), uniqueId('rider-slow')];
  const destination = `Seoul, Mapo-gu, Yanghwa-ro ${Math.floor(Math.random() * 900) + 100}`;
  try {
    const restaurant = await session.page(DESKTOP);
    const riderLive = await session.page(PHONE);
    const riderSlow = await session.page(PHONE);
    await openConsole(restaurant, restaurantId);
    await openRiderApp(riderLive, live);
    await openRiderApp(riderSlow, slow);

    const response = await callRider(restaurant, destination, 15000);
    assert.equal(response.status(), 201);
    const { deliveryId } = await response.json();
    await offered(live, deliveryId);
    await callCard(riderLive, deliveryId).waitFor({ timeout: 2000 });
    await callCard(riderSlow, deliveryId).waitFor({ timeout: 2000 });
    const stale = await freezeOpenCalls(riderSlow);

    // Cancel, from the keyboard: the row's Cancel button is a real button.
    const row = deliveryRow(restaurant, deliveryId);
    await row.getByRole('button', { name: `Cancel the delivery to ${destination}` }).focus();
    await restaurant.keyboard.press('Enter');
    await hasText(restaurant.locator('#list-message'), `Cancelled the delivery to ${destination}; its fee is voided.`);
    await hasText(row.locator('.status'), 'Cancelled');
    assert.equal(await row.locator('button').isHidden(), true, 'no Cancel button once cancelled');
    await screenshot(restaurant, '10-restaurant-cancelled');

    // The live rider's list drops the call without a reload.
    await offered(live, deliveryId, false);
    await callCard(riderLive, deliveryId).waitFor({ state: 'detached', timeout: 2000 });
    await screenshot(riderLive, '11-rider-call-cancelled-gone');

    // A rider on a stale list who taps Pick up is told it was cancelled.
    await callCard(riderSlow, deliveryId).getByRole('button', { name: /^Pick up/ }).click();
    await hasText(message(riderSlow), /^This delivery was cancelled\b.*; it is no longer available\.$/);
    await callCard(riderSlow, deliveryId).waitFor({ state: 'detached' });
    await screenshot(riderSlow, '12-rider-pickup-cancelled');
    await stale.thaw();

    const payment = await apiGet(`/payments/${deliveryId}`);
    assert.equal(payment.status, 'Voided');
    for (const page of [restaurant, riderLive, riderSlow]) await assertNotReloaded(page);
  } finally {
    await session.close();
  }
});

test('the console lists only its restaurant\'s deliveries and reads well on a phone', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const restaurantId = uniqueId('r');
    const other = uniqueId('r-other');
    const post = (restaurant, destination) => fetch(API + '/deliveries', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ restaurantId: restaurant, destination, cost: 9000 }),
    }).then((r) => r.json());
    const ours = await post(restaurantId, 'Seoul, Jongno-gu <b>Sejong-daero</b> & "175"');
    const theirs = await post(other, 'Busan, Haeundae-gu');

    // Opened from a bookmark (?restaurantId=…) on a phone.
    const phone = await session.page(PHONE);
    await phone.goto(`${API}/restaurant?restaurantId=${encodeURIComponent(restaurantId)}`);
    const row = deliveryRow(phone, ours.deliveryId);
    await row.waitFor();
    // Markup in a destination is shown as typed, never interpreted.
    await hasText(row.locator('.destination'), 'Seoul, Jongno-gu <b>Sejong-daero</b> & "175"');
    assert.equal(await phone.locator('#deliveries b').count(), 0);
    assert.equal(await deliveryRow(phone, theirs.deliveryId).count(), 0);
    await assertNoHorizontalScroll(phone);
    await screenshot(phone, '13-restaurant-on-a-phone');
  } finally {
    await session.close();
  }
});
