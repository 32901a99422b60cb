// Control room (관제): an operator signs in, watches every open delivery and the fleet live,
// assigns, cancels and resolves deliveries, manages accounts, books adjustments and follows the
// payout and invoice runs.
//
// The board is one request, GET /ops/board, read every 3 s while the page shows (restaurant.js
// says why polling rather than server-sent events); the fleet (GET /ops/riders) is read with it,
// since the rider choice of an assignment needs it fresh. Filters by zone and status are the
// page's own: the board is small, and filtering it here keeps the request the same for every
// operator. Accounts are read when their tab opens and after each change; the runs every 10 s
// while the Money tab shows.
//
// Signing in also opens the codec session of this browser (POST /codec/session sets an
// HttpOnly cookie for /codec), so the Temporal UI that links from here shows decoded payloads;
// it is renewed before it lapses while the page stays signed in, and ended on sign-out.

import {
  accountLabel, api, busyButton, clearFieldErrors, dateTime, el, failureLabel, idempotencyKey, money, nextCursor, notify,
  onConnectionChange, poll, reconcile, refreshActions, sentence, session, setText, setUpSignIn, showFieldError,
  showFieldErrors,
} from '/web/common.js';

const POLL_MS = 3000;
const HIDDEN_POLL_MS = 30_000;
const RUNS_MS = 10_000;
/** Every status a delivery has, in the order of its life, as the counts show them. */
const STATUSES = ['Called', 'Assigned', 'Picked', 'Completed', 'Cancelled', 'Failed'];
/** Statuses in which a delivery may go to another rider, and be cancelled. */
const REASSIGNABLE = new Set(['Called', 'Assigned', 'Picked']);
const CANCELLABLE = new Set(['Called', 'Assigned']);
/** A call waiting longer than this is flagged in the Waiting column. */
const LONG_WAIT_MIN = 10;
const ACCOUNTS_PAGE = 50;
const TABS = ['board', 'fleet', 'accounts', 'money'];
const MAX_COMMISSION_BPS = 10_000;
/** The codec session is renewed this long before it lapses. */
const CODEC_RENEW_EARLY_S = 120;

/** API error `field` → the input it belongs to, per form. */
const CREATE_FIELDS = {
  id: 'new-id', name: 'new-name', pickupAddress: 'new-pickup', zone: 'new-zone', dispatchMode: 'new-dispatch-mode',
  commissionBps: 'new-commission', zones: 'new-zones', capacity: 'new-capacity',
};
const EDIT_FIELDS = { dispatchMode: 'edit-dispatch-mode', commissionBps: 'edit-commission', zones: 'edit-zones', capacity: 'edit-capacity' };
const ADJUST_FIELDS = {
  account: 'adj-account', 'account.id': 'adj-account', amount: 'adj-amount', reason: 'adj-reason', deliveryId: 'adj-delivery',
};

const $ = (id) => document.getElementById(id);

/** Bumped on every sign-in and sign-out: answers to requests of an earlier one are dropped. */
let generation = 0;
let poller = null;
let runsPoller = null;
let codecTimer = null;
/** The last `GET /ops/board` answer, the fleet and the runs, as the API gave them. */
let board = null;
let fleet = [];
let fleetRead = false;
let runs = null;
let tab = 'board';
/** The accounts of the role shown, in id order, and the cursor of the page after them. */
const accounts = { role: 'restaurant', items: [], cursor: null, paged: false, read: false, roleGeneration: 0 };
/** What an open dialog acts on: the board item or the account, and what to do. */
const acting = { item: null, account: null, confirm: null };
/** The Idempotency-Key of an adjustment that got no definite answer, kept only to retry that
 * same adjustment. */
let pendingAdjustment = null;

// ---------------------------------------------------------------------------------------
// Signing in and out.

function open() {
  generation += 1;
  $('console').hidden = false;
  showTab(tabFromHash());
  openCodecSession();
  if (poller) poller.stop();
  poller = poll(refresh, POLL_MS, $('live'), $('offline'), { hiddenMs: HIDDEN_POLL_MS });
  if (runsPoller) runsPoller.stop();
  runsPoller = poll(refreshRuns, RUNS_MS, null, null);
}

function close(reason) {
  generation += 1;
  if (poller) poller.stop();
  if (runsPoller) runsPoller.stop();
  poller = null;
  runsPoller = null;
  clearTimeout(codecTimer);
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  $('console').hidden = true;
  hideSecret();
  notify($('message'), '');
  notify($('codec-status'), '');
  // The codec cookie would let this browser decode payloads for up to 15 more minutes: end it
  // with the session (the API answers anyone; the token is gone by now).
  if (reason === 'signout' || reason === 'expired') api('DELETE', '/codec/session');
  if (reason !== 'expired') reset();
}

/** Forgets what the previous operator saw: another one may sign in on this tab. */
function reset() {
  board = null;
  fleet = [];
  fleetRead = false;
  runs = null;
  accounts.items = [];
  accounts.cursor = null;
  accounts.paged = false;
  accounts.read = false;
  pendingAdjustment = null;
  for (const form of ['create-form', 'adjust-form']) $(form).reset();
  clearFieldErrors(CREATE_FIELDS);
  clearFieldErrors(ADJUST_FIELDS);
  for (const id of ['board-error', 'fleet-error', 'create-result', 'accounts-message', 'adjust-result', 'runs-error']) notify($(id), '');
  showRoleFields();
  renderBoard();
  renderFleet();
  renderAccounts();
  renderRuns();
}

/** Opens (or renews) the codec session of this browser for the Temporal UI. */
async function openCodecSession() {
  const gen = generation;
  clearTimeout(codecTimer);
  const res = await api('POST', '/codec/session');
  if (gen !== generation || res.status === 401) return;
  const status = $('codec-status');
  if (res.ok) {
    const seconds = Number(res.data && res.data.expiresIn) || 900;
    notify(status, 'Temporal UI: this browser now sees decoded payloads, while you stay signed in here, when the UI’s '
      + `codec endpoint is ${location.origin}/codec with “Include cross-origin credentials” turned on.`, '', { clear: 0 });
    codecTimer = setTimeout(openCodecSession, Math.max(60, seconds - CODEC_RENEW_EARLY_S) * 1000);
  } else {
    notify(status, 'The Temporal UI cannot show decoded payloads in this browser: ' + sentence(res.data.message), 'warn',
      { clear: 0, offline: res.status === 0 });
    codecTimer = setTimeout(openCodecSession, 30_000);
  }
}

