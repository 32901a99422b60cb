// Restaurant console: sign in, call a rider, watch the restaurant's own deliveries, cancel
// before pickup.
//
// Live updates poll GET /delivery-list every second (the API answers a restaurant with its
// own deliveries only) instead of a server-sent-events stream. The delivery list is written
// by the worker's activities into a database the API is never notified about, so an SSE
// endpoint would itself have to poll that database for every open stream; polling from the
// page keeps the API stateless (any instance answers, a restart loses nothing), needs no
// endpoint outside the contract, and costs one small indexed query per second per open page.
// One second is well within what a restaurant needs; a hidden page polls ten times less often
// and catches up when shown.

import {
  api, busyButton, clearFieldErrors, clock, el, failureLabel, listRows, money, notify, onConnectionChange, poll,
  reconcile, refreshActions, sentence, setText, setUpSignIn, showFieldError, showFieldErrors,
} from '/web/common.js';

const POLL_MS = 1000;
/** A call waits up to a few seconds for the payment registration before the API answers. */
const CALL_TIMEOUT_MS = 12_000;
/** API error `field` → the input it belongs to. */
const FIELDS = { destination: 'destination', cost: 'cost' };
/** How far along a status is: the list may lag behind what this page already knows. */
const RANK = { Called: 0, Assigned: 1, Picked: 2, Completed: 3, Failed: 3, Cancelled: 3 };
/** Statuses a delivery ends in: its timeline no longer changes. */
const FINAL = new Set(['Completed', 'Failed', 'Cancelled']);
/** Most views read at once, so that opening the console on a long list stays cheap (a view is
 * the workflow's live state: a Temporal query). */
const VIEW_READS = 6;
/** A call waiting longer than this for a rider is flagged unassigned. */
const UNASSIGNED_AFTER_MS = 10 * 60_000;
const MAX_FEE = 1_000_000;
const MAX_TEXT = 256;

const $ = (id) => document.getElementById(id);

/** The signed-in restaurant's account {id, name, role}; kept across an expired session so
 * that signing in again as the same restaurant keeps what was on the page. */
let account = null;
/** Bumped on every sign-in and sign-out: answers to requests of an earlier one are dropped. */
let generation = 0;
let poller = null;
let rows = [];
/** Deliveries this page changed (called, cancelled), by id, until the list shows as much. */
const known = new Map();
/** Deliveries whose Cancel asks "Yes, cancel / Keep", and those being cancelled. */
const confirming = new Set();
const cancelling = new Set();
/** Each delivery's full view (its timeline), by id: fetched again only when the list shows
 * another status, so the console reads one view per change, not per second; never again once
 * the delivery has ended. */
const views = new Map();
/** Views being read. */
const reading = new Set();
/** The Idempotency-Key of a call that got no definite answer, reused only to retry that same call. */
let pendingCall = null;

$('call-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if ($('call-button').disabled) return;
  await callRider();
});

function open(session) {
  generation += 1;
  if (!account || account.id !== session.account.id) reset();
  account = session.account;
  setText($('restaurant-name'), account.name || account.id);
  $('console').hidden = false;
  render();
  if (poller) poller.stop();
  poller = poll(refresh, POLL_MS, $('live'), $('offline'));
}

function close(reason) {
  generation += 1;
  if (poller) poller.stop();
  poller = null;
  $('console').hidden = true;
  if (reason !== 'expired') {
    account = null;
    reset();
  }
}

/** Forgets everything of the previous restaurant: another one may sign in on this tab. */
function reset() {
  rows = [];
  known.clear();
  confirming.clear();
  cancelling.clear();
  views.clear();
  reading.clear();
  pendingCall = null;
  $('call-form').reset();
  clearFieldErrors(FIELDS);
  for (const id of ['call-result', 'list-message', 'list-error']) notify($(id), '');
  render();
}

async function refresh() {
  const gen = generation;
  const res = await api('GET', '/delivery-list?limit=100');
  if (gen !== generation) return true; // signed out or in again meanwhile
  if (res.ok) {
    rows = listRows(res.data);
    notify($('list-error'), '');
    render();
    refreshViews(gen); // not awaited: a slow view never holds up the list
    return true;
  }
  if (res.status !== 0 && res.status !== 401) {
    notify($('list-error'), 'Could not load the deliveries: ' + sentence(res.data.message), 'error', { clear: 0 });
  }
  return false;
}

/** Reads the views of listed deliveries whose cached view is missing or behind, a few at a
 * time, open deliveries first; an ended delivery's view is kept for good. */
