// Rider app: the open calls, pick up, complete, and what the rider earned.
//
// Live updates poll GET /riders/{riderId}/calls and GET /delivery-list?riderId=… every second
// (a new call shows within about a second); restaurant.js says why polling rather than
// server-sent events.

import {
  api, clearFieldErrors, clock, el, money, notify, poll, reconcile, remembered, sentence, setText, showFieldError,
} from '/web/common.js';

const POLL_MS = 1000;
const FIELDS = { riderId: 'rider-id' };
const RANK = { Called: 0, Picked: 1, Completed: 2, Cancelled: 2 };

const $ = (id) => document.getElementById(id);
const saved = remembered('riderId');

let riderId = null;
let poller = null;
let calls = [];
let mine = [];
/** Calls this page knows are taken or cancelled. The open calls are withdrawn asynchronously,
 * so the list may still show one for a moment: it stays hidden here. */
const gone = new Set();
/** Deliveries this rider just picked up or completed, by id, until the list shows as much. */
const known = new Map();

$('rider-form').addEventListener('submit', (event) => {
  event.preventDefault();
  clearFieldErrors(FIELDS);
  const id = $('rider-id').value.trim();
  if (!id) {
    showFieldError(FIELDS, { field: 'riderId', message: 'enter your rider id' });
    return;
  }
  start(id);
});

function start(id) {
  riderId = id;
  saved.save(id);
  setText($('rider-name'), id);
  calls = [];
  mine = [];
  gone.clear();
  known.clear();
  notify($('message'), '');
  $('app').hidden = false;
  render();
  if (poller) poller.stop();
  poller = poll(refresh, POLL_MS, $('live'));
}

async function refresh() {
  const id = riderId;
  const query = new URLSearchParams({ riderId: id, limit: '100' });
  const [open, list] = await Promise.all([
    api('GET', `/riders/${encodeURIComponent(id)}/calls`),
    api('GET', '/delivery-list?' + query),
  ]);
  if (id !== riderId) return true; // another rider id was entered meanwhile
  for (const res of [open, list]) {
    if (res.status === 422 && showFieldError(FIELDS, res.data)) {
      poller.stop();
      $('app').hidden = true;
      setText($('rider-name'), '');
      return true;
    }
  }
  if (open.ok) calls = open.data;
  if (list.ok) mine = list.data;
  render();
  return open.ok && list.ok;
}

function render() {
  const openCalls = calls.filter((call) => !gone.has(call.deliveryId));
  reconcile($('calls'), openCalls, (call) => call.deliveryId, createCall, updateCall);
  $('calls-empty').hidden = openCalls.length > 0;
  setText($('calls-count'), openCalls.length ? `(${openCalls.length})` : '');

  const listed = new Map(mine.map((row) => [row.deliveryId, row]));
  const fresh = [];
  for (const [id, local] of [...known].reverse()) {
    const row = listed.get(id);
    if (row && RANK[row.status] >= RANK[local.status]) known.delete(id);
    else if (row) listed.set(id, { ...row, status: local.status });
    else fresh.push(local);
  }
  const all = [...fresh, ...listed.values()];
  // Active deliveries first: they are what the rider acts on.
  const items = [...all.filter((d) => d.status === 'Picked'), ...all.filter((d) => d.status !== 'Picked')];
  reconcile($('mine'), items, (d) => d.deliveryId, createMine, updateMine);
  $('mine-empty').hidden = items.length > 0;
  const earned = items.reduce((sum, d) => sum + (d.settled || 0), 0);
  setText($('earned'), items.length ? 'Earned so far: ' + money(earned) : '');
}

function createCall() {
  const pickup = el('button', { type: 'button', class: 'block' }, 'Pick up');
  const card = el('li', { class: 'call' },
    el('p', { class: 'destination' }),
    el('p', { class: 'meta' }, el('span', { class: 'fee' }), el('span', { class: 'from' })),
    pickup);
  pickup.addEventListener('click', () => pickUp(card.dataset.key, pickup));
  return card;
}

function updateCall(card, call) {
  setText(card.querySelector('.destination'), call.destination);
  setText(card.querySelector('.fee'), money(call.cost));
  setText(card.querySelector('.from'), ` · from ${call.restaurantId || 'a restaurant'} · called ${clock(call.calledAt)}`);
  card.querySelector('button').setAttribute('aria-label', `Pick up the delivery to ${call.destination}`);
}