// ---------------------------------------------------------------------------------------
// Tabs.

function tabFromHash() {
  const name = location.hash.slice(1);
  return TABS.includes(name) ? name : tab;
}

function showTab(name, { focus = false } = {}) {
  tab = name;
  for (const t of TABS) {
    const button = $('tab-' + t);
    button.setAttribute('aria-selected', String(t === name));
    button.tabIndex = t === name ? 0 : -1;
    $('panel-' + t).hidden = t !== name;
  }
  if (location.hash.slice(1) !== name) history.replaceState(null, '', '#' + name);
  if (focus) $('tab-' + name).focus();
  if (!session()) return;
  if (name === 'accounts') loadAccounts();
  if (name === 'money' && runsPoller) runsPoller.refresh();
}

for (const t of TABS) $('tab-' + t).addEventListener('click', () => showTab(t));
// Arrow keys move between tabs, as in any tab list (WAI-ARIA Authoring Practices).
document.querySelector('[role="tablist"]').addEventListener('keydown', (event) => {
  const at = TABS.indexOf(tab);
  const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: TABS.length - 1 }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  showTab(TABS[(to + TABS.length) % TABS.length], { focus: true });
});
window.addEventListener('hashchange', () => { if (tabFromHash() !== tab) showTab(tabFromHash()); });

// ---------------------------------------------------------------------------------------
// The board and the fleet.

async function refresh() {
  const gen = generation;
  const [answer, riders] = await Promise.all([api('GET', '/ops/board'), api('GET', '/ops/riders')]);
  if (gen !== generation) return true;
  if (answer.ok) {
    board = answer.data;
    notify($('board-error'), '');
  } else if (answer.status !== 0 && answer.status !== 401) {
    notify($('board-error'), 'Could not read the board: ' + sentence(answer.data.message), 'error', { clear: 0 });
  }
  if (riders.ok) {
    fleet = Array.isArray(riders.data) ? riders.data : [];
    fleetRead = true;
    notify($('fleet-error'), '');
  } else if (riders.status !== 0 && riders.status !== 401) {
    notify($('fleet-error'), 'Could not read the fleet: ' + sentence(riders.data.message), 'error', { clear: 0 });
  }
  renderBoard();
  renderFleet();
  return answer.ok && riders.ok;
}

const items = () => (board && Array.isArray(board.items) ? board.items : []);

/** "Gangnam Kitchen (r-1)", or the id alone when the restaurant has no name. */
function restaurantLabel(item) {
  return accountLabel({ id: item.restaurantId, name: item.restaurantName });
}

/** Whole minutes since `iso`, or null. */
function minutesSince(iso) {
  const at = new Date(iso).getTime();
  return Number.isNaN(at) ? null : Math.max(0, Math.floor((Date.now() - at) / 60_000));
}

/** A link into the Temporal UI (`path` under the namespace), opened in a new tab; null when
 * the API names no UI (`temporalUi` of the board or of the runs), or one that is not a web
 * address. */
