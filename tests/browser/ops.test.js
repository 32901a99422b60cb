// The control room (/ops): an operator signs in (which also opens the codec session of the
// Temporal UI), watches the board of open deliveries and the fleet, assigns an unassigned call
// to a rider, resolves a delivery needing attention, manages accounts (a secret shown once,
// deletion signing the account out), and sees the page go offline, expire and sign out. The
// board, fleet and accounts views pass axe-core's WCAG 2 A and AA rules.
//
// Each test works in zones of its own ("ops-…"), with riders of its own working only there, so
// the calls of the demo restaurants (gangnam, mapo) and of the other tests never reach them.

import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  API, DEMO, DESKTOP, PHONE, Session, apiAs, apiGet, assertNoHorizontalScroll, demoSecret, hasText, launch, newAccount,
  screenshot, uniqueId, until,
} from './lib.js';
import { boardRow, myDelivery, openControlRoom, openRiderApp, signInToControlRoom } from './pages.js';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** A zone no one else works in. */
const ownZone = () => uniqueId('ops').toLowerCase();

/** A new restaurant in `zone`, dispatching as `mode`: {id, name}. */
async function restaurantIn(zone, mode = 'broadcast') {
  const restaurant = await newAccount('restaurant');
  const { status, body } = await apiAs(DEMO.operator, 'PATCH', `/accounts/${restaurant.id}`, { zone, dispatchMode: mode });
  assert.equal(status, 200, JSON.stringify(body));
  return restaurant;
}

/** A new rider working in `zones` only: {id, name, secret}. */
async function riderIn(zones) {
  const rider = await newAccount('rider');
  const { status, body } = await apiAs(DEMO.operator, 'PATCH', `/accounts/${rider.id}`, { zones });
  assert.equal(status, 200, JSON.stringify(body));
  return rider;
}

/** A call of `restaurant` through the API; its delivery id. */
async function call(restaurant, destination, cost = 14000) {
  const { status, body } = await apiAs(restaurant, 'POST', '/deliveries', { destination, cost });
  assert.equal(status, 201, JSON.stringify(body));
  return body.deliveryId;
}

/**
 * The riders of the earlier test files work in every zone (they were made with no zones) and
 * stay online: in offer mode they would be offered a call of `zone` in turn, 30 s each, before
 * it falls back to unassigned. Those still online are narrowed to gangnam (where they already
 * worked, so nothing changes for the demo calls), and nobody qualifies for `zone`.
 */
async function keepEveryZoneRidersOutOf(zone) {
  const riders = await apiGet(`/ops/riders?zone=${zone}&online=true`);
  for (const rider of riders.filter((r) => r.zones.length === 0)) {
    const { status, body } = await apiAs(DEMO.operator, 'PATCH', `/accounts/${rider.id}`, { zones: ['gangnam'] });
    assert.equal(status, 200, JSON.stringify(body));
  }
}

/** Whether every row of the board above `row` is flagged (attention or unassigned), as
 * `flags` says: what needs a person comes first. */
async function onTopOfBoard(page, deliveryId, flags) {
  const keys = await page.locator('#board tbody tr').evaluateAll((rows, wanted) => rows.map((row) => ({
    key: row.dataset.key, flagged: wanted.some((flag) => row.classList.contains(flag)),
  })), flags);
  const at = keys.findIndex((k) => k.key === deliveryId);
  assert.ok(at >= 0, `${deliveryId} is not on the board`);
  assert.ok(keys.slice(0, at + 1).every((k) => k.flagged), `${deliveryId} is at ${at}, below unflagged rows: ${JSON.stringify(keys)}`);
}

/** Runs axe-core's WCAG 2 A and AA rules on the page; fails listing what it found. The page's
 * CSP forbids inline script, so the context must bypass it (`bypassCSP`). */