function refreshViews(gen) {
  const stale = rows.filter((row) => {
    if (reading.has(row.deliveryId)) return false;
    const cached = views.get(row.deliveryId);
    if (!cached) return true;
    if (FINAL.has(cached.status)) return false;
    return cached.status !== row.status || cached.riderId !== row.riderId;
  });
  stale.sort((a, b) => Number(FINAL.has(a.status)) - Number(FINAL.has(b.status)));
  for (const row of stale.slice(0, Math.max(0, VIEW_READS - reading.size))) readView(row, gen);
}

async function readView(row, gen) {
  const id = row.deliveryId;
  reading.add(id);
  const res = await api('GET', `/deliveries/${encodeURIComponent(id)}`);
  reading.delete(id);
  if (gen !== generation) return;
  if (res.ok) {
    views.set(id, res.data);
    render();
  } else if (res.status === 404) {
    // Not readable (e.g. gone from Temporal after retention): not asked again until it changes.
    views.set(id, { deliveryId: id, status: row.status, riderId: row.riderId, timeline: null });
  }
}

/** "called 12:01 · assigned 12:03 · picked 12:05 · delivered 12:20", and how long a call has
 * waited for a rider. */
function timeline(delivery) {
  const view = views.get(delivery.deliveryId);
  const times = view && view.timeline;
  if (!times) return { text: '', late: false };
  const steps = [
    ['called', times.calledAt], ['assigned', times.assignedAt], ['picked up', times.pickedAt],
    ['delivered', times.completedAt], ['failed', times.failedAt], ['cancelled', times.cancelledAt],
  ].filter(([, at]) => at).map(([name, at]) => `${name} ${clock(at)}`);
  let late = false;
  if (delivery.status === 'Called' && times.calledAt) {
    const waited = Date.now() - new Date(times.calledAt).getTime();
    late = waited > UNASSIGNED_AFTER_MS;
    steps.push(`waiting ${Math.max(0, Math.floor(waited / 60_000))} min for a rider${late ? ' · unassigned' : ''}`);
  }
  if (delivery.status === 'Failed') {
    const reason = view.failure ? view.failure.reason : delivery.failureReason;
    steps.push(`reason: ${failureLabel(reason)}`);
  }
  return { text: steps.join(' · '), late };
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
  refreshActions($('console'));
}

function createRow() {
  const cancel = el('button', { type: 'button', class: 'secondary cancel', 'data-action': true }, 'Cancel');
  const yes = el('button', { type: 'button', class: 'danger confirm-yes', 'data-action': true }, 'Yes, cancel');
  const keep = el('button', { type: 'button', class: 'neutral confirm-keep' }, 'Keep');
  const confirm = el('span', { class: 'confirm', role: 'group' }, yes, keep);
  const row = el('tr', {},
    el('td', { 'data-label': 'Time', class: 'time' }),
    el('td', { 'data-label': 'Destination', class: 'destination' }),
    el('td', { 'data-label': 'Status' }, el('span', { class: 'status' }), el('span', { class: 'timeline muted' })),
    el('td', { 'data-label': 'Rider', class: 'rider' }),
    el('td', { 'data-label': 'Fee', class: 'num fee' }),
    el('td', { 'data-label': 'Settled', class: 'num settled' }),
    el('td', { class: 'actions' }, cancel, confirm));
  // Cancel asks first: "Yes, cancel" gets the focus, "Keep" (or Escape) goes back.
  cancel.addEventListener('click', () => {
    confirming.add(row.dataset.key);
    render();
    yes.focus();
  });
  keep.addEventListener('click', () => {
    confirming.delete(row.dataset.key);
    render();
    cancel.focus();
  });
  confirm.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !keep.hidden) keep.click();
  });
  yes.addEventListener('click', () => cancelDelivery(row.dataset.key));
  return row;
}