function temporalLink(path, text, label) {
  const ui = (board && board.temporalUi) || (runs && runs.temporalUi);
  if (!ui || !ui.url) return null;
  let base;
  try {
    base = new URL(ui.url);
  } catch {
    return null;
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') return null;
  const href = `${String(ui.url).replace(/\/+$/, '')}/namespaces/${encodeURIComponent(ui.namespace || 'default')}/${path}`;
  return el('a', { href, target: '_blank', rel: 'noopener', 'aria-label': label }, text);
}

function matchesFilter(item) {
  const zone = $('filter-zone').value;
  const status = $('filter-status').value;
  if (zone && item.zone !== zone) return false;
  if (status === 'attention') return Boolean(item.attention);
  if (status === 'unassigned') return Boolean(item.unassigned);
  return !status || item.status === status;
}

function renderBoard() {
  const all = items();
  renderCounts(all);
  renderZoneChoice(all);
  const shown = all.filter(matchesFilter);
  reconcile($('board').tBodies[0], shown, (item) => item.deliveryId, createBoardRow, updateBoardRow);
  $('board').hidden = !shown.length;
  const empty = $('board-empty');
  empty.hidden = !board || shown.length > 0;
  setText(empty, all.length ? 'No open deliveries match these filters.' : 'No open deliveries.');
  setText($('board-count'), !board ? '' : shown.length === all.length ? `(${all.length})` : `(${shown.length} of ${all.length})`);
  $('board-truncated').hidden = !(board && board.truncated);
  refreshActions($('console'));
}

/** The figures at the top: deliveries by status, and those waiting for a person. */
function renderCounts(all) {
  const counts = (board && board.counts) || {};
  const names = [...STATUSES, ...Object.keys(counts).filter((s) => !STATUSES.includes(s))];
  const figures = [
    { key: 'attention', label: 'Needs attention', value: all.filter((i) => i.attention).length },
    { key: 'unassigned', label: 'Unassigned', value: all.filter((i) => i.unassigned).length },
    ...names.map((name) => ({ key: name, label: name, value: Number(counts[name]) || 0 })),
  ];
  reconcile($('counts'), board ? figures : [], (f) => f.key,
    () => el('div', { class: 'figure' }, el('dt'), el('dd')),
    (node, f) => {
      setText(node.querySelector('dt'), f.label);
      setText(node.querySelector('dd'), String(f.value));
      node.classList.toggle('alert', (f.key === 'attention' || f.key === 'unassigned') && f.value > 0);
    });
}

/** The zone filter offers the zones on the board (and keeps the one chosen). */
function renderZoneChoice(all) {
  const select = $('filter-zone');
  const zones = [...new Set(all.map((i) => i.zone).filter(Boolean))];
  if (select.value && !zones.includes(select.value)) zones.push(select.value);
  zones.sort();
  const options = [{ value: '', text: 'All zones' }, ...zones.map((z) => ({ value: z, text: z }))];
  reconcile(select, options, (o) => 'zone:' + o.value, (o) => el('option', { value: o.value }), (node, o) => setText(node, o.text));
}

function createBoardRow() {
  const assign = el('button', { type: 'button', class: 'small assign', 'data-action': true }, 'Assign');
  const cancel = el('button', { type: 'button', class: 'small secondary cancel', 'data-action': true }, 'Cancel');
  const resolve = el('button', { type: 'button', class: 'small resolve', 'data-action': true }, 'Resolve');
  const row = el('tr', {},
    el('td', { 'data-label': 'Waiting', class: 'num waiting' }),
    el('td', { 'data-label': 'Delivery', class: 'what' }, el('span', { class: 'destination' }), el('span', { class: 'sub workflow' })),
    el('td', { 'data-label': 'Restaurant', class: 'restaurant' }, el('span', { class: 'name' }), el('span', { class: 'sub zone muted' })),
    el('td', { 'data-label': 'Rider', class: 'rider' }),
    el('td', { 'data-label': 'Status', class: 'state' }, el('span', { class: 'status' }), el('span', { class: 'flag' })),
    el('td', { 'data-label': 'Fee', class: 'num fee' }),
    el('td', { class: 'actions' }, el('div', { class: 'row-actions' }, assign, cancel, resolve)));
  const item = () => items().find((i) => i.deliveryId === row.dataset.key);
  assign.addEventListener('click', () => { if (item()) openAssign(item(), assign); });
  cancel.addEventListener('click', () => { if (item()) openCancel(item(), cancel); });
  resolve.addEventListener('click', () => { if (item()) openResolve(item(), resolve); });
  return row;
}

function updateBoardRow(row, item) {
  row.classList.toggle('attention', Boolean(item.attention));
  row.classList.toggle('unassigned', !item.attention && Boolean(item.unassigned));
  const minutes = minutesSince(item.since);
  const waiting = row.querySelector('.waiting');
  setText(waiting, minutes === null ? '' : `${minutes} min`);
  waiting.classList.toggle('waiting-long', minutes !== null && minutes >= LONG_WAIT_MIN);
  setText(row.querySelector('.destination'), item.destination);

  // The workflow, linked into the Temporal UI when the board names one; rebuilt only when the
  // link changes, so that a live update never takes the focus off it.
  const workflow = row.querySelector('.workflow');
  const link = temporalLink(`workflows/${encodeURIComponent(item.workflowId)}`, item.workflowId,
    `Workflow ${item.workflowId} in the Temporal UI (opens in a new tab)`);
  const signature = link ? link.getAttribute('href') : 'text:' + item.workflowId;
  if (workflow.dataset.signature !== signature) {
    workflow.dataset.signature = signature;
    workflow.replaceChildren(link || item.workflowId);
  }

  setText(row.querySelector('.restaurant .name'), restaurantLabel(item));
  setText(row.querySelector('.zone'), item.zone ? `zone ${item.zone}` : '');
  setText(row.querySelector('.rider'), item.riderId || '—');
  const status = row.querySelector('.status');
  status.className = 'status ' + item.status;
  setText(status, item.status);
  const flag = row.querySelector('.flag');
  // What needs a person, in words (a reason for attention names the failure behind it).
  let text = '';
  if (item.attention) text = `Needs attention: ${item.attention}`;
  else if (item.unassigned) text = 'Unassigned: no rider took the call';
  else if (item.failureReason) text = `Could not deliver: ${failureLabel(item.failureReason)}`;
  setText(flag, text);
  flag.className = 'flag' + (item.attention ? ' attention' : item.unassigned ? ' unassigned' : '');
  setText(row.querySelector('.fee'), money(item.cost));

  const to = `the delivery to ${item.destination}`;
  const assign = row.querySelector('.assign');
  const verb = item.status === 'Called' ? 'Assign' : 'Reassign';
  assign.hidden = !REASSIGNABLE.has(item.status);
  setText(assign, verb);
  assign.setAttribute('aria-label', `${verb} ${to}`);
  const cancel = row.querySelector('.cancel');
  cancel.hidden = !CANCELLABLE.has(item.status);
  cancel.setAttribute('aria-label', `Cancel ${to}`);
  const resolve = row.querySelector('.resolve');
  resolve.hidden = !item.attention;
  resolve.setAttribute('aria-label', `Resolve ${to}`);
}

function renderFleet() {
  const riders = [...fleet].sort((a, b) => Number(b.online) - Number(a.online) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  reconcile($('fleet').tBodies[0], riders, (r) => r.id, createFleetRow, updateFleetRow);
  $('fleet').hidden = !riders.length;
  $('fleet-empty').hidden = !fleetRead || riders.length > 0;
  const online = riders.filter((r) => r.online).length;
  setText($('fleet-count'), fleetRead ? `(${online} online of ${riders.length})` : '');
  if ($('assign-dialog').open) fillRiderChoice();
}

function createFleetRow() {
  return el('tr', {},
    el('td', { 'data-label': 'Rider', class: 'who' }, el('span', { class: 'name' }), el('span', { class: 'sub muted' })),
    el('td', { 'data-label': 'Availability' }, el('span', { class: 'status availability' })),
    el('td', { 'data-label': 'Zones', class: 'zones' }),
    el('td', { 'data-label': 'Holding', class: 'holding' }),
    el('td', { 'data-label': 'Active deliveries', class: 'active' }),
    el('td', { 'data-label': 'Last assigned', class: 'time last' }));
}

function updateFleetRow(row, rider) {
  setText(row.querySelector('.name'), rider.name || rider.id);
  setText(row.querySelector('.sub'), rider.name ? rider.id : '');
  const availability = row.querySelector('.availability');
  availability.className = 'status availability ' + (rider.online ? 'Online' : 'Offline');
  setText(availability, rider.online ? 'Online' : 'Offline');
  setText(row.querySelector('.zones'), zonesText(rider.zones));
  const active = Array.isArray(rider.active) ? rider.active : [];
  const holding = row.querySelector('.holding');
  setText(holding, `${active.length} of ${rider.capacity}`);
  holding.classList.toggle('waiting-long', active.length >= rider.capacity);
  setText(row.querySelector('.active'), active.length ? active.join(', ') : '—');
  setText(row.querySelector('.last'), rider.lastAssignedAt ? dateTime(rider.lastAssignedAt) : '—');
}

/** How many deliveries a rider of the fleet holds. */
function held(rider) {
  return Array.isArray(rider.active) ? rider.active.length : 0;
}

function zonesText(zones) {
  return Array.isArray(zones) && zones.length ? zones.join(', ') : 'Every zone';
}

// ---------------------------------------------------------------------------------------
// Dialogs: assign, cancel, resolve, edit an account, and yes/no confirmations.

/** Which element opened each dialog: the focus goes back to it when the dialog closes, unless
 * it is KEEP_FOCUS (the page moved the focus elsewhere itself). */
const openers = new WeakMap();
const KEEP_FOCUS = 'keep';

function openDialog(dialog, opener, focus) {
  openers.set(dialog, opener);
  for (const error of dialog.querySelectorAll('.notice')) notify(error, '');
  refreshActions(dialog);
  dialog.showModal();
  if (focus) focus.focus();
}

for (const dialog of document.querySelectorAll('dialog')) {
  dialog.addEventListener('close', () => {
    const opener = openers.get(dialog);
    if (opener === KEEP_FOCUS) return;
    // The row may have gone meanwhile (the delivery moved on): then back to the tab's panel.
    if (opener && opener.isConnected && !opener.hidden && opener.offsetParent !== null) opener.focus();
    else if (!$('console').hidden) $('panel-' + tab).focus();
  });
  // Escape does not leave a request half-watched: while one is under way the dialog stays.
  dialog.addEventListener('cancel', (event) => {
    if (dialog.querySelector('button[data-busy="true"]')) event.preventDefault();
  });
  for (const button of dialog.querySelectorAll('[data-close]')) button.addEventListener('click', () => dialog.close());
}

/** "Gangnam Kitchen (r-1) · 20,000 KRW · Picked by rider-7 · delivery 0199…" */
function describe(item) {
  const who = item.riderId ? ` by ${item.riderId}` : '';
  return `${restaurantLabel(item)} · ${money(item.cost)} · ${item.status}${who} · delivery ${item.deliveryId}`;
}

/** Runs a dialog's request with its confirm button busy; resolves to the answer, or null when
 * the page signed out or in again meanwhile. */
async function send(button, busyText, method, path, body, options) {
  const gen = generation;
  busyButton(button, true, busyText);
  const res = await api(method, path, body, options);
  busyButton(button, false);
  if (gen !== generation || res.status === 401) return null;
  return res;
}

/** The outcome of a delivery action, on the page: closes the dialog and says so, or shows the
 * API's refusal in the dialog. */
function settleAction(dialog, res, done, failed) {
  if (!res) return;
  if (res.ok) {
    dialog.close();
    notify($('message'), done);
    if (poller) poller.refresh();
  } else {
    notify(dialog.querySelector('[role="alert"]'), `${failed}: ${sentence(res.data.message)}`, 'error',
      { clear: 0, offline: res.status === 0 });
  }
}

function openAssign(item, opener) {
  acting.item = item;
  const verb = item.status === 'Called' ? 'Assign' : 'Reassign';
  setText($('assign-title'), `${verb} the delivery to ${item.destination}`);
  setText($('assign-what'), describe(item));
  setText($('assign-confirm'), verb);
  $('assign-confirm').dataset.idleText = verb;
  $('assign-reason').value = '';
  $('assign-rider').value = '';
  fillRiderChoice();
  openDialog($('assign-dialog'), opener, $('assign-rider'));
}

/** The riders a delivery may go to: those with a free place (online or not: an assignment
 * needs a place, not a rider online), online first, then the least busy. */
function fillRiderChoice() {
  const item = acting.item;
  const select = $('assign-rider');
  const free = fleet
    .filter((r) => held(r) < r.capacity && !(item && r.id === item.riderId))
    .sort((a, b) => Number(b.online) - Number(a.online) || held(a) - held(b) || (a.id < b.id ? -1 : 1));
  const options = free.length
    ? free.map((r) => ({
      value: r.id,
      text: `${accountLabel(r)} · holds ${held(r)} of ${r.capacity}${r.online ? '' : ' · offline'}`,
    }))
    : [{ value: '', text: fleetRead ? 'No rider has a free place' : 'Loading the riders…' }];
  const chosen = select.value;
  reconcile(select, options, (o) => 'rider:' + o.value, (o) => el('option', { value: o.value }), (node, o) => setText(node, o.text));
  if (chosen && free.some((r) => r.id === chosen)) select.value = chosen;
  select.disabled = !free.length;
}

$('assign-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const item = acting.item;
  const riderId = $('assign-rider').value;
  const dialog = $('assign-dialog');
  if (!item || $('assign-confirm').disabled) return;
  if (!riderId) {
    notify($('assign-error'), 'Choose a rider with a free place.', 'error', { clear: 0 });
    return;
  }
  const reason = $('assign-reason').value.trim();
  const rider = fleet.find((r) => r.id === riderId);
  const who = rider ? accountLabel(rider) : riderId;
  const verb = item.status === 'Called' ? 'Assign' : 'Reassign';
  const res = await send($('assign-confirm'), verb === 'Assign' ? 'Assigning…' : 'Reassigning…', 'POST',
    `/deliveries/${encodeURIComponent(item.deliveryId)}/reassign`, reason ? { riderId, reason } : { riderId });
  settleAction(dialog, res, `The delivery to ${item.destination} is now ${who}'s.`,
    `Could not ${verb.toLowerCase()} the delivery to ${item.destination} to ${who}`);
});

function openCancel(item, opener) {
  acting.item = item;
  setText($('cancel-title'), `Cancel the delivery to ${item.destination}?`);
  setText($('cancel-what'), `${describe(item)}. Its fee goes back to the restaurant.`);
  $('cancel-reason').value = '';
  clearFieldErrors({ reason: 'cancel-reason' });
  openDialog($('cancel-dialog'), opener, $('cancel-reason'));
}

$('cancel-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const item = acting.item;
  if (!item || $('cancel-confirm').disabled) return;
  clearFieldErrors({ reason: 'cancel-reason' });
  const reason = $('cancel-reason').value.trim();
  if (!reason) {
    showFieldErrors({ reason: 'cancel-reason' }, [{ field: 'reason', message: 'Enter why the delivery is cancelled.' }]);
    return;
  }
  const res = await send($('cancel-confirm'), 'Cancelling…', 'POST',
    `/deliveries/${encodeURIComponent(item.deliveryId)}/cancel`, { reason });
  if (res && !res.ok && showFieldError({ reason: 'cancel-reason' }, res.data)) return;
  const failed = res && res.status === 409 ? `Too late to cancel the delivery to ${item.destination}`
    : `Could not cancel the delivery to ${item.destination}`;
  settleAction($('cancel-dialog'), res, `Cancelled the delivery to ${item.destination}; its fee is voided.`, failed);
});

