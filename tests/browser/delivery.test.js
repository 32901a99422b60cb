// A delivery from call to settlement, and a cancel before pickup, across the restaurant
// console and several riders' apps, each its own browser context (its own user), each signed
// in with a demo account of ./infra/run.sh (secret demo-<id>).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  DEMO, DESKTOP, PHONE, Session, apiAs, apiGet, assertNoHorizontalScroll, assertNotReloaded, freezeOpenCalls,
  hasText, launch, lineCounts, newAccount, screenshot, until,
} from './lib.js';
import { callCard, callRider, deliveryRow, message, myDelivery, openConsole, openRiderApp } from './pages.js';

/** `text` as a RegExp that matches it literally. */
const literal = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Polls the API itself until rider `riderId`'s open calls do (or do not) list `deliveryId`. */
async function offered(riderId, deliveryId, expected = true) {
  return until(async () => {
    const calls = await apiGet('/rider/calls', riderId);
    return calls.some((call) => call.deliveryId === deliveryId) === expected;
  }, `the API to ${expected ? 'offer' : 'withdraw'} call ${deliveryId}`);
}

test('a call goes from the restaurant to the fastest rider, who completes it and is paid', { timeout: 120_000 }, async () => {
  const session = new Session(browser);
  const restaurantId = DEMO.restaurant;
  // Two demo riders, and a third one the operator signs up for this test.
  const [fast, late] = [DEMO.rider, DEMO.otherRider];
  const watching = (await newAccount('rider', 'rider-watch')).id;
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
    // Each page names the account it is signed in as.
    await hasText(restaurant.locator('#account-name'), 'Gangnam Kitchen (r-1)');
    await hasText(restaurant.locator('#restaurant-name'), 'Gangnam Kitchen');
    await hasText(riderFast.locator('#account-name'), 'Minjun (rider-7)');
    await hasText(riderLate.locator('#account-name'), 'Seoyeon (rider-8)');
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
    // The card says what the rider earns (the fee less r-1's 10% commission) and where to go.
    await hasText(callCard(riderFast, deliveryId).locator('.fee'), 'You earn 18,000 KRW');
    await hasText(callCard(riderFast, deliveryId).locator('.from'), /Gangnam Kitchen, Seoul, Gangnam-gu, Teheran-ro 101/);
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
    assert.deepEqual(await lineCounts(row.locator('.rider')), [{ text: fast, lines: 1 }], 'the rider id on one line');
    assert.equal(await row.locator('button:visible').count(), 0, 'no Cancel button once picked up');

    // A rider whose app is live sees the call go away.
    await offered(watching, deliveryId, false);
    await callCard(riderWatching, deliveryId).waitFor({ state: 'detached', timeout: 2000 });
    await screenshot(riderWatching, '05-other-rider-call-gone');

    // The late rider taps Pick up on the stale card: someone else was faster.
    await screenshot(riderLate, '06-late-rider-stale-list');
    await callCard(riderLate, deliveryId).getByRole('button', { name: /^Pick up/ }).click();
    await hasText(message(riderLate), `Someone else was faster: another rider already picked up the delivery to ${destination}.`);
    await callCard(riderLate, deliveryId).waitFor({ state: 'detached' });
    await screenshot(riderLate, '07-late-rider-too-late');
    // Back to live, the call stays gone and nothing of it is the late rider's.
    await stale.thaw();
    await riderLate.waitForResponse((r) => new URL(r.url()).pathname === '/rider/calls');
    await riderLate.waitForResponse((r) => new URL(r.url()).pathname === '/rider/calls');
    assert.equal(await callCard(riderLate, deliveryId).count(), 0);
    assert.equal(await myDelivery(riderLate, deliveryId).count(), 0);

    // The fast rider completes; the payment is settled and both pages show the amount. What
    // the rider earned today is the server's statement (money.test.js tells more).
    await mine.getByRole('button', { name: `Complete the delivery to ${destination}` }).click();
    await hasText(message(riderFast), `Delivered to ${destination}: your earning is being settled to you.`);
    await hasText(mine.locator('.status'), 'Completed');
    const today = new Date().toISOString().slice(0, 10);
    const statement = await until(async () => {
      const body = await apiGet(`/rider/statement?from=${today}&to=${today}`, fast);
      return body.lines.some((line) => line.deliveryId === deliveryId) && body;
    }, 'the delivery on the rider\'s statement');
    await hasText(riderFast.locator('#today-total'), `${statement.total.toLocaleString('en-US')} KRW`);
    // The card says what the rider earned (the fee less the 10% commission), as the statement.
    await hasText(mine.locator('.outcome'), 'Earned 18,000 KRW');
    assert.equal(await mine.locator('button:visible').count(), 0, 'no button once completed');
    await screenshot(riderFast, '08-rider-completed-earned');

    await hasText(row.locator('.status'), 'Completed');
    await hasText(row.locator('.settled'), '20,000 KRW');
    await screenshot(restaurant, '09-restaurant-completed-settled');

    const listed = await apiGet(`/delivery-list/${deliveryId}`);
    assert.equal(listed.status, 'Completed');
    assert.equal(listed.settled, 20000);
    assert.equal(listed.riderId, fast);
    assert.equal(listed.restaurantId, restaurantId);
    // The late rider never held it: its own list does not have it.
    assert.ok(!(await apiGet('/delivery-list?limit=100', late)).items.some((d) => d.deliveryId === deliveryId));
    for (const page of [restaurant, riderFast, riderLate, riderWatching]) await assertNotReloaded(page);
  } finally {
    await session.close();
  }
});

