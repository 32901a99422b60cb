// Rider app: sign in, go online or offline, the calls the rider may take, pick up, complete
// or report that it cannot deliver, and what the rider earned.
//
// A restaurant in offer mode has each call offered to one rider at a time: the rider sees it
// as "Offered to you" with the seconds left to answer, and accepts it (it becomes the rider's,
// Assigned, to pick up) or declines it; unanswered, it lapses and goes to the next rider.
//
// What the rider earned is the server's: the Earnings section shows today's statement
// (GET /rider/statement for the UTC day: total, deliveries, paid out, balance), a statement for
// a day, a week or a month with its CSV, and the payouts (GET /rider/payouts, newest first).
// The page adds up nothing itself: the ledger knows the commission and the adjustments. It is
// read every 15 s, and at once when a delivery of the rider's list settles.
//
// Live updates poll GET /rider/calls, GET /delivery-list and GET /rider/availability every
// second (every 4 s while the tab is hidden, so a rider with the phone in a pocket still hears
// of a new call); restaurant.js says why polling rather than server-sent events. A new call is
// announced with a short tone, a vibration where the phone has one, a browser notification
// once the rider allowed them ("Enable alerts"), and a count in the tab's title.

import {
  FAILURE_REASONS, addDays, api, busyButton, clock, createAdjustment, dateTime, download, el, failureLabel, isOnline, listRows, money,
  nextCursor, notify, onConnectionChange, periodText, poll, reconcile, refreshActions, sentence, setText, setUpSignIn, updateAdjustment,
  utcDay,
} from '/web/common.js';

const POLL_MS = 1000;
const HIDDEN_POLL_MS = 4000;
/** How often the offers' countdowns are redrawn (their text changes once a second). */
const TICK_MS = 250;
const RANK = { Called: 0, Assigned: 1, Picked: 2, Completed: 3, Failed: 3, Cancelled: 3 };
const TITLE = document.title;
/** How often the earnings and payouts are read again (a settlement in the list reads them at once). */
const EARNINGS_MS = 15_000;
/** Payouts per page. */
const PAYOUTS_PAGE = 10;

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
/** Reads the earnings and payouts while signed in. */
let earningsPoller = null;
/** Which statement shows: a 'day', 'week' or 'month' around `day` (a UTC `YYYY-MM-DD`; null
 * for today, whichever day that is when it is read). */
const range = { kind: 'day', day: null };
/** Today's statement, and the one of the chosen range, as the API answered them (or null). */
let today = null;
let statement = null;
/** The payouts loaded so far, newest first; the cursor of the page after them (null: no more);
 * whether the rider loaded more than the first page. */
let payouts = [];
let payoutsCursor = null;
let payoutsPaged = false;
/** Whether the payouts were read at all since signing in. */
let payoutsRead = false;
/** What the list says about the rider's deliveries that money depends on (status, settled):
 * when it changes, the earnings are read again. */
let moneySignature = null;

function start(session) {
  generation += 1;
  if (!account || account.id !== session.account.id) reset();
  account = session.account;
  $('app').hidden = false;
  render();
  if (poller) poller.stop();
  poller = poll(refresh, POLL_MS, $('live'), $('offline'), { hiddenMs: HIDDEN_POLL_MS });
  if (earningsPoller) earningsPoller.stop();
  earningsPoller = poll(refreshEarnings, EARNINGS_MS, null, null);
}

function stop(reason) {
  generation += 1;
  if (poller) poller.stop();
  poller = null;
  if (earningsPoller) earningsPoller.stop();
  earningsPoller = null;
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
  range.kind = 'day';
  range.day = null;
  today = null;
  statement = null;
  payouts = [];
  payoutsCursor = null;
  payoutsPaged = false;
  payoutsRead = false;
  moneySignature = null;
  for (const id of ['earnings-error', 'statement-error', 'statement-csv-result', 'payouts-error']) notify($(id), '');
  render();
  renderEarnings();
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
    heedSettlements(rows);
  }
  if (state.ok) availability = state.data;
  render();
  if (list.ok) renderEarnings(); // the statement names the deliveries the list knows
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

/** What the rider earned from a delivery settled today, from the server's statement (the fee
 * less the commission); null when the statement does not list it (yet, or another day). */
function earned(deliveryId) {
  const line = today && today.lines.find((l) => l.deliveryId === deliveryId);
  return line ? line.earning : null;
}