async function assertAccessible(page, what) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return result.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  assert.deepEqual(violations, [], `axe-core found WCAG 2 A/AA violations on ${what}: ${JSON.stringify(violations, null, 2)}`);
}

test('an unassigned call in offer mode shows on top of the board; the operator assigns it, the rider delivers it, and it leaves the board',
  { timeout: 180_000 }, async () => {
    const session = new Session(browser);
    const zone = ownZone();
    const restaurant = await restaurantIn(zone, 'offer');
    // The rider works elsewhere: an assignment needs a free place, not the zone.
    const rider = await riderIn([`${zone}-other`]);
    await keepEveryZoneRidersOutOf(zone);
    const destination = `Seoul, Jongno-gu, Assign-ro ${Date.now() % 1000}`;
    let id = null;
    try {
      const ops = await session.page(DESKTOP);
      await openControlRoom(ops);
      await hasText(ops.locator('#live'), /^Live · updated /);
      const phone = await session.page(PHONE);
      await openRiderApp(phone, rider.id, rider.secret);

      // Nobody works in the zone: the offers fall back to every rider at once, flagged.
      id = await call(restaurant.id, destination, 16000);
      const row = boardRow(ops, id);
      await hasText(row.locator('.flag'), 'Unassigned: no rider took the call', 30_000);
      await hasText(row.locator('.status'), 'Called');
      await hasText(row.locator('.restaurant .name'), `${restaurant.name} (${restaurant.id})`);
      await hasText(row.locator('.zone'), `zone ${zone}`);
      await hasText(row.locator('.waiting'), /^\d+ min$/);
      await onTopOfBoard(ops, id, ['attention', 'unassigned']);
      // Its workflow, linked into the Temporal UI in a new tab.
      const link = row.locator('.workflow a');
      assert.equal(await link.textContent(), `delivery-${id}`);
      assert.match(await link.getAttribute('href'), new RegExp(`/namespaces/default/workflows/delivery-${id}$`));
      assert.equal(await link.getAttribute('target'), '_blank');
      assert.equal(await link.getAttribute('rel'), 'noopener');
      const counts = await ops.locator('#counts').textContent();
      assert.match(counts, /Unassigned\s*[1-9]/, counts);

      // The filters: its zone keeps it, another status hides it.
      const filters = ops.getByRole('form', { name: 'Filter the board' });
      await filters.getByLabel('Zone').selectOption(zone);
      await until(async () => (await ops.locator('#board tbody tr').count()) === 1, 'the board to show its zone only');
      await row.waitFor();
      await filters.getByLabel('Status').selectOption('Picked');
      await row.waitFor({ state: 'detached' });
      await hasText(ops.locator('#board-empty'), 'No open deliveries match these filters.');
      await filters.getByLabel('Status').selectOption('unassigned');
      await row.waitFor();
      await filters.getByLabel('Zone').selectOption('');
      await filters.getByLabel('Status').selectOption('');

      // Assign, from the row: the dialog names the delivery and offers riders with a free place.
      const assign = row.getByRole('button', { name: `Assign the delivery to ${destination}` });
      await assign.click();
      const dialog = ops.getByRole('dialog', { name: `Assign the delivery to ${destination}` });
      await dialog.waitFor();
      await hasText(ops.locator('#assign-what'), new RegExp(`^${restaurant.name} \\(${restaurant.id}\\) · 16,000 KRW · Called · delivery ${id}$`));
      const riders = dialog.getByLabel('Rider', { exact: true });
      assert.equal(await ops.evaluate(() => document.activeElement.id), 'assign-rider', 'the focus is in the dialog');
      const offered = await riders.locator('option').evaluateAll((options) => options.map((o) => o.value));
      assert.ok(offered.includes(rider.id), `${rider.id} is offered: ${offered}`);
      const fleet = new Map((await apiGet('/ops/riders')).map((r) => [r.id, r]));
      for (const choice of offered) {
        const r = fleet.get(choice);
        assert.ok(r && r.active.length < r.capacity, `${choice} is offered without a free place: ${JSON.stringify(r)}`);
      }
      await riders.selectOption(rider.id);
      await dialog.getByLabel('Reason (optional)').fill('nobody in the zone');
      await screenshot(ops, '44-ops-assign-dialog');
      await dialog.getByRole('button', { name: 'Assign', exact: true }).click();
      await dialog.waitFor({ state: 'hidden' });
      await hasText(ops.locator('#message'), `The delivery to ${destination} is now ${rider.name} (${rider.id})'s.`);
      // The focus is back on the row's button, which now reassigns.
      await until(async () => (await ops.evaluate(() => document.activeElement.getAttribute('aria-label')))
        === `Reassign the delivery to ${destination}`, 'the focus to come back to the row');
      await hasText(row.locator('.status'), 'Assigned');
      await hasText(row.locator('.rider'), rider.id);

      // The rider's app shows it, to pick up; then delivered.
      const mine = myDelivery(phone, id);
      await hasText(mine.locator('.status'), 'Assigned');
      await mine.getByRole('button', { name: `Pick up the delivery to ${destination}` }).click();
      await hasText(mine.locator('.status'), 'Picked');
      await hasText(row.locator('.status'), 'Picked');
      await mine.getByRole('button', { name: `Complete the delivery to ${destination}` }).click();
      await hasText(mine.locator('.status'), 'Completed');
      id = null;

      // Ended: it leaves the board.
      await row.waitFor({ state: 'detached', timeout: 20_000 });
    } finally {
      if (id) await apiAs(restaurant.id, 'POST', `/deliveries/${id}/cancel`, {}).catch(() => {});
      await session.close();
    }
  });

