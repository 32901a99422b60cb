// Rider app: sign in, go online or offline, the calls the rider may take, pick up, complete
// or report that it cannot deliver, and what the rider earned.
//
// A restaurant in offer mode has each call offered to one rider at a time: the rider sees it
// as "Offered to you" with the seconds left to answer, and accepts it (it becomes the rider's,
// Assigned, to pick up) or declines it; unanswered, it lapses and goes to the next rider.
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
/** How often the offers' countdowns are redrawn (their text changes once a second). */
const TICK_MS = 250;
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
/** What is under way for an offer, by delivery id: 'accept' or 'decline'. */
const answering = new Map();
/** Offers that are no longer this rider's (declined, lapsed, or refused when accepted): their
 * offer card stays hidden while the list may still show it. The same call open to every rider
 * later on (its offers ran out) shows again, as a call. */
const passed = new Set();
/** Offers this rider accepted (until the list shows them as its own). */
const accepted = new Set();
/** At least how many ms this phone's clock is ahead of the server's, as the offers tell: the
 * server lists an offer only before it lapses, so one listed past its `expiresAt` by the phone's
 * clock means the phone runs ahead. The countdowns run on the server's time. */
let ahead = 0;
/** The timer that redraws the countdowns while an offer shows. */
let ticker = null;
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
  tickWhile(false);
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
  answering.clear();
  passed.clear();
  accepted.clear();
  ahead = 0;
  availability = null;
  seen = null;
  unseen = 0;
  document.title = TITLE;
  notify($('message'), '');
  render();
}