function createMine() {
  const complete = el('button', { type: 'button', class: 'block' }, 'Complete');
  const card = el('li', { class: 'mine' },
    el('p', { class: 'destination' }),
    el('p', { class: 'meta' }, el('span', { class: 'status' }), ' ', el('span', { class: 'fee' })),
    el('p', { class: 'meta outcome' }),
    complete);
  complete.addEventListener('click', () => completeDelivery(card.dataset.key, complete));
  return card;
}

function updateMine(card, delivery) {
  card.dataset.status = delivery.status;
  setText(card.querySelector('.destination'), delivery.destination);
  const status = card.querySelector('.status');
  status.className = 'status ' + delivery.status;
  setText(status, delivery.status);
  setText(card.querySelector('.fee'), money(delivery.cost));
  setText(card.querySelector('.outcome'), outcome(delivery));
  const complete = card.querySelector('button');
  complete.hidden = delivery.status !== 'Picked';
  complete.setAttribute('aria-label', `Complete the delivery to ${delivery.destination}`);
}

function outcome(delivery) {
  switch (delivery.status) {
    case 'Picked': return 'On the way: press Complete once delivered.';
    case 'Completed': return typeof delivery.settled === 'number'
      ? 'Earned ' + money(delivery.settled)
      : 'Delivered · payment being settled';
    case 'Cancelled': return 'Cancelled · nothing earned';
    default: return '';
  }
}

async function pickUp(id, button) {
  const call = calls.find((c) => c.deliveryId === id);
  button.disabled = true;
  notify($('message'), '');
  const res = await api('POST', `/deliveries/${encodeURIComponent(id)}/pickup`, { riderId });
  button.disabled = false;
  if (res.ok) {
    gone.add(id);
    known.set(id, { ...res.data, updatedAt: new Date().toISOString() });
    notify($('message'), `Picked up: take it to ${res.data.destination}, then press Complete.`);
  } else if (res.status === 409 || res.status === 404) {
    gone.add(id);
    notify($('message'), await whyNotYours(id, res), 'error');
  } else {
    notify($('message'), 'Could not pick it up: ' + sentence(res.data.message), 'error');
  }
  render();
  if (res.ok) focusComplete(id);
  else if (call) $('calls-title').focus();
  poller.refresh();
}

/** After a refused pickup: was another rider faster, or was the delivery cancelled? */
async function whyNotYours(id, refused) {
  const current = refused.status === 404 ? null : await api('GET', `/deliveries/${encodeURIComponent(id)}`);
  const status = current && current.ok ? current.data.status : null;
  const message = refused.data.message || '';
  if (status === 'Cancelled' || (!status && /cancel/i.test(message))) {
    const reason = current && current.ok && current.data.cancelReason;
    return 'This delivery was cancelled' + (reason ? ` (${reason})` : '') + '; it is no longer available.';
  }
  if (status === 'Picked' || status === 'Completed' || /another rider/i.test(message)) {
    return 'Someone else was faster: another rider already picked this delivery up.';
  }
  if (refused.status === 404) return 'This call no longer exists.';
  return 'Could not pick it up: ' + sentence(message);
}

async function completeDelivery(id, button) {
  button.disabled = true;
  notify($('message'), '');
  const res = await api('POST', `/deliveries/${encodeURIComponent(id)}/complete`, { riderId });
  button.disabled = false;
  if (res.ok) {
    known.set(id, { ...res.data, updatedAt: new Date().toISOString() });
    notify($('message'), `Delivered to ${res.data.destination}: ${money(res.data.cost)} is being settled to you.`);
  } else if (res.status === 403) {
    notify($('message'), 'This delivery is not yours: another rider picked it up.', 'error');
  } else {
    notify($('message'), 'Could not complete it: ' + sentence(res.data.message), 'error');
  }
  render();
  poller.refresh();
}

/** Keyboard users land on the Complete button of the delivery they just picked up. */
function focusComplete(id) {
  const card = [...$('mine').children].find((node) => node.dataset.key === id);
  if (card) card.querySelector('button').focus();
}

if (saved.initial) {
  $('rider-id').value = saved.initial;
  start(saved.initial);
}