test('a restaurant cancels before pickup: the call leaves the riders\' lists', { timeout: 120_000 }, async () => {
  const session = new Session(browser);
  const restaurantId = DEMO.restaurant;
  const [live, slow] = [DEMO.rider, DEMO.otherRider];
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

    // Cancel, from the keyboard: the row's Cancel button is a real button, and it asks first.
    // Escape (or Keep) leaves the delivery as it is.
    const row = deliveryRow(restaurant, deliveryId);
    const cancel = row.getByRole('button', { name: `Cancel the delivery to ${destination}`, exact: true });
    await cancel.focus();
    await restaurant.keyboard.press('Enter');
    const yes = row.getByRole('button', { name: `Yes, cancel the delivery to ${destination}` });
    await yes.waitFor();
    assert.equal(await restaurant.evaluate(() => document.activeElement?.textContent), 'Yes, cancel');
    await row.getByRole('button', { name: `Keep the delivery to ${destination}` }).waitFor();
    await screenshot(restaurant, '10-restaurant-cancel-confirm');
    await restaurant.keyboard.press('Escape');
    await cancel.waitFor();
    assert.equal(await yes.isHidden(), true, 'the confirmation goes away on Escape');
    assert.equal(await restaurant.evaluate(() => document.activeElement?.textContent), 'Cancel');
    await hasText(row.locator('.status'), 'Called');
    // Asked again, and confirmed with Enter.
    await restaurant.keyboard.press('Enter');
    await yes.waitFor();
    await restaurant.keyboard.press('Enter');
    await hasText(restaurant.locator('#list-message'), `Cancelled the delivery to ${destination}; its fee is voided.`);
    await hasText(row.locator('.status'), 'Cancelled');
    assert.equal(await row.locator('button:visible').count(), 0, 'no Cancel button once cancelled');
    assert.equal(await yes.isHidden(), true, 'no confirmation once cancelled');
    await screenshot(restaurant, '10-restaurant-cancelled');

    // The live rider's list drops the call without a reload.
    await offered(live, deliveryId, false);
    await callCard(riderLive, deliveryId).waitFor({ state: 'detached', timeout: 2000 });
    await screenshot(riderLive, '11-rider-call-cancelled-gone');

    // A rider on a stale list who taps Pick up is told it is gone, naming it: cancelled when
    // the API says so (a rider may not read another's finished delivery, so the API's 409
    // may only say that it is finished).
    await callCard(riderSlow, deliveryId).getByRole('button', { name: /^Pick up/ }).click();
    await hasText(message(riderSlow), new RegExp(`^The delivery to ${literal(destination)} `
      + '(was cancelled\\b.*; it is no longer available|is no longer available: it was cancelled, or another rider took it)\\.$'));
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
    // Each restaurant calls with its own token; the body names no restaurant.
    const post = async (restaurant, destination) => {
      const { status, body } = await apiAs(restaurant, 'POST', '/deliveries', { destination, cost: 9000 });
      assert.equal(status, 201, JSON.stringify(body));
      assert.equal(body.restaurantId, restaurant);
      return body;
    };
    const ours = await post(DEMO.restaurant, 'Seoul, Jongno-gu <b>Sejong-daero</b> & "175"');
    const theirs = await post(DEMO.otherRestaurant, 'Busan, Haeundae-gu');

    // Signed in on a phone.
    const phone = await session.page(PHONE);
    await openConsole(phone, DEMO.restaurant);
    const row = deliveryRow(phone, ours.deliveryId);
    await row.waitFor();
    // Markup in a destination is shown as typed, never interpreted.
    await hasText(row.locator('.destination'), 'Seoul, Jongno-gu <b>Sejong-daero</b> & "175"');
    assert.equal(await phone.locator('#deliveries b').count(), 0);
    assert.equal(await deliveryRow(phone, theirs.deliveryId).count(), 0);
    // Every row is the restaurant's own (the API answers a restaurant with nothing else).
    const keys = await phone.locator('#deliveries tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.key));
    const own = new Set((await apiGet('/delivery-list?limit=100', DEMO.restaurant)).items.map((d) => d.deliveryId));
    assert.ok(keys.length > 0 && keys.every((key) => own.has(key)), 'only r-1\'s deliveries');
    assert.ok(!own.has(theirs.deliveryId));
    // No box to type another restaurant's id into.
    assert.equal(await phone.locator('#restaurant-id, #known-restaurants').count(), 0);
    await assertNoHorizontalScroll(phone);
    await screenshot(phone, '13-restaurant-on-a-phone');
  } finally {
    await session.close();
  }
});