test('a rider account made on the page signs in with the secret shown once, and is signed out within a minute of its deletion',
  { timeout: 180_000 }, async () => {
    const session = new Session(browser);
    const id = uniqueId('rider-ops');
    const name = `Ops rider ${id.slice(-4)}`;
    try {
      const ops = await session.page(DESKTOP);
      await ops.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: API });
      await openControlRoom(ops);
      await ops.getByRole('tab', { name: 'Accounts' }).click();
      await ops.getByRole('button', { name: 'Riders', exact: true }).click();

      const form = ops.locator('#create-form');
      await form.getByLabel('Role').selectOption('rider');
      await form.getByLabel('Id (optional)').fill(id);
      await form.getByLabel('Name').fill(name);
      await form.getByLabel('Zones').fill(ownZone());
      await form.getByLabel('Capacity').selectOption('2');
      await form.getByRole('button', { name: 'Create account' }).click();

      // The secret shows once, with its warning and a Copy button.
      await hasText(ops.locator('#create-result'), `Created the rider account ${name} (${id}).`);
      const panel = ops.getByRole('region', { name: `Secret of ${name} (${id})` });
      await panel.waitFor();
      await hasText(panel.locator('.notice.warn'), 'Copy it now and hand it over safely: it will not be shown again.');
      const secret = (await ops.locator('#secret-value').textContent()).trim();
      assert.ok(secret.length >= 32, `a secret: ${secret}`);
      assert.equal(await ops.evaluate(() => document.activeElement.id), 'secret-title');
      await panel.getByRole('button', { name: 'Copy' }).click();
      await hasText(ops.locator('#secret-copied'), 'Copied to the clipboard.');
      assert.equal(await ops.evaluate(() => navigator.clipboard.readText()), secret);
      await screenshot(ops, '45-ops-secret-shown-once');
      const { body: account } = await apiAs(DEMO.operator, 'GET', `/accounts/${id}`);
      assert.equal(account.capacity, 2);
      assert.equal(account.role, 'rider');

      // The secret works in the rider app.
      const phone = await session.page(PHONE);
      await openRiderApp(phone, id, secret);
      await hasText(phone.locator('#account-name'), `${name} (${id})`);
      await hasText(phone.locator('#live'), /^Live · updated /);

      // Hidden, it is gone from the page.
      await panel.getByRole('button', { name: 'Done, hide it' }).click();
      await panel.waitFor({ state: 'hidden' });
      assert.equal(await ops.locator('#secret-value').textContent(), '');

      // Deleted from the page, after a confirmation naming it.
      const row = ops.locator(`#accounts tbody tr[data-key="${id}"]`);
      await row.getByRole('button', { name: `Delete ${name} (${id})` }).click();
      const confirm = ops.getByRole('dialog', { name: `Delete ${name} (${id})?` });
      await confirm.waitFor();
      assert.equal(await ops.evaluate(() => document.activeElement.textContent), 'Back', 'a destructive question starts on Back');
      await confirm.getByRole('button', { name: 'Delete account' }).click();
      await hasText(ops.locator('#accounts-message'), `Deleted ${name} (${id}).`);
      await row.waitFor({ state: 'detached' });
      assert.equal((await apiAs(DEMO.operator, 'GET', `/accounts/${id}`)).status, 404);

      // The rider app, still polling, is refused within a minute and asks to sign in again.
      await phone.locator('#signin-form').waitFor({ timeout: 75_000 });
      await hasText(phone.locator('#signin-notice'), 'Your session has expired: sign in again to go on.');
      assert.equal(await phone.locator('#app').isHidden(), true);
      const again = await fetch(API + '/oauth/token', {
        method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: id, password: secret }),
      });
      assert.equal(again.status, 400, 'the deleted account cannot sign in');
    } finally {
      await session.close();
    }
  });