function openResolve(item, opener) {
  acting.item = item;
  setText($('resolve-title'), `Resolve the delivery to ${item.destination}`);
  setText($('resolve-what'), `${describe(item)}. Needs attention: ${item.attention}`);
  $('resolve-form').elements.outcome.value = 'settle';
  $('resolve-note').value = '';
  clearFieldErrors({ note: 'resolve-note' });
  openDialog($('resolve-dialog'), opener, $('resolve-form').querySelector('input[name="outcome"]:checked'));
}

const OUTCOME_DONE = {
  settle: 'settled: the rider is paid and the restaurant billed',
  void: 'voided: the fee goes back to the restaurant',
  retry: 'sent to retry the step that failed',
};

$('resolve-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const item = acting.item;
  if (!item || $('resolve-confirm').disabled) return;
  clearFieldErrors({ note: 'resolve-note' });
  const outcome = $('resolve-form').elements.outcome.value;
  const note = $('resolve-note').value.trim();
  const res = await send($('resolve-confirm'), 'Resolving…', 'POST',
    `/deliveries/${encodeURIComponent(item.deliveryId)}/resolve`, note ? { outcome, note } : { outcome });
  if (res && !res.ok && showFieldError({ note: 'resolve-note' }, res.data)) return;
  settleAction($('resolve-dialog'), res, `The delivery to ${item.destination} is ${OUTCOME_DONE[outcome]}.`,
    `Could not resolve the delivery to ${item.destination}`);
});