function outcome(delivery) {
  const earning = earned(delivery.deliveryId);
  switch (delivery.status) {
    case 'Picked': return 'On the way: press Complete once delivered.';
    case 'Completed': return typeof earning === 'number'
      ? 'Earned ' + money(earning)
      : typeof delivery.settled === 'number'
        ? `Delivered · fee ${money(delivery.settled)} settled`
        : 'Delivered · payment being settled';
    case 'Assigned': return accepted.has(delivery.deliveryId)
      ? 'You accepted it: pick it up at the restaurant, then press Pick up.'
      : 'Assigned to you: pick it up at the restaurant.';
    case 'Failed': {
      const reason = delivery.failure ? delivery.failure.reason : delivery.failureReason;
      return `Could not deliver: ${failureLabel(reason)}`
        + (typeof earning === 'number' ? ` · earned ${money(earning)}` : '');
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
    notify($('message'), `Delivered to ${res.data.destination}: your earning is being settled to you.`);
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

// ---------------------------------------------------------------------------------------
// Earnings: today's statement, a statement for a day, week or month, and the payouts.

/** A delivery of the list that ended or settled since the last look: its money is in the
 * ledger by now (the list learns of a settlement after the ledger booked it). */
function heedSettlements(rows) {
  const signature = rows.filter((d) => RANK[d.status] === 3)
    .map((d) => `${d.deliveryId}:${d.status}:${d.settled ?? ''}`).sort().join(',');
  const changed = moneySignature !== null && signature !== moneySignature;
  moneySignature = signature;
  if (changed && earningsPoller) earningsPoller.refresh();
}

/** The first and last UTC day of the chosen range: the day, its week (Monday to Sunday) or
 * its month. */
function rangeDays() {
  const day = range.day || utcDay();
  if (range.kind === 'week') {
    const weekday = (new Date(day + 'T00:00:00Z').getUTCDay() + 6) % 7; // Monday 0
    const monday = addDays(day, -weekday);
    return [monday, addDays(monday, 6)];
  }
  if (range.kind === 'month') {
    const first = day.slice(0, 8) + '01';
    const next = new Date(first + 'T00:00:00Z');
    next.setUTCMonth(next.getUTCMonth() + 1);
    return [first, addDays(utcDay(next), -1)];
  }
  return [day, day];
}

function statementPath(from, to) {
  return `/rider/statement?from=${from}&to=${to}`;
}

/** Reads today's statement, the chosen one (when it is not just today) and the first page of
 * payouts. */
async function refreshEarnings() {
  const gen = generation;
  const day = utcDay();
  const [from, to] = rangeDays();
  const same = from === day && to === day;
  const [own, chosen, paid] = await Promise.all([
    api('GET', statementPath(day, day)),
    same ? null : api('GET', statementPath(from, to)),
    api('GET', `/rider/payouts?limit=${PAYOUTS_PAGE}`),
  ]);
  if (gen !== generation) return true;
  if (own.ok) {
    today = own.data;
    notify($('earnings-error'), '');
  } else if (own.status !== 0 && own.status !== 401) {
    notify($('earnings-error'), "Could not read today's earnings: " + sentence(own.data.message), 'error', { clear: 0 });
  }
  // The range may have changed while this was under way: an answer for another one is dropped.
  const answer = same ? own : chosen;
  const [nowFrom, nowTo] = rangeDays();
  if (nowFrom === from && nowTo === to) {
    if (answer.ok) {
      statement = answer.data;
      notify($('statement-error'), '');
    } else if (answer.status !== 0 && answer.status !== 401) {
      notify($('statement-error'), 'Could not read the statement: ' + sentence(answer.data.message), 'error', { clear: 0 });
    }
  }
  if (paid.ok) {
    mergePayouts(paid.data);
    notify($('payouts-error'), '');
  } else if (paid.status !== 0 && paid.status !== 401) {
    notify($('payouts-error'), 'Could not read your payouts: ' + sentence(paid.data.message), 'error', { clear: 0 });
  }
  renderEarnings();
  return own.ok && answer.ok && paid.ok;
}

/** The first page of payouts, read again: new payouts go on top, the older pages the rider
 * loaded stay below. */
function mergePayouts(page) {
  const first = Array.isArray(page.items) ? page.items : [];
  const ids = new Set(first.map((p) => p.payoutId));
  payouts = [...first, ...payouts.filter((p) => !ids.has(p.payoutId))];
  if (!payoutsPaged) payoutsCursor = nextCursor(page);
  payoutsRead = true;
}

async function loadMorePayouts() {
  if (!payoutsCursor) return;
  const gen = generation;
  const button = $('payouts-more');
  busyButton(button, true, 'Loading…');
  const res = await api('GET', `/rider/payouts?limit=${PAYOUTS_PAGE}&cursor=${encodeURIComponent(payoutsCursor)}`);
  busyButton(button, false);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) {
    const items = Array.isArray(res.data.items) ? res.data.items : [];
    const ids = new Set(payouts.map((p) => p.payoutId));
    payouts = [...payouts, ...items.filter((p) => !ids.has(p.payoutId))];
    payoutsCursor = nextCursor(res.data);
    payoutsPaged = true;
    notify($('payouts-error'), '');
  } else {
    notify($('payouts-error'), 'Could not load more payouts: ' + sentence(res.data.message), 'error',
      { offline: res.status === 0 });
  }
  renderEarnings();
}

function renderEarnings() {
  const known = (value) => (today ? value : '…');
  setText($('today-total'), known(today && money(today.total)));
  setText($('today-count'), known(today && String(today.lines.length)));
  setText($('today-paid'), known(today && money(today.paidOut)));
  setText($('today-balance'), known(today && money(today.balance)));

  for (const button of document.querySelectorAll('[data-range]')) {
    button.setAttribute('aria-pressed', String(button.dataset.range === range.kind));
  }
  const date = $('statement-date');
  if (document.activeElement !== date) date.value = range.day || utcDay();
  const [from, to] = rangeDays();
  const shown = statement && statement.from === from && statement.to === to ? statement : null;
  setText($('statement-range'), (from === to ? `${from} (UTC)` : `${from} to ${to} (UTC)`)
    + (shown ? '' : ' · loading…'));
  const lines = shown ? shown.lines : [];
  reconcile($('statement-lines').tBodies[0], lines, (line) => line.deliveryId, createLine, updateLine);
  $('statement-lines').hidden = !lines.length;
  $('statement-empty').hidden = !shown || lines.length > 0;
  const adjustments = shown ? shown.adjustments : [];
  reconcile($('statement-adjustments').tBodies[0], adjustments, (a) => a.id, createAdjustment, updateAdjustment);
  $('statement-adjustments-block').hidden = !adjustments.length;
  $('statement-totals').hidden = !shown;
  setText($('statement-total'), shown ? money(shown.total) : '');
  setText($('statement-paid'), shown ? money(shown.paidOut) : '');
  setText($('statement-balance'), shown ? money(shown.balance) : '');
  $('statement-csv').setAttribute('aria-label', `Download the statement of ${from === to ? from : `${from} to ${to}`} as CSV`);

  reconcile($('payouts'), payouts, (p) => p.payoutId, createPayout, updatePayout);
  $('payouts-empty').hidden = payouts.length > 0 || !payoutsRead;
  $('payouts-more').hidden = !payoutsCursor;
  refreshActions($('app'));
}

function createLine() {
  return el('tr', {},
    el('td', { 'data-label': 'Completed', class: 'time' }),
    el('td', { 'data-label': 'Delivery', class: 'what' }, el('span', { class: 'destination' }),
      el('span', { class: 'reason muted' })),
    el('td', { 'data-label': 'Fee', class: 'num cost' }),
    el('td', { 'data-label': 'Commission', class: 'num commission' }),
    el('td', { 'data-label': 'Earned', class: 'num earning' }));
}

function updateLine(row, line) {
  setText(row.querySelector('.time'), dateTime(line.completedAt));
  // The list knows where a recent delivery went; an older one shows by its id.
  const listed = mine.find((d) => d.deliveryId === line.deliveryId);
  setText(row.querySelector('.destination'), listed ? listed.destination : line.deliveryId);
  setText(row.querySelector('.reason'), line.failureReason ? `Could not deliver: ${failureLabel(line.failureReason)}` : '');
  setText(row.querySelector('.cost'), money(line.cost));
  setText(row.querySelector('.commission'), money(line.commission));
  setText(row.querySelector('.earning'), money(line.earning));
}

function createPayout() {
  return el('li', { class: 'payout' },
    el('p', { class: 'payout-head' }, el('span', { class: 'amount' }), el('span', { class: 'status' })),
    el('p', { class: 'meta' }));
}

function updatePayout(card, payout) {
  setText(card.querySelector('.amount'), money(payout.amount));
  const status = card.querySelector('.status');
  status.className = 'status ' + (payout.status === 'paid' ? 'Completed' : '');
  setText(status, payout.status === 'paid' ? 'Paid' : payout.status);
  setText(card.querySelector('.meta'), `For ${periodText(payout.period)}`
    + (payout.paidAt ? ` · paid ${dateTime(payout.paidAt)}` : ''));
}

/** Shows the statement of another range: what is known of it at once, the server's soon. */
function chooseRange(kind, day) {
  range.kind = kind;
  range.day = day && day !== utcDay() ? day : null;
  notify($('statement-error'), '');
  notify($('statement-csv-result'), '');
  renderEarnings();
  if (earningsPoller) earningsPoller.refresh();
}

async function downloadStatement() {
  const [from, to] = rangeDays();
  const gen = generation;
  const button = $('statement-csv');
  busyButton(button, true, 'Downloading…');
  notify($('statement-csv-result'), '');
  const res = await download(statementPath(from, to), { accept: 'text/csv', filename: `statement-${from}-${to}.csv` });
  busyButton(button, false);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) notify($('statement-csv-result'), `Downloaded ${res.data.filename}.`);
  else {
    notify($('statement-csv-result'), 'Could not download the statement: ' + sentence(res.data.message), 'error',
      { offline: res.status === 0 });
  }
}

for (const button of document.querySelectorAll('[data-range]')) {
  button.addEventListener('click', () => chooseRange(button.dataset.range, range.day));
}
$('statement-date').addEventListener('change', (event) => {
  if (/^\d{4}-\d{2}-\d{2}$/.test(event.target.value)) chooseRange(range.kind, event.target.value);
});
$('statement-csv').addEventListener('click', downloadStatement);
$('payouts-more').addEventListener('click', loadMorePayouts);

onConnectionChange(() => refreshActions($('app')));
setUpSignIn({ role: 'rider', onSignedIn: start, onSignedOut: stop });
