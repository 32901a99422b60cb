// What a user does on the pages, as the tests say it.

import { API, markLoaded, secretOf } from './lib.js';

/** Fills the sign-in form of the page open at `path` and submits it (with Enter when
 * `enter`); does not wait for the outcome. */
export async function fillSignIn(page, path, id, secret, { enter = false } = {}) {
  if (new URL(page.url(), API).pathname !== path) await page.goto(API + path);
  await page.getByLabel('Account id').fill(id);
  await page.getByLabel('Secret').fill(secret);
  if (enter) await page.getByLabel('Secret').press('Enter');
  else await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Opens the restaurant console signed in as `restaurantId` (a demo account unless the test
 * made it). */
export async function openConsole(page, restaurantId, secret = secretOf(restaurantId)) {
  await fillSignIn(page, '/restaurant', restaurantId, secret);
  await page.locator('#console').waitFor();
  await markLoaded(page);
}

/** Fills the call form and submits it; resolves to the API's response to the call. */
export async function callRider(page, destination, fee) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/deliveries'),
    submitCall(page, destination, fee),
  ]);
  return response;
}

/** Fills the call form and submits it, without waiting for any answer (the form's own
 * checks may keep it from sending anything). */
export async function submitCall(page, destination, fee) {
  await page.getByLabel('Destination').fill(destination);
  await page.getByLabel('Fee (KRW)').fill(String(fee));
  await page.getByRole('button', { name: 'Call a rider' }).click();
}

export function deliveryRow(page, deliveryId) {
  return page.locator(`#deliveries tbody tr[data-key="${deliveryId}"]`);
}

/** Opens the rider app signed in as `riderId` (a demo account unless the test made it);
 * submits with Enter, as on a phone's keyboard. */
export async function openRiderApp(page, riderId, secret = secretOf(riderId)) {
  await fillSignIn(page, '/rider', riderId, secret, { enter: true });
  await page.locator('#app').waitFor();
  await markLoaded(page);
}

export function callCard(page, deliveryId) {
  return page.locator(`#calls li[data-key="${deliveryId}"]`);
}

export function myDelivery(page, deliveryId) {
  return page.locator(`#mine li[data-key="${deliveryId}"]`);
}

export function message(page) {
  return page.locator('#message');
}

/** Opens the control room signed in as `operatorId` (the demo operator unless told). The
 * fields are found by id: the page has other labels that mention an account id or a secret. */
export async function openControlRoom(page, operatorId = 'ops-1', secret = secretOf(operatorId)) {
  await signInToControlRoom(page, operatorId, secret);
  await page.locator('#console').waitFor();
  await markLoaded(page);
}

/** Fills the control room's sign-in form and submits it; does not wait for the outcome. */
export async function signInToControlRoom(page, id, secret) {
  if (new URL(page.url(), API).pathname !== '/ops') await page.goto(API + '/ops');
  await page.locator('#account-id').fill(id);
  await page.locator('#secret').fill(secret);
  await page.locator('#signin-button').click();
}

export function boardRow(page, deliveryId) {
  return page.locator(`#board tbody tr[data-key="${deliveryId}"]`);
}
