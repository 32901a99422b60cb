// Restaurant console: sign in, call a rider, watch the restaurant's own deliveries, cancel
// before pickup, look back over the deliveries of chosen days, and read the invoices.
//
// The history is GET /delivery-list in pages of PAGE_SIZE rows, newest change first, filtered
// by the UTC days chosen (`from`, `to`): the first page is read every second, the older ones
// when asked for ("Load more", with the page's `nextCursor`); a row read once stays on the page
// until the filter changes, and moves to the top when it changes. Invoices (GET
// /restaurant/invoices, newest first) are read every 10 s; one opens with its lines and
// downloads as CSV.
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
  api, busyButton, clearFieldErrors, clock, createAdjustment, dateTime, download, el, failureLabel, idempotencyKey, listRows, money,
  nextCursor, notify, onConnectionChange, periodText, poll, reconcile, refreshActions, sentence, setText, setUpSignIn,
  updateAdjustment, showFieldError, showFieldErrors, utcDay,
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
/** Deliveries per page of the history. */
const PAGE_SIZE = 20;
/** Invoices per page, and how often the first page is read again. */
const INVOICES_PAGE = 10;
const INVOICES_MS = 10_000;

const $ = (id) => document.getElementById(id);

/** The signed-in restaurant's account {id, name, role}; kept across an expired session so
 * that signing in again as the same restaurant keeps what was on the page. */
let account = null;
/** Bumped on every sign-in and sign-out: answers to requests of an earlier one are dropped. */
let generation = 0;
let poller = null;
/** The rows read so far for the current filter, by id, and the same newest change first. */
const loaded = new Map();
let rows = [];
/** The UTC days the history shows (`YYYY-MM-DD`, null for no bound). */
const filter = { from: null, to: null };
/** Bumped when the filter changes: answers for an earlier one are dropped. */
let filterGeneration = 0;
/** The cursor of the page after those read (null: none, or an API without paging), and whether
 * pages after the first were read ("Load more"); until then the first page's cursor is it. */
let listCursor = null;
let listPaged = false;
/** Invoices read so far, newest first, as for the payouts of the rider app. */
let invoicePoller = null;
let invoices = [];
let invoicesCursor = null;
let invoicesPaged = false;
let invoicesRead = false;
/** The invoice open below the list: its number, and the invoice once read. */
let openNumber = null;
let openInvoice = null;
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
  if (invoicePoller) invoicePoller.stop();
  invoicePoller = poll(refreshInvoices, INVOICES_MS, null, null);
}

function close(reason) {
  generation += 1;
  if (poller) poller.stop();
  poller = null;
  if (invoicePoller) invoicePoller.stop();
  invoicePoller = null;
  $('console').hidden = true;
  if (reason !== 'expired') {
    account = null;
    reset();
  }
}

/** Forgets everything of the previous restaurant: another one may sign in on this tab. */
function reset() {
  loaded.clear();
  rows = [];
  filter.from = null;
  filter.to = null;
  filterGeneration += 1;
  listCursor = null;
  listPaged = false;
  $('history-filter').reset();
  invoices = [];
  invoicesCursor = null;
  invoicesPaged = false;
  invoicesRead = false;
  openNumber = null;
  openInvoice = null;
  known.clear();
  confirming.clear();
  cancelling.clear();
  views.clear();
  reading.clear();
  pendingCall = null;
  $('call-form').reset();
  clearFieldErrors(FIELDS);
  for (const id of ['call-result', 'list-message', 'list-error', 'history-from-error', 'invoices-error', 'invoice-error',
    'invoice-csv-result']) notify($(id), '');
  render();
  renderInvoices();
}

/** `GET /delivery-list` for the filter, from `cursor` (the first page without). */
function listPath(cursor) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (filter.from) query.set('from', filter.from);
  if (filter.to) query.set('to', filter.to);
  if (cursor) query.set('cursor', cursor);
  return '/delivery-list?' + query;
}