/** Asks "yes or no" about `title`; `run(button)` does it and resolves to true once done. */
function confirmAction({ title, what, yes, opener, run }) {
  acting.confirm = run;
  setText($('confirm-title'), title);
  setText($('confirm-what'), what);
  const button = $('confirm-yes');
  button.dataset.idleText = yes;
  setText(button, yes);
  // A destructive question starts on its safe answer.
  openDialog($('confirm-dialog'), opener, $('confirm-dialog').querySelector('[data-close]'));
}

$('confirm-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!acting.confirm || $('confirm-yes').disabled) return;
  if (await acting.confirm($('confirm-yes'))) $('confirm-dialog').close();
});

// ---------------------------------------------------------------------------------------
// Accounts.

async function loadAccounts({ more = false } = {}) {
  const gen = generation;
  const roleGen = accounts.roleGeneration;
  const query = new URLSearchParams({ role: accounts.role, limit: String(ACCOUNTS_PAGE) });
  if (more && accounts.cursor) query.set('cursor', accounts.cursor);
  const button = $('accounts-more');
  if (more) busyButton(button, true, 'Loading…');
  const res = await api('GET', '/accounts?' + query);
  if (more) busyButton(button, false);
  if (gen !== generation || roleGen !== accounts.roleGeneration || res.status === 401) return;
  if (!res.ok) {
    notify($('accounts-message'), 'Could not read the accounts: ' + sentence(res.data.message), 'error',
      { offline: res.status === 0 });
    return;
  }
  const page = Array.isArray(res.data.items) ? res.data.items : [];
  const cursor = nextCursor(res.data);
  if (more) {
    mergeAccounts(page);
    accounts.cursor = cursor;
    accounts.paged = true;
  } else {
    // The first page read again replaces what it covers; what lies beyond it (pages loaded
    // with "Load more", an account just created) stays, unless the first page is all there is.
    const last = page.length ? page[page.length - 1].id : '';
    const beyond = cursor ? accounts.items.filter((a) => a.id > last) : [];
    accounts.items = [];
    mergeAccounts([...page, ...beyond]);
    if (!accounts.paged || !cursor) {
      accounts.cursor = cursor;
      accounts.paged = false;
    }
  }
  accounts.read = true;
  renderAccounts();
}

/** Adds accounts to the list (one read again replaces its older copy), in id order as the API
 * lists them. */
