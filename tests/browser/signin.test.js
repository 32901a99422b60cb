// Signing in and out: the demo accounts, a wrong secret, an account of the other role, a
// session kept only for the tab, and a session that expires while the page is open.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { API, DEMO, DESKTOP, PHONE, Session, demoSecret, hasText, launch, newAccount, screenshot } from './lib.js';
import { fillSignIn, openConsole, openRiderApp } from './pages.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** What the tab keeps of its session (sessionStorage), parsed; null when signed out. */
function storedSession(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('delivery.session') || 'null'));
}

test('a wrong secret is refused with a clear message, and the right one signs in', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const page = await session.page(DESKTOP);
    await page.goto(API + '/restaurant');
    // Signed out, the page shows only the sign-in form.
    await page.locator('#signin-form').waitFor();
    assert.equal(await page.locator('#console').isHidden(), true);
    assert.equal(await page.locator('#account').isHidden(), true);

    // Nothing typed: both fields say so, and nothing is sent.
    let sent = 0;
    page.on('request', (request) => { if (new URL(request.url()).pathname === '/oauth/token') sent += 1; });
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await hasText(page.locator('#account-id-error'), 'Enter your account id.');
    await hasText(page.locator('#secret-error'), 'Enter your secret.');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'account-id');
    assert.equal(sent, 0);

    // A wrong secret.
    await fillSignIn(page, '/restaurant', DEMO.restaurant, 'not-the-secret');
    await hasText(page.locator('#signin-error'), 'Wrong account id or secret.');
    assert.equal(sent, 1);
    assert.equal(await page.locator('#console').isHidden(), true);
    assert.equal(await page.locator('#secret').inputValue(), '', 'the wrong secret is cleared');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'secret');
    assert.equal(await page.locator('#account-id-error').isHidden(), true);
    assert.equal(await storedSession(page), null);
    await screenshot(page, '30-signin-wrong-secret');

    // The right one: the header names the restaurant, and the message is gone.
    await page.getByLabel('Secret').fill(demoSecret(DEMO.restaurant));
    await page.getByLabel('Secret').press('Enter');
    await page.locator('#console').waitFor();
    await hasText(page.locator('#account-name'), 'Gangnam Kitchen (r-1)');
    assert.equal(await page.locator('#signin-error').isHidden(), true);
    assert.equal(await page.locator('#signin-form').isHidden(), true);
    await hasText(page.locator('#live'), /^Live · updated /);
  } finally {
    await session.close();
  }
});

test('each page takes only accounts of its role', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    // A rider on the restaurant console is told where to go.
    const desk = await session.page(DESKTOP);
    await fillSignIn(desk, '/restaurant', DEMO.otherRider, demoSecret(DEMO.otherRider));
    await hasText(desk.locator('#signin-error'),
      'rider-8 is a rider account: the restaurant console is for restaurant accounts. Open the rider app.');
    assert.equal(await desk.getByRole('link', { name: 'Open the rider app' }).getAttribute('href'), '/rider');
    assert.equal(await desk.locator('#console').isHidden(), true);
    assert.equal(await storedSession(desk), null, 'the token of a refused account is not kept');
    await screenshot(desk, '31-signin-wrong-role');

    // And a restaurant in the rider app.
    const phone = await session.page(PHONE);
    await fillSignIn(phone, '/rider', DEMO.otherRestaurant, demoSecret(DEMO.otherRestaurant));
    await hasText(phone.locator('#signin-error'),
      'r-2 is a restaurant account: the rider app is for rider accounts. Open the restaurant console.');
    assert.equal(await phone.locator('#app').isHidden(), true);
  } finally {
    await session.close();
  }
});