function updateRow(row, delivery) {
  const id = delivery.deliveryId;
  row.dataset.status = delivery.status;
  setText(row.querySelector('.time'), clock(delivery.updatedAt));
  setText(row.querySelector('.destination'), delivery.destination);
  const status = row.querySelector('.status');
  status.className = 'status ' + delivery.status;
  setText(status, delivery.status + (delivery.paymentPending ? ' · payment pending' : ''));
  setText(row.querySelector('.rider'), delivery.riderId || '—');
  const { text, late } = timeline(delivery);
  const times = row.querySelector('.timeline');
  setText(times, text);
  times.classList.toggle('waiting-long', late);
  setText(row.querySelector('.fee'), money(delivery.cost));
  setText(row.querySelector('.settled'), delivery.settled === null || delivery.settled === undefined ? '—' : money(delivery.settled));

  const open = delivery.status === 'Called' || delivery.status === 'Assigned';
  if (!open) confirming.delete(id);
  const busy = open && cancelling.has(id);
  const asking = open && (busy || confirming.has(id));
  const cancel = row.querySelector('.cancel');
  const confirm = row.querySelector('.confirm');
  const yes = row.querySelector('.confirm-yes');
  const keep = row.querySelector('.confirm-keep');
  cancel.hidden = !open || asking;
  confirm.hidden = !asking;
  keep.hidden = busy;
  busyButton(yes, busy, 'Cancelling…');
  cancel.setAttribute('aria-label', `Cancel the delivery to ${delivery.destination}`);
  confirm.setAttribute('aria-label', `Cancel the delivery to ${delivery.destination}?`);
  yes.setAttribute('aria-label', `Yes, cancel the delivery to ${delivery.destination}`);
  keep.setAttribute('aria-label', `Keep the delivery to ${delivery.destination}`);
}

/** The form's own checks, all at once, before anything is sent: {errors, body}. */
function checkCall() {
  const errors = [];
  const destination = $('destination').value.trim();
  if (!destination) errors.push({ field: 'destination', message: 'Enter the destination.' });
  else if ([...destination].length > MAX_TEXT) errors.push({ field: 'destination', message: `Destination must be at most ${MAX_TEXT} characters.` });
  const body = { destination };
  const fee = $('cost').value.trim();
  // "20,000" is a fine way to type a fee.
  const plain = fee.replace(/[\s,_]/g, '');
  if (!fee) errors.push({ field: 'cost', message: 'Enter the fee.' });
  else if (!/^\d+$/.test(plain) || Number(plain) < 1 || Number(plain) > MAX_FEE) {
    errors.push({ field: 'cost', message: 'Fee must be a whole number of won from 1 to 1,000,000.' });
  } else body.cost = Number(plain);
  return { errors, body };
}

async function callRider() {
  clearFieldErrors(FIELDS);
  notify($('call-result'), '');
  const { errors, body } = checkCall();
  if (errors.length) {
    showFieldErrors(FIELDS, errors);
    return;
  }
  const request = JSON.stringify(body);
  const key = pendingCall && pendingCall.request === request ? pendingCall.key : newKey();
  const button = $('call-button');
  const gen = generation;
  busyButton(button, true, 'Calling…');
  const res = await api('POST', '/deliveries', body, { headers: { 'idempotency-key': key }, timeoutMs: CALL_TIMEOUT_MS });
  busyButton(button, false);
  // Without a definite answer the call may have been made: a retry of the same call reuses the key.
  pendingCall = res.status === 0 || res.status >= 500 ? { key, request } : null;
  if (gen !== generation || res.status === 401) return; // signed out meanwhile: the form stays filled

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
    if (poller) poller.refresh();
  } else if (!showFieldError(FIELDS, res.data)) {
    const retry = pendingCall ? ' Nothing is lost: try again; it will not be called twice.' : '';
    notify($('call-result'), `Could not call a rider for ${body.destination}: ${sentence(res.data.message)}${retry}`,
      'error', { offline: res.status === 0 });
  }
}

async function cancelDelivery(id) {
  const row = rows.find((r) => r.deliveryId === id) || known.get(id);
  const where = row ? ' to ' + row.destination : '';
  const gen = generation;
  cancelling.add(id);
  notify($('list-message'), '');
  render();
  const res = await api('POST', `/deliveries/${encodeURIComponent(id)}/cancel`, {});
  cancelling.delete(id);
  confirming.delete(id);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) {
    known.set(id, { ...(row || {}), ...res.data, updatedAt: new Date().toISOString(), paymentPending: false });
    notify($('list-message'), `Cancelled the delivery${where}; its fee is voided.`);
  } else if (res.status === 409) {
    notify($('list-message'), `Too late to cancel the delivery${where}: ${sentence(res.data.message)}`, 'error');
  } else if (res.status === 0) {
    notify($('list-message'), `No answer about cancelling the delivery${where}: ${sentence(res.data.message)} `
      + 'Its status shows once the server is back.', 'error', { offline: true });
  } else {
    notify($('list-message'), `Could not cancel the delivery${where}: ${sentence(res.data.message)}`, 'error');
  }
  render();
  if (poller) poller.refresh();
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

onConnectionChange(() => refreshActions($('console')));
setUpSignIn({ role: 'restaurant', onSignedIn: open, onSignedOut: close });