function mergeAccounts(list) {
  const byId = new Map(accounts.items.map((a) => [a.id, a]));
  for (const account of list) if (account.role === accounts.role) byId.set(account.id, account);
  accounts.items = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function renderAccounts() {
  for (const button of document.querySelectorAll('[data-role]')) {
    button.setAttribute('aria-pressed', String(button.dataset.role === accounts.role));
  }
  reconcile($('accounts').tBodies[0], accounts.items, (a) => a.id, createAccountRow, updateAccountRow);
  $('accounts').hidden = !accounts.items.length;
  $('accounts-empty').hidden = !accounts.read || accounts.items.length > 0;
  $('accounts-more').hidden = !accounts.cursor;
  refreshActions($('console'));
}

function createAccountRow() {
  const edit = el('button', { type: 'button', class: 'small neutral edit', 'data-action': true }, 'Edit');
  const rotate = el('button', { type: 'button', class: 'small neutral rotate', 'data-action': true }, 'New secret');
  const remove = el('button', { type: 'button', class: 'small secondary delete', 'data-action': true }, 'Delete');
  const row = el('tr', {},
    el('td', { 'data-label': 'Account', class: 'who' }, el('span', { class: 'name' }), el('span', { class: 'sub muted' })),
    el('td', { 'data-label': 'Settings', class: 'settings' }),
    el('td', { 'data-label': 'Created', class: 'time created' }),
    el('td', { class: 'actions' }, el('div', { class: 'row-actions' }, edit, rotate, remove)));
  const account = () => accounts.items.find((a) => a.id === row.dataset.key);
  edit.addEventListener('click', () => { if (account()) openEdit(account(), edit); });
  rotate.addEventListener('click', () => { if (account()) askRotate(account(), rotate); });
  remove.addEventListener('click', () => { if (account()) askDelete(account(), remove); });
  return row;
}

/** What an account's role sets, in words. */
function settingsText(account) {
  if (account.role === 'restaurant') {
    const mode = account.dispatchMode === 'offer' ? 'offers one rider at a time' : 'broadcasts its calls';
    return `Zone ${account.zone} · ${mode} · commission ${(Number(account.commissionBps) / 100).toLocaleString('en-US')}% `
      + `· pickup at ${account.pickupAddress}`;
  }
  if (account.role === 'rider') return `Zones: ${zonesText(account.zones)} · up to ${account.capacity} at once`;
  return account.external ? 'Signs in at the external provider' : '—';
}

function updateAccountRow(row, account) {
  const label = accountLabel(account);
  setText(row.querySelector('.name'), account.name || account.id);
  setText(row.querySelector('.sub'), account.name ? account.id : '');
  setText(row.querySelector('.settings'), settingsText(account) + (account.external && account.role !== 'operator' ? ' · external sign-in' : ''));
  setText(row.querySelector('.created'), dateTime(account.createdAt));
  const edit = row.querySelector('.edit');
  edit.hidden = account.role === 'operator';
  edit.setAttribute('aria-label', `Edit ${label}`);
  const rotate = row.querySelector('.rotate');
  rotate.hidden = Boolean(account.external);
  rotate.setAttribute('aria-label', `New secret for ${label}`);
  const remove = row.querySelector('.delete');
  // An operator cannot delete its own account (the API refuses it too).
  remove.hidden = Boolean(session() && session().account.id === account.id);
  remove.setAttribute('aria-label', `Delete ${label}`);
}

function chooseRole(role) {
  if (accounts.role === role) return;
  accounts.role = role;
  accounts.roleGeneration += 1;
  accounts.items = [];
  accounts.cursor = null;
  accounts.paged = false;
  accounts.read = false;
  notify($('accounts-message'), '');
  renderAccounts();
  loadAccounts();
}

for (const button of document.querySelectorAll('[data-role]')) {
  button.addEventListener('click', () => chooseRole(button.dataset.role));
}
$('accounts-more').addEventListener('click', () => loadAccounts({ more: true }));

/** The zones typed in a field: separated by commas or spaces. */
function zonesOf(text) {
  return text.split(/[\s,]+/).map((z) => z.trim()).filter(Boolean);
}

/** A whole number typed with optional thousands separators ("-3,000"), or null. */
function wholeNumber(text) {
  const plain = text.trim().replace(/[\s,_]/g, '').replace(/^[−–]/, '-');
  return /^[+-]?\d+$/.test(plain) ? Number(plain) : null;
}

function showRoleFields() {
  const role = $('new-role').value;
  $('new-restaurant').hidden = role !== 'restaurant';
  $('new-rider').hidden = role !== 'rider';
}
$('new-role').addEventListener('change', () => {
  clearFieldErrors(CREATE_FIELDS);
  showRoleFields();
});

/** The create form's own checks, all at once: {errors, body}. */
function checkNewAccount() {
  const role = $('new-role').value;
  const errors = [];
  const body = { role, name: $('new-name').value.trim() };
  const id = $('new-id').value.trim();
  if (id) body.id = id;
  if (!body.name) errors.push({ field: 'name', message: 'Enter a name.' });
  if (role === 'restaurant') {
    body.pickupAddress = $('new-pickup').value.trim();
    body.zone = $('new-zone').value.trim();
    body.dispatchMode = $('new-dispatch-mode').value;
    if (!body.pickupAddress) errors.push({ field: 'pickupAddress', message: 'Enter the pickup address.' });
    if (!body.zone) errors.push({ field: 'zone', message: 'Enter the zone.' });
    const commission = $('new-commission').value.trim();
    if (commission) {
      const bps = wholeNumber(commission);
      if (bps === null || bps < 0 || bps > MAX_COMMISSION_BPS) {
        errors.push({ field: 'commissionBps', message: 'Commission must be a whole number of basis points from 0 to 10000.' });
      } else body.commissionBps = bps;
    }
  } else if (role === 'rider') {
    body.zones = zonesOf($('new-zones').value);
    body.capacity = Number($('new-capacity').value);
  }
  return { errors, body };
}

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('create-button');
  if (button.disabled) return;
  clearFieldErrors(CREATE_FIELDS);
  notify($('create-result'), '');
  const { errors, body } = checkNewAccount();
  if (errors.length) {
    showFieldErrors(CREATE_FIELDS, errors);
    return;
  }
  const gen = generation;
  busyButton(button, true, 'Creating…');
  const res = await api('POST', '/accounts', body);
  busyButton(button, false);
  if (gen !== generation || res.status === 401) return;
  if (res.status === 201) {
    const account = res.data;
    notify($('create-result'), `Created the ${account.role} account ${accountLabel(account)}.`);
    for (const id of ['new-id', 'new-name', 'new-pickup', 'new-zone', 'new-commission', 'new-zones']) $(id).value = '';
    if (account.role === accounts.role) {
      mergeAccounts([account]);
      renderAccounts();
    }
    if (account.secret) showSecret(account, account.secret);
    if (account.role === 'rider' && poller) poller.refresh();
  } else if (!showFieldError(CREATE_FIELDS, res.data)) {
    notify($('create-result'), 'Could not create the account: ' + sentence(res.data.message), 'error',
      { clear: 0, offline: res.status === 0 });
  }
});