test('the session lasts as long as the tab, and Sign out ends it', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const restaurant = await newAccount('restaurant');
    const page = await session.page(DESKTOP);
    await openConsole(page, restaurant.id, restaurant.secret);
    await hasText(page.locator('#account-name'), `${restaurant.name} (${restaurant.id})`);
    const stored = await storedSession(page);
    assert.equal(stored.account.id, restaurant.id);
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');

    // A reload keeps the tab signed in.
    await page.reload();
    await page.locator('#console').waitFor();
    await hasText(page.locator('#account-name'), `${restaurant.name} (${restaurant.id})`);
    await hasText(page.locator('#live'), /^Live · updated /);

    // Another tab is not signed in.
    const other = await page.context().newPage();
    await other.goto(API + '/restaurant');
    await other.locator('#signin-form').waitFor();
    assert.equal(await other.locator('#console').isHidden(), true);
    await other.close();

    // Sign out: back to the form, nothing kept, no more requests with the token.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#signin-form').waitFor();
    await hasText(page.locator('#signin-notice'), 'You are signed out.');
    assert.equal(await page.locator('#console').isHidden(), true);
    assert.equal(await page.locator('#live').isHidden(), true);
    assert.equal(await storedSession(page), null);
    const polled = [];
    page.on('request', (request) => polled.push(request.url()));
    await page.waitForTimeout(2500);
    assert.deepEqual(polled, [], 'a signed-out page polls nothing');
    await screenshot(page, '32-signed-out');
  } finally {
    await session.close();
  }
});

test('an expired session asks to sign in again, and the page carries on after it', { timeout: 60_000 }, async () => {
  const session = new Session(browser);
  try {
    const rider = await newAccount('rider');
    const page = await session.page(PHONE);
    await openRiderApp(page, rider.id, rider.secret);
    await hasText(page.locator('#live'), /^Live · updated /);

    // The token expires (the API answers 401, as it does for an expired token).
    await page.route('**/delivery-list*', (route) => route.fulfill({
      status: 401,
      contentType: 'application/json',
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      body: JSON.stringify({ code: 'unauthorized', message: 'the token has expired; sign in again' }),
    }));
    await page.locator('#signin-form').waitFor();
    await hasText(page.locator('#signin-notice'), 'Your session has expired: sign in again to go on.');
    assert.equal(await page.locator('#app').isHidden(), true);
    assert.equal(await page.locator('#account-id').inputValue(), rider.id, 'the account id is filled in');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'secret');
    assert.equal(await storedSession(page), null);
    await screenshot(page, '33-session-expired');
    await page.unroute('**/delivery-list*');

    // Signing in again brings the app back.
    await openRiderApp(page, rider.id, rider.secret);
    await hasText(page.locator('#live'), /^Live · updated /);
    assert.equal(await page.locator('#signin-notice').isHidden(), true);

    // A token the tab kept past its expiry is not used: the page asks at once.
    await page.evaluate(() => {
      const stored = JSON.parse(sessionStorage.getItem('delivery.session'));
      sessionStorage.setItem('delivery.session', JSON.stringify({ ...stored, expiresAt: Date.now() - 1000 }));
    });
    await page.reload();
    await hasText(page.locator('#signin-notice'), 'Your session has expired: sign in again to go on.');
    assert.equal(await page.locator('#account-id').inputValue(), rider.id, 'the account id is filled in');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'secret');
  } finally {
    await session.close();
  }
});

test('the bare address leads to the pages', { timeout: 30_000 }, async () => {
  const session = new Session(browser);
  try {
    const page = await session.page(DESKTOP);
    const response = await page.goto(API + '/');
    assert.equal(response.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/');
    for (const [name, path] of [['Restaurant console', '/restaurant'], ['Rider app', '/rider'], ['Control room', '/ops']]) {
      assert.equal(await page.getByRole('link', { name }).getAttribute('href'), path);
    }
    await page.getByRole('link', { name: 'Control room' }).click();
    await page.locator('#signin-form').waitFor();
    assert.equal(new URL(page.url()).pathname, '/ops');
  } finally {
    await session.close();
  }
});