test('a delivery needing attention shows on top with its reason, and settling it from the page settles its money',
  { timeout: 150_000 }, async () => {
    const session = new Session(browser);
    const zone = ownZone();
    const restaurant = await restaurantIn(zone);
    const rider = await riderIn([zone]);
    const destination = `Seoul, Jongno-gu, Attention-ro ${Date.now() % 1000}`;
    try {
      const id = await call(restaurant.id, destination, 21000);
      await until(async () => (await apiGet('/rider/calls', rider.id)).some((c) => c.deliveryId === id), 'the call to reach the rider');
      const picked = await apiAs(rider.id, 'POST', `/deliveries/${id}/pickup`);
      assert.equal(picked.status, 200, JSON.stringify(picked.body));
      const failed = await apiAs(rider.id, 'POST', `/deliveries/${id}/fail`, { reason: 'other', note: 'shop closed, customer gone' });
      assert.equal(failed.status, 200, JSON.stringify(failed.body));

      const ops = await session.page(DESKTOP);
      await openControlRoom(ops);
      const row = boardRow(ops, id);
      await hasText(row.locator('.flag'), /^Needs attention: .*\bother\b/i, 30_000);
      await hasText(row.locator('.status'), 'Failed');
      await onTopOfBoard(ops, id, ['attention']);
      const counts = await ops.locator('#counts').textContent();
      assert.match(counts, /Needs attention\s*[1-9]/, counts);
      assert.equal((await apiGet(`/payments/${id}`)).status, 'Registered', 'the fee waits for a decision');

      await row.getByRole('button', { name: `Resolve the delivery to ${destination}` }).click();
      const dialog = ops.getByRole('dialog', { name: `Resolve the delivery to ${destination}` });
      await dialog.waitFor();
      assert.equal(await dialog.getByRole('radio', { name: /^Settle/ }).isChecked(), true);
      await dialog.getByLabel('Note').fill('rider waited 20 min, pay the trip');
      await screenshot(ops, '46-ops-resolve-dialog');
      await dialog.getByRole('button', { name: 'Resolve', exact: true }).click();
      await dialog.waitFor({ state: 'hidden' });
      await hasText(ops.locator('#message'),
        `The delivery to ${destination} is settled: the rider is paid and the restaurant billed.`);
      await row.waitFor({ state: 'detached', timeout: 20_000 });

      // The money followed the decision.
      let payment;
      await until(async () => (payment = await apiGet(`/payments/${id}`)).status === 'Settled',
        () => `the payment to settle (${JSON.stringify(payment)})`);
      assert.equal(payment.riderId, rider.id);
    } finally {
      await session.close();
    }
  });