function openEdit(account, opener) {
  acting.account = account;
  setText($('edit-title'), `Edit ${accountLabel(account)}`);
  const restaurant = account.role === 'restaurant';
  $('edit-restaurant').hidden = !restaurant;
  $('edit-rider').hidden = account.role !== 'rider';
  clearFieldErrors(EDIT_FIELDS);
  if (restaurant) {
    $('edit-dispatch-mode').value = account.dispatchMode || 'broadcast';
    $('edit-commission').value = String(account.commissionBps ?? '');
  } else {
    $('edit-zones').value = (account.zones || []).join(', ');
    $('edit-capacity').value = String(account.capacity || 3);
  }
  openDialog($('edit-dialog'), opener, restaurant ? $('edit-dispatch-mode') : $('edit-zones'));
}

$('edit-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const account = acting.account;
  if (!account || $('edit-confirm').disabled) return;
  clearFieldErrors(EDIT_FIELDS);
  let body;
  if (account.role === 'restaurant') {
    const bps = wholeNumber($('edit-commission').value);
    if (bps === null || bps < 0 || bps > MAX_COMMISSION_BPS) {
      showFieldErrors(EDIT_FIELDS, [{ field: 'commissionBps', message: 'Commission must be a whole number of basis points from 0 to 10000.' }]);
      return;
    }
    body = { dispatchMode: $('edit-dispatch-mode').value, commissionBps: bps };
  } else {
    body = { zones: zonesOf($('edit-zones').value), capacity: Number($('edit-capacity').value) };
  }
  const res = await send($('edit-confirm'), 'Saving…', 'PATCH', `/accounts/${encodeURIComponent(account.id)}`, body);
  if (!res) return;
  if (res.ok) {
    mergeAccounts([res.data]);
    renderAccounts();
    $('edit-dialog').close();
    notify($('accounts-message'), `Saved ${accountLabel(res.data)}: ${settingsText(res.data)}.`);
    if (account.role === 'rider' && poller) poller.refresh();
  } else if (!showFieldError(EDIT_FIELDS, res.data)) {
    notify($('edit-error'), `Could not save ${accountLabel(account)}: ${sentence(res.data.message)}`, 'error',
      { clear: 0, offline: res.status === 0 });
  }
});

function askRotate(account, opener) {
  const label = accountLabel(account);
  confirmAction({
    title: `Make a new secret for ${label}?`,
    what: 'The current secret stops working at once, and what is signed in with it within a minute.',
    yes: 'Make a new secret',
    opener,
    run: async (button) => {
      const res = await send(button, 'Making…', 'POST', `/accounts/${encodeURIComponent(account.id)}/secret`);
      if (!res) return false;
      if (!res.ok) {
        notify($('confirm-error'), `Could not make a new secret for ${label}: ${sentence(res.data.message)}`, 'error',
          { clear: 0, offline: res.status === 0 });
        return false;
      }
      openers.set($('confirm-dialog'), KEEP_FOCUS); // the focus goes to the secret instead
      $('confirm-dialog').close();
      showSecret(account, res.data.secret);
      return false;
    },
  });
}

function askDelete(account, opener) {
  const label = accountLabel(account);
  confirmAction({
    title: `Delete ${label}?`,
    what: `It can no longer sign in, what is signed in stops within a minute, and the id ${account.id} is never given `
      + 'out again. Its deliveries and money stay.',
    yes: 'Delete account',
    opener,
    run: async (button) => {
      const res = await send(button, 'Deleting…', 'DELETE', `/accounts/${encodeURIComponent(account.id)}`);
      if (!res) return false;
      if (!res.ok && res.status !== 404) {
        notify($('confirm-error'), `Could not delete ${label}: ${sentence(res.data.message)}`, 'error',
          { clear: 0, offline: res.status === 0 });
        return false;
      }
      accounts.items = accounts.items.filter((a) => a.id !== account.id);
      // The row and its button are gone: the focus goes to the list's heading.
      openers.set($('confirm-dialog'), KEEP_FOCUS);
      $('confirm-dialog').close();
      renderAccounts();
      notify($('accounts-message'), `Deleted ${label}.`);
      $('panel-accounts').focus();
      if (account.role === 'rider' && poller) poller.refresh();
      return true;
    },
  });
}

// A secret shows once, in a panel of its own, until the operator hides it.
function showSecret(account, secret) {
  setText($('secret-title'), `Secret of ${accountLabel(account)}`);
  setText($('secret-value'), secret);
  notify($('secret-copied'), '');
  $('secret-panel').hidden = false;
  $('secret-title').focus();
}

function hideSecret() {
  setText($('secret-value'), '');
  $('secret-panel').hidden = true;
}

$('secret-copy').addEventListener('click', async () => {
  const secret = $('secret-value').textContent;
  try {
    await navigator.clipboard.writeText(secret);
    notify($('secret-copied'), 'Copied to the clipboard.');
  } catch {
    // No clipboard here (an insecure origin, or permission refused): select it for Ctrl+C.
    window.getSelection().selectAllChildren($('secret-value'));
    notify($('secret-copied'), 'This browser did not let the page copy it: the secret is selected, press Ctrl+C.', 'warn');
  }
});
$('secret-done').addEventListener('click', () => {
  hideSecret();
  $('create-title').focus();
});

// ---------------------------------------------------------------------------------------
// Money: adjustments and the runs.

