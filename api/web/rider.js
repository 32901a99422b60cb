// Rider app: sign in, go online or offline, the calls the rider may take, pick up, complete
// or report that it cannot deliver, and what the rider earned.
//
// Live updates poll GET /rider/calls, GET /delivery-list and GET /rider/availability every
// second (every 4 s while the tab is hidden, so a rider with the phone in a pocket still hears
// of a new call); restaurant.js says why polling rather than server-sent events. A new call is
// announced with a short tone, a vibration where the phone has one, a browser notification
// once the rider allowed them ("Enable alerts"), and a count in the tab's title.

import {
  FAILURE_REASONS, api, busyButton, clock, el, failureLabel, isOnline, listRows, money, notify, onConnectionChange, poll,
  reconcile, refreshActions, sentence, setText, setUpSignIn,
} from '/web/common.js';

const POLL_MS = 1000;
const HIDDEN_POLL_MS = 4000;
const RANK = { Called: 0, Assigned: 1, Picked: 2, Completed: 3, Failed: 3, Cancelled: 3 };
const TITLE = document.title;

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
/** The rider's availability {online, zones, capacity, active}, once known. */
let availability = null;
/** Calls already seen: only calls not in here are announced. Null until the first list. */
let seen = null;
/** New calls since the rider last looked at the page. */
let unseen = 0;

function start(session) {
  generation += 1;
  if (!account || account.id !== session.account.id) reset();
  account = session.account;
  $('app').hidden = false;
  render();
  if (poller) poller.stop();
  poller = poll(refresh, POLL_MS, $('live'), $('offline'), { hiddenMs: HIDDEN_POLL_MS });
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
  availability = null;
  seen = null;
  unseen = 0;
  document.title = TITLE;
  notify($('message'), '');
  render();
}

async function refresh() {
  const gen = generation;
  const [open, list, state] = await Promise.all([
    api('GET', '/rider/calls'),
    api('GET', '/delivery-list?limit=100'),
    api('GET', '/rider/availability'),
  ]);
  if (gen !== generation) return true; // signed out or in again meanwhile
  if (open.ok) {
    calls = open.data;
    announce(calls);
  }
  if (list.ok) {
    const rows = listRows(list.data);
    tellReassigned(mine, rows);
    mine = rows;
  }
  if (state.ok) availability = state.data;
  render();
  return open.ok && list.ok && state.ok;
}

/** A delivery the rider held that leaves its list was given to another rider by the
 * dispatcher (the list shows a rider what it holds or held, and ended deliveries stay). */
function tellReassigned(before, after) {
  const still = new Set(after.map((d) => d.deliveryId));
  const gone = before.filter((d) => (d.status === 'Assigned' || d.status === 'Picked') && !still.has(d.deliveryId));
  for (const d of gone) known.delete(d.deliveryId);
  if (gone.length) {
    notify($('message'), `The delivery to ${gone[0].destination} was reassigned to another rider by the dispatcher: `
      + 'it is no longer yours.', 'warn');
  }
}

/** Announces the calls not seen before (none on the first list after signing in). */
function announce(list) {
  const ids = list.map((call) => call.deliveryId);
  const fresh = seen ? list.filter((call) => !seen.has(call.deliveryId)) : [];
  seen = new Set(ids);
  if (document.hidden) unseen += fresh.length;
  document.title = unseen > 0 ? `(${unseen}) ${TITLE}` : TITLE;
  if (!fresh.length) return;
  const call = fresh[0];
  const what = `${call.restaurant ? call.restaurant.name : 'A restaurant'}: ${call.destination}, `
    + `you earn ${money(call.earning ?? call.cost)}`;
  tone();
  if (navigator.vibrate) navigator.vibrate([150, 80, 150]);
  if (document.hidden && 'Notification' in window && Notification.permission === 'granted') {
    new Notification(fresh.length > 1 ? `${fresh.length} new calls` : 'New call', { body: what, tag: 'calls' });
  }
}

/** A short two-note tone, made on the spot (no sound files to load). */
function tone() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    const audio = tone.context || (tone.context = new Context());
    const now = audio.currentTime;
    [880, 1175].forEach((frequency, i) => {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.15, now + i * 0.15);
      gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.15 + 0.14);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(now + i * 0.15);
      oscillator.stop(now + i * 0.15 + 0.15);
    });
  } catch {
    // A browser that refuses sound before a tap: the other signals still tell.
  }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) {
    unseen = 0;
    document.title = TITLE;
  }
});