test('a wrong secret, an expired session and a lost connection each show a clear state; signing out ends the codec session',
  { timeout: 150_000 }, async () => {
    const session = new Session(browser);
    const zone = ownZone();
    const restaurant = await restaurantIn(zone);
    const destination = `Seoul, Jongno-gu, Offline-ro ${Date.now() % 1000}`;
    let id = null;
    try {
      const page = await session.page(DESKTOP);
      // The old codec page leads here.
      await page.goto(API + '/codec');
      assert.equal(new URL(page.url()).pathname, '/ops');

      // A wrong secret; an account of another role.
      await signInToControlRoom(page, DEMO.operator, 'not-the-secret');
      await hasText(page.locator('#signin-error'), 'Wrong account id or secret.');
      assert.equal(await page.locator('#console').isHidden(), true);
      assert.equal(await page.evaluate(() => document.activeElement.id), 'secret');
      await signInToControlRoom(page, DEMO.otherRider, demoSecret(DEMO.otherRider));
      await hasText(page.locator('#signin-error'),
        'rider-8 is a rider account: the control room is for operator accounts. Open the rider app.');
      await screenshot(page, '47-ops-signin-wrong-role');

      // Signed in: the codec session is open (an HttpOnly cookie for /codec only), and said so.
      await openControlRoom(page);
      await hasText(page.locator('#account-name'), /\(ops-1\)$/);
      await hasText(page.locator('#codec-status'), /^Temporal UI: this browser now sees decoded payloads.+\/codec with “Include cross-origin credentials” turned on\.$/);
      const cookie = async () => (await page.context().cookies(API + '/codec/decode')).find((c) => c.name === 'codec_session');
      const set = await until(cookie, 'the codec session cookie');
      assert.equal(set.httpOnly, true);
      assert.equal(set.path, '/codec');

      // Expired: the stored token is refused at the next request.
      await page.evaluate(() => {
        const stored = JSON.parse(sessionStorage.getItem('delivery.session'));
        sessionStorage.setItem('delivery.session', JSON.stringify({ ...stored, token: 'not-a-token' }));
      });
      await page.reload(); // the page reads its session from the tab's storage when it loads
      await page.locator('#signin-form').waitFor();
      await hasText(page.locator('#signin-notice'), 'Your session has expired: sign in again to go on.');
      assert.equal(await page.locator('#console').isHidden(), true);
      assert.equal(await page.locator('#account-id').inputValue(), DEMO.operator);
      await screenshot(page, '48-ops-session-expired');

      // Offline: with an open call on the board, the API goes away.
      id = await call(restaurant.id, destination);
      await openControlRoom(page);
      const row = boardRow(page, id);
      const cancel = row.getByRole('button', { name: `Cancel the delivery to ${destination}` });
      await cancel.waitFor();
      const actions = [cancel, page.locator('#create-button'), page.locator('#adjust-button')];
      for (const action of actions) assert.equal(await action.isEnabled(), true);
      const api = (url) => !url.pathname.startsWith('/web/') && url.pathname !== '/ops';
      await page.route(api, (route) => route.abort('connectionrefused'));
      await hasText(page.locator('#live'), 'Offline · retrying');
      const banner = page.locator('#offline');
      await hasText(banner, 'No connection to the server: assigning, cancelling, resolving and changes to accounts and money '
        + 'are paused until it answers again.');
      for (const action of actions) assert.equal(await action.isDisabled(), true, `${action} is disabled while offline`);
      await screenshot(page, '43-ops-offline');
      await page.unroute(api);
      await hasText(page.locator('#live'), /^Live · updated /, 20_000);
      assert.equal(await banner.isHidden(), true);
      for (const action of actions) assert.equal(await action.isEnabled(), true);

      // Cancelled from the page, with a reason.
      await cancel.click();
      const dialog = page.getByRole('dialog', { name: `Cancel the delivery to ${destination}?` });
      await dialog.getByRole('button', { name: 'Cancel delivery' }).click();
      await hasText(page.locator('#cancel-reason-error'), 'Enter why the delivery is cancelled.');
      await dialog.getByLabel('Reason').fill('restaurant closed early');
      await dialog.getByRole('button', { name: 'Cancel delivery' }).click();
      await hasText(page.locator('#message'), `Cancelled the delivery to ${destination}; its fee is voided.`);
      await row.waitFor({ state: 'detached', timeout: 20_000 });
      id = null;

      // Sign out: back to the form, and the codec cookie is gone.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await hasText(page.locator('#signin-notice'), 'You are signed out.');
      await until(async () => !(await cookie()), 'the codec session cookie to be cleared');
    } finally {
      if (id) await apiAs(restaurant.id, 'POST', `/deliveries/${id}/cancel`, {}).catch(() => {});
      await session.close();
    }
  });