/** The adjustment form's own checks, all at once: {errors, body}. */
function checkAdjustment() {
  const errors = [];
  const id = $('adj-account').value.trim();
  const amount = wholeNumber($('adj-amount').value);
  const reason = $('adj-reason').value.trim();
  const deliveryId = $('adj-delivery').value.trim();
  if (!id) errors.push({ field: 'account', message: 'Enter the account id.' });
  if (!$('adj-amount').value.trim()) errors.push({ field: 'amount', message: 'Enter the amount.' });
  else if (amount === null || amount === 0) errors.push({ field: 'amount', message: 'Amount must be a whole number of won other than 0.' });
  if (!reason) errors.push({ field: 'reason', message: 'Enter the reason.' });
  const body = { account: { role: $('adj-role').value, id }, amount, reason };
  if (deliveryId) body.deliveryId = deliveryId;
  return { errors, body };
}

$('adjust-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('adjust-button');
  if (button.disabled) return;
  clearFieldErrors(ADJUST_FIELDS);
  notify($('adjust-result'), '');
  const { errors, body } = checkAdjustment();
  if (errors.length) {
    showFieldErrors(ADJUST_FIELDS, errors);
    return;
  }
  // One key per submitted adjustment; the same key only to retry the same one after no
  // definite answer, so that the API books it once.
  const request = JSON.stringify(body);
  const key = pendingAdjustment && pendingAdjustment.request === request ? pendingAdjustment.key : idempotencyKey();
  const gen = generation;
  busyButton(button, true, 'Booking…');
  const res = await api('POST', '/adjustments', body, { headers: { 'idempotency-key': key } });
  busyButton(button, false);
  pendingAdjustment = res.status === 0 || res.status >= 500 ? { key, request } : null;
  if (gen !== generation || res.status === 401) return;
  const whose = `${body.account.role} ${body.account.id}`;
  if (res.ok) {
    const where = body.account.role === 'rider' ? "the rider's statement" : "the restaurant's next invoice";
    notify($('adjust-result'), `Booked ${money(res.data.amount)} for ${whose} (${res.data.reason}); it shows on ${where}.`, '',
      { clear: 0 });
    for (const id of ['adj-amount', 'adj-reason', 'adj-delivery']) $(id).value = '';
  } else if (!showFieldError(ADJUST_FIELDS, res.data)) {
    // Unlike other messages about a lost connection, this one stays once the server is back:
    // the adjustment may or may not be booked until it is sent again.
    const retry = pendingAdjustment ? ' Nothing is lost: send it again; it will not be booked twice.' : '';
    notify($('adjust-result'), `Could not book the adjustment for ${whose}: ${sentence(res.data.message)}${retry}`, 'error',
      { clear: 0 });
  }
});

async function refreshRuns() {
  if (tab !== 'money') return true; // read only while shown
  const gen = generation;
  const res = await api('GET', '/ops/runs');
  if (gen !== generation) return true;
  if (res.ok) {
    runs = res.data;
    notify($('runs-error'), '');
  } else if (res.status !== 0 && res.status !== 401) {
    notify($('runs-error'), 'Could not read the runs: ' + sentence(res.data.message), 'error', { clear: 0 });
  }
  renderRuns();
  return res.ok;
}

function renderRuns() {
  for (const [kind, name] of [['payouts', 'payout'], ['invoices', 'invoice']]) {
    const schedule = runs && runs[kind];
    const list = schedule && Array.isArray(schedule.runs) ? schedule.runs : [];
    reconcile($(`${name}-runs`).tBodies[0], list, (r) => `${r.workflowId}/${r.runId}`, createRunRow, updateRunRow);
    $(`${name}-runs`).hidden = !list.length;
    $(`${name}-runs-empty`).hidden = !runs || list.length > 0;
    const holder = $(`${kind}-schedule`);
    const id = schedule && schedule.scheduleId;
    const link = id ? temporalLink(`schedules/${encodeURIComponent(id)}`, `schedule ${id}`,
      `The ${id} schedule in the Temporal UI (opens in a new tab)`) : null;
    const signature = link ? link.getAttribute('href') : id || '';
    if (holder.dataset.signature !== signature) {
      holder.dataset.signature = signature;
      holder.replaceChildren(...(link ? ['· ', link] : id ? [`· schedule ${id}`] : []));
    }
  }
}

function createRunRow() {
  return el('tr', {},
    el('td', { 'data-label': 'Started', class: 'time started' }),
    el('td', { 'data-label': 'Status' }, el('span', { class: 'status' })),
    el('td', { 'data-label': 'Ended', class: 'time closed' }),
    el('td', { 'data-label': 'Run', class: 'run' }));
}

/** Run statuses as the delivery pills colour them. */
const RUN_LOOK = { Running: 'Picked', Completed: 'Completed', Failed: 'Failed', TimedOut: 'Failed', Terminated: 'Failed', Canceled: 'Cancelled' };

function updateRunRow(row, run) {
  setText(row.querySelector('.started'), dateTime(run.startedAt));
  const status = row.querySelector('.status');
  status.className = 'status ' + (RUN_LOOK[run.status] || '');
  setText(status, run.status);
  setText(row.querySelector('.closed'), run.closedAt ? dateTime(run.closedAt) : '—');
  const cell = row.querySelector('.run');
  const link = temporalLink(`workflows/${encodeURIComponent(run.workflowId)}/${encodeURIComponent(run.runId)}`, run.workflowId,
    `Run ${run.workflowId} started ${dateTime(run.startedAt)} in the Temporal UI (opens in a new tab)`);
  const signature = link ? link.getAttribute('href') : 'text:' + run.workflowId;
  if (cell.dataset.signature !== signature) {
    cell.dataset.signature = signature;
    cell.replaceChildren(link || run.workflowId);
  }
}

// ---------------------------------------------------------------------------------------

$('filter-zone').addEventListener('change', renderBoard);
$('filter-status').addEventListener('change', renderBoard);
$('board-filter').addEventListener('submit', (event) => event.preventDefault());

onConnectionChange(() => refreshActions($('console')));
showRoleFields();
setUpSignIn({ role: 'operator', onSignedIn: open, onSignedOut: close });
