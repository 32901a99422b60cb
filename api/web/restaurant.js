// Restaurant console: call a rider, watch the restaurant's deliveries, cancel before pickup.
//
// Live updates poll GET /delivery-list?restaurantId=… every second instead of a
// server-sent-events stream. The delivery list is written by the worker's activities into a
// database the API is never notified about, so an SSE endpoint would itself have to poll that
// database for every open stream; polling from the page keeps the API stateless (any
// instance answers, a restart loses nothing), needs no endpoint outside the contract, and
// costs one small indexed query per second per open page. One second is well within what a
// restaurant needs; a hidden page polls ten times less often and catches up when shown.

import {
  api, clearFieldErrors, clock, el, money, notify, poll, reconcile, remembered, sentence, setText, showFieldError,
} from '/web/common.js';

const POLL_MS = 1000;
/** API error `field` → the input it belongs to. */
const FIELDS = { restaurantId: 'restaurant-id', destination: 'destination', cost: 'cost' };
/** How far along a status is: the list may lag behind what this page already knows. */
const RANK = { Called: 0, Picked: 1, Completed: 2, Cancelled: 2 };

const $ = (id) => document.getElementById(id);
const saved = remembered('restaurantId');

let restaurantId = null;
let poller = null;
let rows = [];
/** Deliveries this page changed (called, cancelled), by id, until the list shows as much. */
const known = new Map();
/** The Idempotency-Key of a call that got no definite answer, reused only to retry that same call. */
let pendingCall = null;

$('restaurant-form').addEventListener('submit', (event) => {
  event.preventDefault();
  clearFieldErrors(FIELDS);
  const id = $('restaurant-id').value.trim();
  if (!id) {
    showFieldError(FIELDS, { field: 'restaurantId', message: 'enter a restaurant id' });
    return;
  }
  open(id);
});

$('call-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  await callRider();
});

function open(id) {
  restaurantId = id;
  saved.save(id);
  setText($('restaurant-name'), id);
  rows = [];
  known.clear();
  pendingCall = null;
  notify($('call-result'), '');
  notify($('list-message'), '');
  notify($('list-error'), '');
  $('console').hidden = false;
  render();
  if (poller) poller.stop();
  poller = poll(refresh, POLL_MS, $('live'));
}

async function refresh() {
  const id = restaurantId;
  const query = new URLSearchParams({ restaurantId: id, limit: '100' });
  const res = await api('GET', '/delivery-list?' + query);
  if (id !== restaurantId) return true; // another restaurant was opened meanwhile
  if (res.ok) {
    rows = res.data;
    notify($('list-error'), '');
    render();
    return true;
  }
  if (res.status === 422 && showFieldError(FIELDS, res.data)) {
    poller.stop();
    $('console').hidden = true;
    return true;
  }
  if (res.status !== 0) notify($('list-error'), 'Could not load the deliveries: ' + sentence(res.data.message), 'error');
  return false;
}

function render() {
  const listed = new Map(rows.map((row) => [row.deliveryId, row]));
  const items = [];
  // What this page just did shows at once, even before the list (written asynchronously) has it.
  for (const [id, mine] of [...known].reverse()) {
    const row = listed.get(id);
    if (row && RANK[row.status] >= RANK[mine.status]) known.delete(id);
    else if (row) listed.set(id, { ...row, status: mine.status, paymentPending: false });
    else items.push(mine);
  }
  items.push(...listed.values());
  reconcile($('deliveries').tBodies[0], items, (row) => row.deliveryId, createRow, updateRow);
  $('list-empty').hidden = items.length > 0;
}

function createRow() {
  const cancel = el('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const row = el('tr', {},
    el('td', { 'data-label': 'Time', class: 'time' }),
    el('td', { 'data-label': 'Destination', class: 'destination' }),
    el('td', { 'data-label': 'Status' }, el('span', { class: 'status' })),
    el('td', { 'data-label': 'Rider', class: 'rider' }),
    el('td', { 'data-label': 'Fee', class: 'num fee' }),
    el('td', { 'data-label': 'Settled', class: 'num settled' }),
    el('td', { class: 'actions' }, cancel));
  cancel.addEventListener('click', () => cancelDelivery(row.dataset.key, cancel));
  return row;
}