test('the board, the fleet and the accounts fit a laptop, pass axe-core (WCAG 2 A/AA), and a restaurant is set up from the page',
  { timeout: 150_000 }, async () => {
    const session = new Session(browser);
    const zone = ownZone();
    const caller = await restaurantIn(zone);
    const ids = [];
    try {
      // Something on the board: an open call, and one unassigned (offer mode, nobody in the zone).
      const offering = await restaurantIn(`${zone}-offer`, 'offer');
      await keepEveryZoneRidersOutOf(`${zone}-offer`);
      ids.push([caller.id, await call(caller.id, `Seoul, Jongno-gu, Screenshot-ro ${Date.now() % 1000}`)]);
      ids.push([offering.id, await call(offering.id, `Seoul, Jongno-gu, Unassigned-gil ${Date.now() % 1000}`)]);

      const page = await session.page({ ...DESKTOP, bypassCSP: true });
      await openControlRoom(page);
      await boardRow(page, ids[0][1]).waitFor();
      await hasText(boardRow(page, ids[1][1]).locator('.flag'), 'Unassigned: no rider took the call', 30_000);
      await assertNoHorizontalScroll(page);
      await screenshot(page, '40-ops-board');
      await assertAccessible(page, 'the board');

      // Tabs by keyboard: the arrow keys move between them.
      await page.getByRole('tab', { name: 'Board' }).focus();
      await page.keyboard.press('ArrowRight');
      assert.equal(await page.getByRole('tab', { name: 'Fleet' }).getAttribute('aria-selected'), 'true');
      const fleet = page.getByRole('tabpanel', { name: 'Fleet' });
      await hasText(fleet.locator('#fleet-count'), /^\(\d+ online of \d+\)$/);
      const demo = page.locator(`#fleet tbody tr[data-key="${DEMO.rider}"]`);
      await hasText(demo.locator('.zones'), 'gangnam, mapo');
      await hasText(demo.locator('.holding'), /^\d of \d$/);
      await assertNoHorizontalScroll(page);
      await screenshot(page, '41-ops-fleet');
      await assertAccessible(page, 'the fleet');

      // Accounts: a restaurant made here, then set to offer mode and 12.5%, and a new secret.
      await page.keyboard.press('ArrowRight');
      assert.equal(await page.getByRole('tab', { name: 'Accounts' }).getAttribute('aria-selected'), 'true');
      const form = page.locator('#create-form');
      const id = uniqueId('r-ops');
      const name = `Ops kitchen ${id.slice(-4)}`;
      await form.getByRole('button', { name: 'Create account' }).click();
      await hasText(page.locator('#new-name-error'), 'Enter a name.');
      await hasText(page.locator('#new-pickup-error'), 'Enter the pickup address.');
      await form.getByLabel('Id (optional)').fill(id);
      await form.getByLabel('Name').fill(name);
      await form.getByLabel('Pickup address').fill('Seoul, Jongno-gu, Jong-ro 1');
      await form.getByLabel('Zone', { exact: true }).fill(zone);
      await form.getByLabel('Commission (basis points, optional)').fill('ten');
      await form.getByRole('button', { name: 'Create account' }).click();
      await hasText(page.locator('#new-commission-error'), 'Commission must be a whole number of basis points from 0 to 10000.');
      await form.getByLabel('Commission (basis points, optional)').fill('');
      await form.getByRole('button', { name: 'Create account' }).click();
      await hasText(page.locator('#create-result'), `Created the restaurant account ${name} (${id}).`);
      const first = (await page.locator('#secret-value').textContent()).trim();
      const row = page.locator(`#accounts tbody tr[data-key="${id}"]`);
      await hasText(row.locator('.settings'), `Zone ${zone} · broadcasts its calls · commission 10% · pickup at Seoul, Jongno-gu, Jong-ro 1`);

      await row.getByRole('button', { name: `Edit ${name} (${id})` }).click();
      const edit = page.getByRole('dialog', { name: `Edit ${name} (${id})` });
      await edit.getByLabel('Dispatch').selectOption('offer');
      await edit.getByLabel('Commission (basis points)').fill('1250');
      await edit.getByRole('button', { name: 'Save' }).click();
      await edit.waitFor({ state: 'hidden' });
      await hasText(row.locator('.settings'), `Zone ${zone} · offers one rider at a time · commission 12.5% · pickup at Seoul, Jongno-gu, Jong-ro 1`);
      const { body: saved } = await apiAs(DEMO.operator, 'GET', `/accounts/${id}`);
      assert.equal(saved.dispatchMode, 'offer');
      assert.equal(saved.commissionBps, 1250);

      await row.getByRole('button', { name: `New secret for ${name} (${id})` }).click();
      await page.getByRole('dialog', { name: `Make a new secret for ${name} (${id})?` })
        .getByRole('button', { name: 'Make a new secret' }).click();
      let second;
      await until(async () => (second = (await page.locator('#secret-value').textContent()).trim()) !== first,
        'the new secret to show');
      await page.getByRole('region', { name: `Secret of ${name} (${id})` }).waitFor();
      const signIn = (password) => fetch(API + '/oauth/token', {
        method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: id, password }),
      });
      assert.equal((await signIn(first)).status, 400, 'the old secret stopped');
      assert.equal((await signIn(second)).status, 200, 'the new secret signs in');
      await assertNoHorizontalScroll(page);
      await screenshot(page, '42-ops-accounts');
      await assertAccessible(page, 'the accounts');

      // Money: the runs of the Schedules (every 5 s in this stack), linked into the Temporal UI.
      await page.getByRole('tab', { name: 'Money' }).click();
      const run = page.locator('#payout-runs tbody tr').first();
      await run.waitFor({ timeout: 30_000 });
      assert.match(await run.locator('a').getAttribute('href'), /\/namespaces\/default\/workflows\/[^/]+\/[^/]+$/);
      assert.match(await page.locator('#payouts-schedule a').getAttribute('href'), /\/namespaces\/default\/schedules\/[^/]+$/);
      await assertNoHorizontalScroll(page);
      await screenshot(page, '49-ops-money');
      await assertAccessible(page, 'the money tab');
    } finally {
      for (const [by, delivery] of ids) await apiAs(by, 'POST', `/deliveries/${delivery}/cancel`, {}).catch(() => {});
      await session.close();
    }
  });