function renderAvailability() {
  const online = !availability || availability.online;
  const button = $('availability');
  button.setAttribute('aria-checked', String(online));
  button.classList.toggle('on', online);
  const switching = busy.has('availability');
  setText($('availability-state'), switching ? (online ? 'Going offline…' : 'Going online…') : online ? 'Online' : 'Offline');
  setText($('availability-label'), online ? 'Available for calls' : 'Not taking calls');
  const held = availability ? availability.active.length : 0;
  setText($('holding'), availability
    ? `Holding ${held} of ${availability.capacity}${online ? '' : ' · going offline keeps what you hold'}`
    : '');
  // Not busyButton: its label is the switch's own parts.
  button.dataset.busy = switching ? 'true' : '';
  button.disabled = switching || !isOnline();
  const alerts = $('enable-alerts');
  alerts.hidden = !('Notification' in window) || Notification.permission !== 'default';
}

function render() {
  renderAvailability();
  const openCalls = calls.filter((call) => !gone.has(call.deliveryId));
  reconcile($('calls'), openCalls, (call) => call.deliveryId, createCall, updateCall);
  $('calls-empty').hidden = openCalls.length > 0;
  setText($('calls-empty'), availability && !availability.online
    ? 'You are offline: go online to see and take calls.'
    : availability && availability.active.length >= availability.capacity
      ? `You hold ${held(availability.active.length)}, your limit: complete one to take more.`
      : 'No open calls right now. New calls appear here by themselves.');
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
  const active = (d) => d.status === 'Assigned' || d.status === 'Picked';
  const items = [...all.filter(active), ...all.filter((d) => !active(d))];
  reconcile($('mine'), items, (d) => d.deliveryId, createMine, updateMine);
  $('mine-empty').hidden = items.length > 0;
  const earned = items.reduce((sum, d) => sum + (d.settled ? d.settled : 0), 0);
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
  setText(card.querySelector('.fee'), `You earn ${money(call.earning ?? call.cost)}`);
  const restaurant = call.restaurant
    ? `${call.restaurant.name}, ${call.restaurant.pickupAddress}`
    : call.restaurantId || 'a restaurant';
  setText(card.querySelector('.from'), ` · pick up at ${restaurant} · called ${clock(call.calledAt)}`);
  const button = card.querySelector('button');
  busyButton(button, busy.has(call.deliveryId), 'Picking up…');
  button.setAttribute('aria-label', `Pick up the delivery to ${call.destination}`);
}

function createMine() {
  const complete = el('button', { type: 'button', class: 'block', 'data-action': true }, 'Complete');
  const cantDeliver = el('button', { type: 'button', class: 'neutral block cant-deliver', 'data-action': true },
    "Can't deliver");
  const reason = el('select', { class: 'reason', 'aria-label': 'Why you cannot deliver' },
    ...Object.entries(FAILURE_REASONS).map(([value, label]) => el('option', { value }, label)));
  const note = el('input', { class: 'note', maxlength: '256', placeholder: 'Note (optional)',
    'aria-label': 'Note for the restaurant and the operators' });
  const report = el('button', { type: 'button', class: 'danger', 'data-action': true }, 'Report');
  const keep = el('button', { type: 'button', class: 'neutral' }, 'Back');
  const form = el('div', { class: 'fail-form', hidden: true }, reason, note, el('div', { class: 'actions' }, report, keep));
  const card = el('li', { class: 'mine' },
    el('p', { class: 'destination' }),
    el('p', { class: 'meta' }, el('span', { class: 'status' }), ' ', el('span', { class: 'fee' })),
    el('p', { class: 'meta outcome' }),
    complete, cantDeliver, form);
  complete.addEventListener('click', () => {
    const delivery = findDelivery(card.dataset.key);
    if (delivery && delivery.status === 'Assigned') pickUp(card.dataset.key);
    else completeDelivery(card.dataset.key);
  });
  cantDeliver.addEventListener('click', () => {
    form.hidden = false;
    cantDeliver.hidden = true;
    reason.focus();
  });
  keep.addEventListener('click', () => {
    form.hidden = true;
    cantDeliver.hidden = false;
  });
  report.addEventListener('click', () => failDelivery(card.dataset.key, reason.value, note.value.trim()));
  return card;
}