function updateRow(row, delivery) {
  row.dataset.status = delivery.status;
  setText(row.querySelector('.time'), clock(delivery.updatedAt));
  setText(row.querySelector('.destination'), delivery.destination);
  const status = row.querySelector('.status');
  status.className = 'status ' + delivery.status;
  setText(status, delivery.status + (delivery.paymentPending ? ' · payment pending' : ''));
  setText(row.querySelector('.rider'), delivery.riderId || '—');
  setText(row.querySelector('.fee'), money(delivery.cost));
  setText(row.querySelector('.settled'), delivery.settled === null || delivery.settled === undefined ? '—' : money(delivery.settled));
  const cancel = row.querySelector('.actions button');
  cancel.hidden = delivery.status !== 'Called';
  cancel.setAttribute('aria-label', 'Cancel the delivery to ' + delivery.destination);
}

async function callRider() {
  clearFieldErrors(FIELDS);
  notify($('call-result'), '');
  const body = { restaurantId, destination: $('destination').value.trim() };
  const cost = $('cost').value.trim();
  if (cost !== '') {
    // "20,000" is a fine way to type a fee; anything not numeric goes as typed, for the API to judge.
    const plain = cost.replace(/[\s,_]/g, '');
    body.cost = /^-?\d+(\.\d+)?$/.test(plain) ? Number(plain) : cost;
  }
  const request = JSON.stringify(body);
  const key = pendingCall && pendingCall.request === request ? pendingCall.key : newKey();
  const button = $('call-button');
  button.disabled = true;
  const res = await api('POST', '/deliveries', body, { 'idempotency-key': key });
  button.disabled = false;
  // Without a definite answer the call may have been made: a retry of the same call reuses the key.
  pendingCall = res.status === 0 || res.status >= 500 ? { key, request } : null;

  if (res.status === 201 || res.status === 202) {
    const view = res.data;
    const waiting = view.payment && view.payment.status === 'Pending';
    known.set(view.deliveryId, { ...view, updatedAt: new Date().toISOString(), paymentPending: waiting });
    if (waiting) {
      notify($('call-result'), `Call accepted for ${view.destination}, but payment is still pending: `
        + 'riders will see it as soon as payment confirms the fee. No need to call again.', 'warn');
    } else {
      notify($('call-result'), `Rider called for ${view.destination} (${money(view.cost)}); payment registered.`);
    }
    $('destination').value = '';
    $('cost').value = '';
    render();
    poller.refresh();
  } else if (!showFieldError(FIELDS, res.data)) {
    const retry = pendingCall ? ' Nothing is lost: try again.' : '';
    notify($('call-result'), 'Could not call a rider: ' + sentence(res.data.message) + retry, 'error');
  }
}

async function cancelDelivery(id, button) {
  const row = rows.find((r) => r.deliveryId === id) || known.get(id);
  const where = row ? ' to ' + row.destination : '';
  button.disabled = true;
  const res = await api('POST', `/deliveries/${encodeURIComponent(id)}/cancel`, {});
  button.disabled = false;
  if (res.ok) {
    known.set(id, { ...(row || {}), ...res.data, updatedAt: new Date().toISOString(), paymentPending: false });
    notify($('list-message'), `Cancelled the delivery${where}; its fee is voided.`);
  } else if (res.status === 409) {
    notify($('list-message'), `Too late to cancel the delivery${where}: ${sentence(res.data.message)}`, 'error');
  } else {
    notify($('list-message'), `Could not cancel the delivery${where}: ${sentence(res.data.message)}`, 'error');
  }
  render();
  poller.refresh();
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// Restaurants seen recently, to pick from.
api('GET', '/delivery-list?limit=200').then((res) => {
  if (!res.ok) return;
  const ids = [...new Set(res.data.map((row) => row.restaurantId))].sort();
  $('known-restaurants').replaceChildren(...ids.map((id) => el('option', { value: id })));
});

if (saved.initial) {
  $('restaurant-id').value = saved.initial;
  open(saved.initial);
}