test('an adjustment booked from the page shows on the rider\'s statement, once, also when the answer was lost',
  { timeout: 90_000 }, async () => {
    const session = new Session(browser);
    const rider = await riderIn([ownZone()]);
    try {
      const page = await session.page(DESKTOP);
      await openControlRoom(page);
      await page.getByRole('tab', { name: 'Money' }).click();
      const form = page.locator('#adjust-form');
      await form.getByLabel('Account kind').selectOption('rider');
      await form.getByLabel('Rider or restaurant id').fill(rider.id);
      await form.getByLabel('Amount (KRW)').fill('-3,000');
      await form.getByLabel('Reason').fill('helmet not returned');

      // The first answer is lost on the way back: the page keeps the key for the retry.
      const keys = [];
      let lose = true;
      await page.route('**/adjustments', async (route) => {
        keys.push(route.request().headers()['idempotency-key']);
        const response = await route.fetch();
        if (lose) {
          lose = false;
          return route.abort('connectionreset');
        }
        return route.fulfill({ response });
      });
      await form.getByRole('button', { name: 'Book adjustment' }).click();
      await hasText(page.locator('#adjust-result'), new RegExp(`^Could not book the adjustment for rider ${rider.id}: .+ `
        + 'Nothing is lost: send it again; it will not be booked twice\\.$'));
      await hasText(page.locator('#live'), /^Live · updated /, 20_000);
      await form.getByRole('button', { name: 'Book adjustment' }).click();
      await hasText(page.locator('#adjust-result'),
        `Booked -3,000 KRW for rider ${rider.id} (helmet not returned); it shows on the rider's statement.`);
      assert.equal(keys.length, 2);
      assert.equal(keys[0], keys[1], 'the retry carries the same Idempotency-Key');
      assert.match(keys[0], /^[0-9a-f-]{32,36}$/);

      const today = new Date().toISOString().slice(0, 10);
      const statement = await apiGet(`/rider/statement?from=${today}&to=${today}&riderId=${rider.id}`);
      assert.deepEqual(statement.adjustments.map((a) => [a.amount, a.reason]), [[-3000, 'helmet not returned']],
        'booked once');
    } finally {
      await session.close();
    }
  });