function findDelivery(id) {
  return known.get(id) || mine.find((d) => d.deliveryId === id);
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
  const assigned = delivery.status === 'Assigned';
  complete.hidden = !(assigned || delivery.status === 'Picked');
  complete.dataset.idleText = assigned ? 'Pick up' : 'Complete';
  busyButton(complete, busy.has(delivery.deliveryId), assigned ? 'Picking up…' : 'Completing…');
  complete.setAttribute('aria-label', `${assigned ? 'Pick up' : 'Complete'} the delivery to ${delivery.destination}`);
  const cantDeliver = card.querySelector('.cant-deliver');
  const form = card.querySelector('.fail-form');
  if (delivery.status !== 'Picked') {
    cantDeliver.hidden = true;
    form.hidden = true;
  } else if (form.hidden) {
    cantDeliver.hidden = false;
  }
  busyButton(card.querySelector('.fail-form .danger'), busy.has(delivery.deliveryId), 'Reporting…');
}

function outcome(delivery) {
  switch (delivery.status) {
    case 'Picked': return 'On the way: press Complete once delivered.';
    case 'Completed': return typeof delivery.settled === 'number'
      ? 'Earned ' + money(delivery.settled)
      : 'Delivered · payment being settled';
    case 'Assigned': return 'Assigned to you by the dispatcher: pick it up at the restaurant.';
    case 'Failed': {
      const reason = delivery.failure ? delivery.failure.reason : delivery.failureReason;
      return `Could not deliver: ${failureLabel(reason)}`
        + (typeof delivery.settled === 'number' ? ` · earned ${money(delivery.settled)}` : '');
    }
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
  } else if (res.status === 409 && res.data.code === 'rider_offline') {
    notify($('message'), 'You are offline: go online to take calls.', 'error');
  } else if (res.status === 409 && res.data.code === 'rider_at_capacity') {
    const holding = availability ? held(availability.active.length) : 'as many deliveries as you may';
    notify($('message'), `You hold ${holding}, your limit: complete one first.`, 'error');
  } else if (res.status === 409 || res.status === 404 || res.status === 403) {
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
  if (refused.data.code === 'not_your_delivery') {
    return `${capital(to)} is assigned to another rider by the dispatcher.`;
  }
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
    notify($('message'), `${capital(to)} was reassigned to another rider by the dispatcher: it is no longer yours.`, 'error');
  } else if (res.status === 0) {
    notify($('message'), `No answer about completing ${to}: ${sentence(res.data.message)} `
      + 'Its status shows once the server is back.', 'error', { offline: true });
  } else {
    notify($('message'), `Could not complete ${to}: ${sentence(res.data.message)}`, 'error');
  }
  render();
  if (poller) poller.refresh();
}

async function failDelivery(id, reason, note) {
  const delivery = findDelivery(id);
  const to = delivery ? `the delivery to ${delivery.destination}` : 'this delivery';
  const gen = generation;
  busy.add(id);
  notify($('message'), '');
  render();
  const body = note ? { reason, note } : { reason };
  const res = await api('POST', `/deliveries/${encodeURIComponent(id)}/fail`, body);
  busy.delete(id);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) {
    known.set(id, { ...res.data, updatedAt: new Date().toISOString() });
    notify($('message'), `Reported: ${to} could not be delivered (${failureLabel(reason)}).`);
  } else if (res.status === 403) {
    notify($('message'), `${capital(to)} was reassigned to another rider by the dispatcher: it is no longer yours.`, 'error');
  } else {
    notify($('message'), `Could not report ${to}: ${sentence(res.data.message)}`, 'error', { offline: res.status === 0 });
  }
  render();
  if (poller) poller.refresh();
}

async function toggleAvailability() {
  const online = !(availability && !availability.online);
  const gen = generation;
  busy.add('availability');
  render();
  const res = await api('PUT', '/rider/availability', { online: !online });
  busy.delete('availability');
  if (gen !== generation || res.status === 401) return;
  if (res.ok) {
    availability = res.data;
    notify($('message'), res.data.online
      ? 'You are online: new calls appear below.'
      : 'You are offline: no new calls until you go online. What you hold stays yours.');
  } else {
    notify($('message'), `Could not change your availability: ${sentence(res.data.message)}`, 'error',
      { offline: res.status === 0 });
  }
  render();
  if (poller) poller.refresh();
}

$('availability').addEventListener('click', toggleAvailability);
$('enable-alerts').addEventListener('click', async () => {
  const answer = await Notification.requestPermission();
  const state = $('alerts-state');
  state.hidden = false;
  setText(state, answer === 'granted' ? 'Alerts on: new calls notify you while this tab is in the background.'
    : 'Alerts are blocked in this browser; the tone and the tab title still tell you.');
  tone();
  render();
});

/** "1 delivery", "2 deliveries". */
function held(count) {
  return `${count} ${count === 1 ? 'delivery' : 'deliveries'}`;
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