/** Whether a row was last changed on one of the filter's days. The API filters so itself; an
 * older API that does not is filtered here. */
function inFilter(row) {
  const day = row.updatedAt ? utcDay(new Date(row.updatedAt)) : utcDay();
  return !(filter.from && day < filter.from) && !(filter.to && day > filter.to);
}

/** Adds rows read to those on the page (a row read again replaces its older copy), newest
 * change first, then by id, as the API orders them. */
function merge(page) {
  for (const row of page) if (inFilter(row)) loaded.set(row.deliveryId, row);
  rows = [...loaded.values()].sort((a, b) => compareInstants(b.updatedAt, a.updatedAt)
    || (a.deliveryId < b.deliveryId ? -1 : a.deliveryId > b.deliveryId ? 1 : 0));
}

/** Orders two RFC 3339 instants to the nanosecond (Date keeps milliseconds only, and rows
 * written within one millisecond are ordered by the API all the same). */
function compareInstants(a, b) {
  const nanos = (iso) => Number((/\.(\d+)/.exec(iso || '') || ['', ''])[1].padEnd(9, '0').slice(3, 9));
  return (Date.parse(a) || 0) - (Date.parse(b) || 0) || nanos(a) - nanos(b);
}

async function refresh() {
  const gen = generation;
  const filtered = filterGeneration;
  const res = await api('GET', listPath());
  if (gen !== generation) return true; // signed out or in again meanwhile
  if (filtered !== filterGeneration) return true; // the filter changed meanwhile: read again
  if (res.ok) {
    merge(listRows(res.data));
    if (!listPaged) listCursor = nextCursor(res.data);
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
  const shown = items.filter(inFilter);
  reconcile($('deliveries').tBodies[0], shown, (row) => row.deliveryId, createRow, updateRow);
  const filtered = Boolean(filter.from || filter.to);
  $('list-empty').hidden = shown.length > 0;
  setText($('list-empty'), filtered ? 'No deliveries changed on these days.' : 'No deliveries yet.');
  setText($('list-count'), shown.length
    ? `Showing ${shown.length} ${shown.length === 1 ? 'delivery' : 'deliveries'}${listCursor ? ' · older ones load on request' : ''}`
    : '');
  $('list-more').hidden = !listCursor;
  $('history-clear').hidden = !filtered;
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
  setText(row.querySelector('.time'), dateTime(delivery.updatedAt));
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
  const key = pendingCall && pendingCall.request === request ? pendingCall.key : idempotencyKey();
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

// ---------------------------------------------------------------------------------------
// The history: which days, and older pages.

/** Shows the deliveries of the days in the filter form, from the first page. */
function applyFilter(from, to) {
  notify($('history-from-error'), '');
  $('history-from').removeAttribute('aria-invalid');
  if (from && to && from > to) {
    $('history-from').setAttribute('aria-invalid', 'true');
    notify($('history-from-error'), 'From must be on or before To.', '', { clear: 0 });
    $('history-from').focus();
    return;
  }
  filter.from = from || null;
  filter.to = to || null;
  filterGeneration += 1;
  loaded.clear();
  rows = [];
  listCursor = null;
  listPaged = false;
  notify($('list-error'), '');
  render();
  if (poller) poller.refresh();
}

async function loadMore() {
  if (!listCursor) return;
  const gen = generation;
  const filtered = filterGeneration;
  const button = $('list-more');
  busyButton(button, true, 'Loading…');
  const res = await api('GET', listPath(listCursor));
  busyButton(button, false);
  if (gen !== generation || filtered !== filterGeneration || res.status === 401) return;
  if (res.ok) {
    merge(listRows(res.data));
    listCursor = nextCursor(res.data);
    listPaged = true;
    notify($('list-error'), '');
    refreshViews(gen);
  } else {
    notify($('list-error'), 'Could not load older deliveries: ' + sentence(res.data.message), 'error',
      { offline: res.status === 0 });
  }
  render();
}

$('history-filter').addEventListener('submit', (event) => {
  event.preventDefault();
  applyFilter($('history-from').value, $('history-to').value);
});
$('history-clear').addEventListener('click', () => {
  $('history-from').value = '';
  $('history-to').value = '';
  applyFilter('', '');
  $('history-from').focus();
});
$('list-more').addEventListener('click', loadMore);

// ---------------------------------------------------------------------------------------
// Invoices.

async function refreshInvoices() {
  const gen = generation;
  const res = await api('GET', `/restaurant/invoices?limit=${INVOICES_PAGE}`);
  if (gen !== generation) return true;
  if (res.ok) {
    const first = Array.isArray(res.data.items) ? res.data.items : [];
    const numbers = new Set(first.map((i) => i.number));
    invoices = [...first, ...invoices.filter((i) => !numbers.has(i.number))];
    if (!invoicesPaged) invoicesCursor = nextCursor(res.data);
    invoicesRead = true;
    notify($('invoices-error'), '');
  } else if (res.status !== 0 && res.status !== 401) {
    notify($('invoices-error'), 'Could not read the invoices: ' + sentence(res.data.message), 'error', { clear: 0 });
  }
  renderInvoices();
  return res.ok;
}

async function loadMoreInvoices() {
  if (!invoicesCursor) return;
  const gen = generation;
  const button = $('invoices-more');
  busyButton(button, true, 'Loading…');
  const res = await api('GET', `/restaurant/invoices?limit=${INVOICES_PAGE}&cursor=${encodeURIComponent(invoicesCursor)}`);
  busyButton(button, false);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) {
    const numbers = new Set(invoices.map((i) => i.number));
    invoices = [...invoices, ...(res.data.items || []).filter((i) => !numbers.has(i.number))];
    invoicesCursor = nextCursor(res.data);
    invoicesPaged = true;
    notify($('invoices-error'), '');
  } else {
    notify($('invoices-error'), 'Could not load more invoices: ' + sentence(res.data.message), 'error',
      { offline: res.status === 0 });
  }
  renderInvoices();
}

function renderInvoices() {
  reconcile($('invoices').tBodies[0], invoices, (i) => i.number, createInvoiceRow, updateInvoiceRow);
  $('invoices').hidden = !invoices.length;
  $('invoices-empty').hidden = invoices.length > 0 || !invoicesRead;
  $('invoices-more').hidden = !invoicesCursor;

  const panel = $('invoice');
  panel.hidden = !openNumber;
  if (openNumber) {
    const invoice = openInvoice && openInvoice.number === openNumber ? openInvoice : null;
    const header = invoice || invoices.find((i) => i.number === openNumber);
    setText($('invoice-title'), `Invoice ${openNumber}`);
    setText($('invoice-period'), header
      ? `For ${periodText(header.period, header.periodStart, header.periodEnd)} · issued ${dateTime(header.issuedAt)}`
        + (invoice ? '' : ' · loading…')
      : 'Loading…');
    const lines = invoice ? invoice.lines : [];
    reconcile($('invoice-lines').tBodies[0], lines, (l) => l.deliveryId, createInvoiceLine, updateInvoiceLine);
    $('invoice-lines').hidden = !lines.length;
    $('invoice-no-lines').hidden = !invoice || lines.length > 0;
    const adjustments = invoice ? invoice.adjustments : [];
    reconcile($('invoice-adjustments').tBodies[0], adjustments, (a) => a.id, createAdjustment, updateAdjustment);
    $('invoice-adjustments-block').hidden = !adjustments.length;
    setText($('invoice-total'), header ? money(header.total) : '');
    $('invoice-csv').setAttribute('aria-label', `Download invoice ${openNumber} as CSV`);
  }
  refreshActions($('console'));
}

function createInvoiceRow() {
  const view = el('button', { type: 'button', class: 'neutral view' }, 'View');
  const row = el('tr', {},
    el('td', { 'data-label': 'Number', class: 'number' }),
    el('td', { 'data-label': 'Period', class: 'period' }),
    el('td', { 'data-label': 'Total', class: 'num total' }),
    el('td', { 'data-label': 'Issued', class: 'issued' }),
    el('td', { class: 'actions' }, view));
  view.addEventListener('click', () => showInvoice(row.dataset.key));
  return row;
}

function updateInvoiceRow(row, invoice) {
  setText(row.querySelector('.number'), invoice.number);
  setText(row.querySelector('.period'), periodText(invoice.period, invoice.periodStart, invoice.periodEnd));
  setText(row.querySelector('.total'), money(invoice.total));
  setText(row.querySelector('.issued'), dateTime(invoice.issuedAt));
  row.classList.toggle('open-invoice', invoice.number === openNumber);
  const view = row.querySelector('.view');
  view.setAttribute('aria-label', `View invoice ${invoice.number}`);
  view.setAttribute('aria-expanded', String(invoice.number === openNumber));
  view.setAttribute('aria-controls', 'invoice');
}

function createInvoiceLine() {
  return el('tr', {},
    el('td', { 'data-label': 'Completed', class: 'time' }),
    el('td', { 'data-label': 'Delivery', class: 'what' }, el('span', { class: 'destination' }),
      el('span', { class: 'sub muted' })),
    el('td', { 'data-label': 'Fee', class: 'num cost' }));
}

function updateInvoiceLine(row, line) {
  setText(row.querySelector('.time'), dateTime(line.completedAt));
  // The history knows where a delivery went when it is on the page; else its id says which.
  const listed = loaded.get(line.deliveryId);
  setText(row.querySelector('.destination'), listed ? listed.destination : line.deliveryId);
  setText(row.querySelector('.sub'), listed ? line.deliveryId : '');
  setText(row.querySelector('.cost'), money(line.cost));
}

/** Opens an invoice below the list with its lines (an invoice never changes once issued). */
async function showInvoice(number) {
  const gen = generation;
  openNumber = number;
  if (!openInvoice || openInvoice.number !== number) openInvoice = null;
  notify($('invoice-error'), '');
  notify($('invoice-csv-result'), '');
  renderInvoices();
  $('invoice-title').focus();
  if (openInvoice) return;
  const res = await api('GET', `/restaurant/invoices/${encodeURIComponent(number)}`);
  if (gen !== generation || openNumber !== number || res.status === 401) return;
  if (res.ok) openInvoice = res.data;
  else {
    notify($('invoice-error'), `Could not read invoice ${number}: ${sentence(res.data.message)}`, 'error',
      { offline: res.status === 0 });
  }
  renderInvoices();
}

async function downloadInvoice() {
  const number = openNumber;
  if (!number) return;
  const gen = generation;
  const button = $('invoice-csv');
  busyButton(button, true, 'Downloading…');
  notify($('invoice-csv-result'), '');
  const res = await download(`/restaurant/invoices/${encodeURIComponent(number)}`,
    { accept: 'text/csv', filename: `invoice-${number}.csv` });
  busyButton(button, false);
  if (gen !== generation || res.status === 401) return;
  if (res.ok) notify($('invoice-csv-result'), `Downloaded ${res.data.filename}.`);
  else {
    notify($('invoice-csv-result'), `Could not download invoice ${number}: ${sentence(res.data.message)}`, 'error',
      { offline: res.status === 0 });
  }
}

$('invoices-more').addEventListener('click', loadMoreInvoices);
$('invoice-csv').addEventListener('click', downloadInvoice);
$('invoice-close').addEventListener('click', () => {
  const number = openNumber;
  openNumber = null;
  renderInvoices();
  const row = [...$('invoices').tBodies[0].children].find((r) => r.dataset.key === number);
  if (row) row.querySelector('.view').focus();
});

onConnectionChange(() => refreshActions($('console')));
setUpSignIn({ role: 'restaurant', onSignedIn: open, onSignedOut: close });