async function refresh() {
  const gen = generation;
  const sentAt = Date.now();
  const [open, list, state] = await Promise.all([
    api('GET', '/rider/calls'),
    api('GET', '/delivery-list?limit=100'),
    api('GET', '/rider/availability'),
  ]);
  if (gen !== generation) return true; // signed out or in again meanwhile
  if (open.ok) {
    calls = open.data;
    heedOffers(calls, sentAt);
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

/** What the list from the server says about the offers: which of those the page hides are
 * gone from it, and how far ahead the phone's clock is at least. */
function heedOffers(list, sentAt) {
  const offered = new Set();
  for (const call of list) {
    if (call.kind !== 'offer') continue;
    offered.add(call.deliveryId);
    const expires = Date.parse(call.expiresAt);
    // Listed, so not lapsed when the server read it, which was after `sentAt`.
    if (!Number.isNaN(expires)) ahead = Math.max(ahead, sentAt - expires);
  }
  for (const id of passed) if (!offered.has(id)) passed.delete(id);
}

/** Announces the calls not seen before, offers included (none on the first list after
 * signing in). */
function announce(list) {
  const shown = list.filter((call) => !(call.kind === 'offer' && passed.has(call.deliveryId)));
  const fresh = seen ? shown.filter((call) => !seen.has(call.deliveryId)) : [];
  seen = new Set(shown.map((call) => call.deliveryId));
  if (document.hidden) unseen += fresh.length;
  document.title = unseen > 0 ? `(${unseen}) ${TITLE}` : TITLE;
  if (!fresh.length) return;
  const offer = fresh.find((call) => call.kind === 'offer');
  const call = offer || fresh[0];
  const what = `${call.restaurant ? call.restaurant.name : 'A restaurant'}: ${call.destination}, `
    + `you earn ${money(call.earning ?? call.cost)}`
    + (offer ? ` · answer within ${secondsLeft(offer)} s` : '');
  tone();
  if (navigator.vibrate) navigator.vibrate([150, 80, 150]);
  if (document.hidden && 'Notification' in window && Notification.permission === 'granted') {
    const title = fresh.length > 1 ? `${fresh.length} new calls` : offer ? 'New call offered to you' : 'New call';
    new Notification(title, { body: what, tag: 'calls' });
  }
}

/** Whole seconds until the offer lapses, by the server's clock; 0 once it has. */
function secondsLeft(call) {
  const expires = Date.parse(call.expiresAt);
  if (Number.isNaN(expires)) return 0;
  return Math.max(0, Math.ceil((expires + ahead - Date.now()) / 1000));
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
  const shown = calls.filter((call) => !gone.has(call.deliveryId)
    && !(call.kind === 'offer' && passed.has(call.deliveryId)));
  // Offers first, the one lapsing soonest on top: they wait for an answer. Then the calls
  // open to every rider, newest first (as the server lists them).
  const offers = shown.filter((call) => call.kind === 'offer')
    .sort((a, b) => (Date.parse(a.expiresAt) || 0) - (Date.parse(b.expiresAt) || 0));
  const openCalls = [...offers, ...shown.filter((call) => call.kind !== 'offer')];
  reconcile($('calls'), openCalls, (call) => call.deliveryId, createCall, updateCall);
  tickWhile(offers.length > 0);
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
  const pickup = el('button', { type: 'button', class: 'block pickup', 'data-action': true }, 'Pick up');
  const accept = el('button', { type: 'button', class: 'accept', 'data-action': true }, 'Accept');
  const decline = el('button', { type: 'button', class: 'neutral decline', 'data-action': true }, 'Decline');
  const card = el('li', { class: 'call' },
    el('p', { class: 'offer-head', hidden: true },
      el('span', { class: 'offer-label' }, 'Offered to you'),
      // role=timer: read when asked, not every second.
      el('span', { class: 'countdown', role: 'timer' })),
    el('p', { class: 'destination' }),
    el('p', { class: 'meta' }, el('span', { class: 'fee' }), el('span', { class: 'from' })),
    pickup,
    el('div', { class: 'offer-actions', hidden: true }, accept, decline));
  pickup.addEventListener('click', () => pickUp(card.dataset.key, pickup));
  accept.addEventListener('click', () => acceptOffer(card.dataset.key));
  decline.addEventListener('click', () => declineOffer(card.dataset.key));
  return card;
}

function updateCall(card, call) {
  const offer = call.kind === 'offer';
  card.classList.toggle('offer', offer);
  card.dataset.kind = offer ? 'offer' : 'call';
  setText(card.querySelector('.destination'), call.destination);
  setText(card.querySelector('.fee'), `You earn ${money(call.earning ?? call.cost)}`);
  const restaurant = call.restaurant
    ? `${call.restaurant.name}, ${call.restaurant.pickupAddress}`
    : call.restaurantId || 'a restaurant';
  setText(card.querySelector('.from'), ` · pick up at ${restaurant} · called ${clock(call.calledAt)}`);
  const pickup = card.querySelector('.pickup');
  pickup.hidden = offer;
  busyButton(pickup, busy.has(call.deliveryId), 'Picking up…');
  pickup.setAttribute('aria-label', `Pick up the delivery to ${call.destination}`);
  card.querySelector('.offer-head').hidden = !offer;
  const accept = card.querySelector('.accept');
  const decline = card.querySelector('.decline');
  const doing = answering.get(call.deliveryId);
  busyButton(accept, Boolean(doing), doing === 'accept' ? 'Accepting…' : 'Accept');
  busyButton(decline, Boolean(doing), doing === 'decline' ? 'Declining…' : 'Decline');
  accept.setAttribute('aria-label', `Accept the delivery to ${call.destination}`);
  decline.setAttribute('aria-label', `Decline the delivery to ${call.destination}`);
  if (offer) {
    updateCountdown(card, call);
  } else {
    // Its offers ran out and it is open to every rider now: an ordinary call.
    card.classList.remove('lapsed', 'hurry');
    card.querySelector('.offer-actions').hidden = true;
  }
}

/** The seconds left to answer an offer; once none are left, it says it lapsed, and the next
 * refresh takes the card away (the server no longer lists it). */
function updateCountdown(card, call) {
  const left = secondsLeft(call);
  const lapsed = left === 0 && !answering.has(call.deliveryId);
  card.classList.toggle('lapsed', lapsed);
  card.classList.toggle('hurry', left > 0 && left <= 10);
  setText(card.querySelector('.countdown'), lapsed
    ? 'Lapsed: you did not answer in time'
    : `${left} s left to answer`);
  card.querySelector('.offer-actions').hidden = lapsed;
}

/** Redraws the countdowns while an offer shows. */
function tickWhile(needed) {
  if (needed && !ticker) {
    ticker = setInterval(() => {
      for (const card of $('calls').children) {
        if (card.dataset.kind !== 'offer') continue;
        const call = calls.find((c) => c.deliveryId === card.dataset.key);
        if (call) updateCountdown(card, call);
      }
    }, TICK_MS);
  } else if (!needed && ticker) {
    clearInterval(ticker);
    ticker = null;
  }
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
    case 'Assigned': return accepted.has(delivery.deliveryId)
      ? 'You accepted it: pick it up at the restaurant, then press Pick up.'
      : 'Assigned to you: pick it up at the restaurant.';
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

/** Takes an offer: the delivery becomes the rider's (Assigned), to pick up at the restaurant. */
async function acceptOffer(id) {
  const call = calls.find((c) => c.deliveryId === id);
  const to = call ? `the delivery to ${call.destination}` : 'this delivery';
  const gen = generation;
  answering.set(id, 'accept');
  notify($('message'), '');
  render();
  const res = await api('POST', `/deliveries/${encodeURIComponent(id)}/accept`, {});
  answering.delete(id);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) {
    gone.add(id);
    accepted.add(id);
    known.set(id, { ...res.data, updatedAt: new Date().toISOString() });
    const where = call && call.restaurant ? ` at ${call.restaurant.name}` : '';
    notify($('message'), `Accepted: pick up ${to}${where}, then press Pick up.`);
  } else if (res.status === 409 && res.data.code === 'rider_at_capacity') {
    passed.add(id);
    notify($('message'), "You're at capacity: the offer passed to another rider. Complete a delivery to take more.",
      'error');
  } else if (res.status === 409 && res.data.code === 'rider_offline') {
    passed.add(id);
    notify($('message'), "You're offline: the offer passed to another rider. Go online to take calls.", 'error');
  } else if (res.status === 403) {
    passed.add(id);
    notify($('message'), 'This offer went to another rider: it is no longer yours to accept.', 'error');
  } else if (res.status === 404 || res.status === 409) {
    passed.add(id);
    notify($('message'), `${capital(to)} is no longer available: it was cancelled, or another rider took it.`, 'error');
  } else if (res.status === 0) {
    notify($('message'), `No answer about accepting ${to}: ${sentence(res.data.message)} `
      + 'If it became yours, it shows under My deliveries once the server is back.', 'error', { offline: true });
  } else {
    notify($('message'), `Could not accept ${to}: ${sentence(res.data.message)}`, 'error');
  }
  render();
  if (res.ok) focusComplete(id);
  else if (call) $('calls-title').focus();
  if (poller) poller.refresh();
}

/** Passes on an offer: it goes to the next rider. */
async function declineOffer(id) {
  const call = calls.find((c) => c.deliveryId === id);
  const to = call ? `the delivery to ${call.destination}` : 'this delivery';
  const gen = generation;
  answering.set(id, 'decline');
  notify($('message'), '');
  render();
  const res = await api('POST', `/deliveries/${encodeURIComponent(id)}/decline`, {});
  answering.delete(id);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) {
    passed.add(id);
    notify($('message'), `Declined ${to}: it goes to another rider.`);
  } else if (res.status === 403 || res.status === 404) {
    // No longer this rider's to decline anyway: the card goes all the same.
    passed.add(id);
    notify($('message'), res.status === 403
      ? 'This offer had already gone to another rider.'
      : `${capital(to)} is no longer available: it was cancelled.`);
  } else if (res.status === 0) {
    notify($('message'), `No answer about declining ${to}: ${sentence(res.data.message)} `
      + 'Left unanswered, the offer lapses by itself.', 'error', { offline: true });
  } else {
    notify($('message'), `Could not decline ${to}: ${sentence(res.data.message)}`, 'error');
  }
  render();
  $('calls-title').focus();
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
