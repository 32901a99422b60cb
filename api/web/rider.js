// Rider app: sign in, the open calls, pick up, complete, and what the rider earned.
//
// Live updates poll GET /rider/calls and GET /delivery-list every second (the API answers a
// rider with the deliveries it holds or held only; a new call shows within about a second);
// restaurant.js says why polling rather than server-sent events.

import {
  api, busyButton, clock, el, money, notify, onConnectionChange, poll, reconcile, refreshActions, sentence,
  setText, setUpSignIn,
} from '/web/common.js';

const POLL_MS = 1000;
const RANK = { Called: 0, Picked: 1, Completed: 2, Cancelled: 2 };

const $ = (id) => document.getElementById(id);

/** The signed-in rider's account {id, name, role}; kept across an expired session. */
let account = null;
/** Bumped on every sign-in and sign-out: answers to requests of an earlier one are dropped. */
let generation = 0;
let poller = null;
let calls = [];
let mine = [];
/** Calls this page knows are taken or cancelled. The open calls are withdrawn asynchronously,
 * so the list may still show one for a moment: it stays hidden here. */
const gone = new Set();
/** Deliveries this rider just picked up or completed, by id, until the list shows as much. */
const known = new Map();
/** Deliveries with a pickup or complete under way. */
const busy = new Set();

function start(session) {
  generation += 1;
  if (!account || account.id !== session.account.id) reset();
  account = session.account;
  $('app').hidden = false;
  render();
  if (poller) poller.stop();
  poller = poll(refresh, POLL_MS, $('live'), $('offline'));
}

function stop(reason) {
  generation += 1;
  if (poller) poller.stop();
  poller = null;
  $('app').hidden = true;
  notify($('message'), '');
  if (reason !== 'expired') {
    account = null;
    reset();
  }
}

/** Forgets everything of the previous rider: another one may sign in on this tab. */
function reset() {
  calls = [];
  mine = [];
  gone.clear();
  known.clear();
  busy.clear();
  notify($('message'), '');
  render();
}

async function refresh() {
  const gen = generation;
  const [open, list] = await Promise.all([
    api('GET', '/rider/calls'),
    api('GET', '/delivery-list?limit=100'),
  ]);
  if (gen !== generation) return true; // signed out or in again meanwhile
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
  const earned = items.reduce((sum, d) => sum + (d.status === 'Completed' && d.settled ? d.settled : 0), 0);
  setText($('earned'), items.length ? 'Earned so far: ' + money(earned) : '');
  refreshActions($('app'));
}

function createCall() {
  const pickup = el('button', { type: 'button', class: 'block', 'data-action': true }, 'Pick up');
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
  const button = card.querySelector('button');
  busyButton(button, busy.has(call.deliveryId), 'Picking up…');
  button.setAttribute('aria-label', `Pick up the delivery to ${call.destination}`);
}

function createMine() {
  const complete = el('button', { type: 'button', class: 'block', 'data-action': true }, 'Complete');
  const card = el('li', { class: 'mine' },
    el('p', { class: 'destination' }),
    el('p', { class: 'meta' }, el('span', { class: 'status' }), ' ', el('span', { class: 'fee' })),
    el('p', { class: 'meta outcome' }),
    complete);
  complete.addEventListener('click', () => completeDelivery(card.dataset.key));
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
  busyButton(complete, busy.has(delivery.deliveryId), 'Completing…');
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

async function pickUp(id) {
  const call = calls.find((c) => c.deliveryId === id);
  const to = call ? `the delivery to ${call.destination}` : 'this delivery';
  const gen = generation;
  busy.add(id);
  notify($('message'), '');
  render();
  // No body: the API takes the rider from the token.
  const res = await api('POST', `/deliveries/${encodeURIComponent(id)}/pickup`);
  busy.delete(id);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) {
    gone.add(id);
    known.set(id, { ...res.data, updatedAt: new Date().toISOString() });
    notify($('message'), `Picked up: take it to ${res.data.destination}, then press Complete.`);
  } else if (res.status === 409 || res.status === 404) {
    gone.add(id);
    notify($('message'), await whyNotYours(id, res, to), 'error');
  } else if (res.status === 0) {
    notify($('message'), `No answer about picking up ${to}: ${sentence(res.data.message)} `
      + 'If it was yours, it shows under My deliveries once the server is back.', 'error', { offline: true });
  } else {
    notify($('message'), `Could not pick up ${to}: ${sentence(res.data.message)}`, 'error');
  }
  render();
  if (res.ok) focusComplete(id);
  else if (call) $('calls-title').focus();
  if (poller) poller.refresh();
}

/** After a refused pickup: was another rider faster, or was the delivery cancelled? */
async function whyNotYours(id, refused, to) {
  const message = refused.data.message || '';
  if (/another rider/i.test(message)) {
    return `Someone else was faster: another rider already picked up ${to}.`;
  }
  // A rider may read a delivery while it is open or its own: one cancelled before it picked
  // it up is usually answered 404, and then the API's message is all there is to go by.
  const current = await api('GET', `/deliveries/${encodeURIComponent(id)}`);
  const status = current.ok ? current.data.status : null;
  if (status === 'Cancelled' || (!status && /cancel/i.test(message))) {
    const reason = current.ok && current.data.cancelReason;
    return `${capital(to)} was cancelled${reason ? ` (${reason})` : ''}; it is no longer available.`;
  }
  if (status === 'Picked' || status === 'Completed') {
    return `Someone else was faster: another rider already picked up ${to}.`;
  }
  if (refused.status === 404 || /finished/i.test(message)) {
    return `${capital(to)} is no longer available: it was cancelled, or another rider took it.`;
  }
  return `Could not pick up ${to}: ${sentence(message)}`;
}

async function completeDelivery(id) {
  const delivery = mine.find((d) => d.deliveryId === id) || known.get(id);
  const to = delivery ? `the delivery to ${delivery.destination}` : 'this delivery';
  const gen = generation;
  busy.add(id);
  notify($('message'), '');
  render();
  const res = await api('POST', `/deliveries/${encodeURIComponent(id)}/complete`);
  busy.delete(id);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) {
    known.set(id, { ...res.data, updatedAt: new Date().toISOString() });
    notify($('message'), `Delivered to ${res.data.destination}: ${money(res.data.cost)} is being settled to you.`);
  } else if (res.status === 403) {
    notify($('message'), `${capital(to)} is not yours: another rider picked it up.`, 'error');
  } else if (res.status === 0) {
    notify($('message'), `No answer about completing ${to}: ${sentence(res.data.message)} `
      + 'Its status shows once the server is back.', 'error', { offline: true });
  } else {
    notify($('message'), `Could not complete ${to}: ${sentence(res.data.message)}`, 'error');
  }
  render();
  if (poller) poller.refresh();
}

/** "the delivery to …" at the start of a sentence. */
function capital(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Keyboard users land on the Complete button of the delivery they just picked up. */
function focusComplete(id) {
  const card = [...$('mine').children].find((node) => node.dataset.key === id);
  if (card) card.querySelector('button').focus();
}

onConnectionChange(() => refreshActions($('app')));
setUpSignIn({ role: 'rider', onSignedIn: start, onSignedOut: stop });
