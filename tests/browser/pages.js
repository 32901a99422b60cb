// What a user does on the two pages, as the tests say it.

import { API, markLoaded } from './lib.js';

export async function openConsole(page, restaurantId) {
  await page.goto(API + '/restaurant');
  await page.getByLabel('Restaurant id').fill(restaurantId);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  await page.locator('#console').waitFor();
  await markLoaded(page);
}

/** Fills the call form and submits it; resolves to the API's response to the call. */
export async function callRider(page, destination, fee) {
  await page.getByLabel('Destination').fill(destination);
  await page.getByLabel('Fee (KRW)').fill(String(fee));
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/deliveries'),
    page.getByRole('button', { name: 'Call a rider' }).click(),
  ]);
  return response;
}

export function deliveryRow(page, deliveryId) {
  return page.locator(`#deliveries tbody tr[data-key="${deliveryId}"]`);
}

export async function openRiderApp(page, riderId) {
  await page.goto(API + '/rider');
  await page.getByLabel('Rider id').fill(riderId);
  await page.getByLabel('Rider id').press('Enter');
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