test('without a Temporal UI the board names each workflow as text, and a long wait is flagged', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const page = await session.page(DESKTOP);
    // The board as an API configured with `API_TEMPORAL_UI_URL=off` answers it.
    const since = new Date(Date.now() - 25 * 60_000).toISOString();
    const item = {
      deliveryId: 'd-no-ui', workflowId: 'delivery-d-no-ui', restaurantId: 'r-gone', restaurantName: null, zone: null,
      destination: 'Seoul, Mapo-gu, Text-ro 1', cost: 12000, status: 'Picked', riderId: 'rider-7', since,
      unassigned: false, attention: null, failureReason: null,
    };
    const counts = { Called: 0, Assigned: 0, Picked: 1, Completed: 0, Cancelled: 0, Failed: 0 };
    await page.route('**/ops/board', (route) => route.fulfill({
      status: 200, contentType: 'application/json', body: JSON.stringify({ counts, items: [item], truncated: true, temporalUi: null }),
    }));
    await openControlRoom(page);
    const row = boardRow(page, 'd-no-ui');
    await hasText(row.locator('.workflow'), 'delivery-d-no-ui');
    assert.equal(await row.locator('.workflow a').count(), 0, 'no link without a Temporal UI');
    await hasText(row.locator('.restaurant .name'), 'r-gone');
    await hasText(row.locator('.waiting'), '25 min');
    assert.match(await row.locator('.waiting').getAttribute('class'), /\bwaiting-long\b/);
    assert.equal(await row.getByRole('button', { name: 'Reassign the delivery to Seoul, Mapo-gu, Text-ro 1' }).isVisible(), true);
    assert.equal(await row.getByRole('button', { name: /^Cancel/ }).isVisible(), false, 'picked up: too late to cancel');
    assert.equal(await page.locator('#board-truncated').isVisible(), true);
  } finally {
    await session.close();
  }
});
