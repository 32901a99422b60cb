// Helpers shared by the restaurant console, the rider app and the control room: calling the
// API (signed in, with a timeout), the sign-in form and the session of the tab, whether the
// server is reachable, live polling, and the DOM.
// Every piece of data reaches the page as text (textContent, setAttribute), never as markup.

/** How long a request may take before the page gives up on it and shows it is offline. */
const TIMEOUT_MS = 8000;

// ---------------------------------------------------------------------------------------
// The session: the signed-in account of this tab.

/** sessionStorage key: the token lives only as long as the tab, never in localStorage. */
const SESSION_KEY = 'delivery.session';

/** {token, expiresAt (ms), account: {id, name, role}} or null. */
let current = readSession();
/** Called with the reason ('expired') and the account when the API refuses the session's
 * token (401). */
let onUnauthorized = null;

function readSession() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    if (stored && typeof stored.token === 'string' && stored.account && typeof stored.account.id === 'string') return stored;
  } catch { /* storage unavailable or garbled: signed out */ }
  return null;
}

function saveSession(session) {
  current = session;
  try {
    if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    else sessionStorage.removeItem(SESSION_KEY);
  } catch { /* private mode: the session lasts as long as the page */ }
}

/** The signed-in session of this tab, or null. */
export function session() {
  return current;
}

/** "Gangnam Kitchen (r-1)", or the id alone for an account without a name. */
export function accountLabel(account) {
  return account.name && account.name !== account.id ? `${account.name} (${account.id})` : account.id;
}

// ---------------------------------------------------------------------------------------
// The connection: whether the server answers at all.

let online = true;
const connectionListeners = new Set();

function setOnline(value) {
  if (online === value) return;
  online = value;
  for (const listener of connectionListeners) listener(value);
}

/** False from a request that got no answer (no connection, or none within the timeout)
 * until the next one that does. */
export function isOnline() {
  return online;
}

/** Calls `listener(online)` whenever the server stops or starts answering. */
export function onConnectionChange(listener) {
  connectionListeners.add(listener);
}

// ---------------------------------------------------------------------------------------
// Calling the API.

/**
 * Calls the API; never throws. Resolves to {ok, status, data}; data is the JSON body, or for
 * errors the contract's {code, message, field}. No answer (no connection, or none within
 * `timeoutMs`) has status 0. When signed in the request carries the bearer token; a 401 to
 * it ends the session (the page goes back to its sign-in form). `body` is sent as JSON, or as
 * a form when it is URLSearchParams. Options: headers, timeoutMs, token (one of its own
 * instead of the session's), blob (a successful answer's body is read as a Blob, not JSON;
 * `response` is the Response then, for its headers).
 */
export async function api(method, path, body, options = {}) {
  const own = 'token' in options; // a token of its own, not the session's
  const token = own ? options.token : current && current.token;
  const headers = { accept: 'application/json', ...(options.headers || {}) };
  if (token) headers.authorization = 'Bearer ' + token;
  const init = { method, headers, cache: 'no-store' };
  if (body instanceof URLSearchParams) {
    init.body = body; // fetch sends it as application/x-www-form-urlencoded
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const timeoutMs = options.timeoutMs || TIMEOUT_MS;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  init.signal = controller.signal;

  let response;
  let data = null;
  try {
    response = await fetch(path, init);
    try {
      // A file (options.blob) is read as it is; an error about it is JSON all the same.
      data = options.blob && response.ok ? await response.blob() : await response.json();
    } catch {
      if (controller.signal.aborted) throw new Error('timeout');
      data = null;
    }
  } catch {
    setOnline(false);
    const message = controller.signal.aborted
      ? `the server did not answer within ${Math.round(timeoutMs / 1000)} seconds`
      : 'no connection to the server';
    return { ok: false, status: 0, data: { code: controller.signal.aborted ? 'timeout' : 'network', message } };
  } finally {
    clearTimeout(timer);
  }
  setOnline(true);

  if (!response.ok) data = errorBody(response, data);
  if (options.blob && response.ok) return { ok: true, status: response.status, data, response };
  if (response.status === 401 && !own && token && current && current.token === token) {
    const ended = current;
    saveSession(null);
    if (onUnauthorized) onUnauthorized('expired', ended.account);
  }
  return { ok: response.ok, status: response.status, data };
}

/** A fresh `Idempotency-Key`: a request that got no definite answer is retried with the same
 * key, so that the API does it once. */
export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Downloads a file of the API (a statement or an invoice as CSV) and saves it on the device.
 * A plain link would not do: the API wants the bearer token, which only a request made here
 * carries. The answer becomes a Blob behind an object URL that a `download` link saves under
 * the name the API gives (Content-Disposition), or `filename`. Resolves as `api` does; data
 * is {filename} once saved.
 */
export async function download(path, { accept, filename }) {
  const res = await api('GET', path, undefined, { headers: { accept }, blob: true, timeoutMs: TIMEOUT_MS * 2 });
  if (!res.ok) return res;
  const disposition = res.response.headers.get('content-disposition') || '';
  const named = /filename="?([^";]+)"?/i.exec(disposition);
  const name = named ? named[1] : filename;
  const url = URL.createObjectURL(res.data);
  const link = el('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own copy by then; a minute is ample for a slow phone.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { ok: true, status: res.status, data: { filename: name } };
}

/** The contract's {code, message, field?} for any error answer (OAuth's {error,
 * error_description} included). */
function errorBody(response, data) {
  if (response.status === 429) {
    const wait = Number(response.headers.get('retry-after')) || 1;
    return { code: 'rate_limited', message: `too many requests: try again in ${wait} s` };
  }
  if (data && typeof data.message === 'string') return data;
  if (data && typeof data.error === 'string') {
    return { code: data.error, message: data.error_description || data.error, error: data.error };
  }
  return { code: 'http_' + response.status, message: 'the server answered ' + response.status };
}

// ---------------------------------------------------------------------------------------
// Signing in.

const ROLE_NOUN = { restaurant: 'restaurant', rider: 'rider', operator: 'operator' };
const ROLE_PAGE = {
  restaurant: { name: 'the restaurant console', path: '/restaurant' },
  rider: { name: 'the rider app', path: '/rider' },
  operator: { name: 'the control room', path: '/ops' },
};
const SIGN_IN_FIELDS = { username: 'account-id', password: 'secret' };

/** Signs in with the password grant and reads the account; resolves to {session} or
 * {error, field?, other?} (other: the page for that account's role). */
async function signIn(id, secret, role) {
  const form = new URLSearchParams({ grant_type: 'password', username: id, password: secret });
  const issued = await api('POST', '/oauth/token', form);
  if (!issued.ok) {
    if (issued.status === 400 && issued.data.error === 'invalid_grant') {
      return { error: 'Wrong account id or secret.', field: 'password' };
    }
    if (issued.status === 0) return { error: 'Could not sign in: ' + sentence(issued.data.message) + ' Try again.' };
    return { error: 'Could not sign in: ' + sentence(issued.data.message) };
  }
  const token = issued.data.access_token;
  const expiresAt = Date.now() + (Number(issued.data.expires_in) || 3600) * 1000;
  const me = await meWith(token);
  if (!me.ok) return { error: 'Could not read your account: ' + sentence(me.data.message) };
  const account = { id: me.data.id, name: me.data.name, role: me.data.role };
  if (account.role !== role) {
    const noun = ROLE_NOUN[account.role] || account.role;
    return {
      error: `${account.id} is ${/^[aeiou]/.test(noun) ? 'an' : 'a'} ${noun} account: `
        + `${ROLE_PAGE[role].name} is for ${ROLE_NOUN[role]} accounts.`,
      other: ROLE_PAGE[account.role],
    };
  }
  return { session: { token, expiresAt, account } };
}

/** GET /accounts/me with a token that is not the session's yet. */
function meWith(token) {
  return api('GET', '/accounts/me', undefined, { token });
}

/**
 * Wires the sign-in form (#signin-form: #account-id, #secret, #signin-button, #signin-error,
 * #signin-notice) and the header (#account, #account-name, #sign-out) of a page for accounts
 * of `role`. Calls `onSignedIn(session)` once signed in (or at once, when this tab already
 * is) and `onSignedOut(reason)` ('signout' or 'expired') when the session ends.
 */
export function setUpSignIn({ role, onSignedIn, onSignedOut }) {
  const $ = (id) => document.getElementById(id);
  const form = $('signin-form');
  const button = $('signin-button');

  function showSignedIn() {
    form.hidden = true;
    notify($('signin-error'), '');
    notify($('signin-notice'), '');
    setText($('account-name'), accountLabel(current.account));
    $('account').hidden = false;
    onSignedIn(current);
  }

  function showSignIn(reason, account) {
    $('account').hidden = true;
    form.hidden = false;
    if (account) $('account-id').value = account.id;
    $('secret').value = '';
    if (reason === 'expired') {
      notify($('signin-notice'), 'Your session has expired: sign in again to go on.', 'warn', { clear: 0 });
    } else if (reason === 'signout') {
      notify($('signin-notice'), 'You are signed out.', '', { clear: 0 });
    }
    onSignedOut(reason);
    ($('account-id').value ? $('secret') : $('account-id')).focus();
  }

  onUnauthorized = showSignIn;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    clearFieldErrors(SIGN_IN_FIELDS);
    notify($('signin-error'), '');
    notify($('signin-notice'), '');
    const id = $('account-id').value.trim();
    const secret = $('secret').value;
    const missing = [];
    if (!id) missing.push({ field: 'username', message: 'Enter your account id.' });
    if (!secret) missing.push({ field: 'password', message: 'Enter your secret.' });
    if (missing.length) {
      showFieldErrors(SIGN_IN_FIELDS, missing);
      return;
    }
    button.disabled = true;
    setText(button, 'Signing in…');
    const result = await signIn(id, secret, role);
    button.disabled = false;
    setText(button, 'Sign in');
    if (result.session) {
      saveSession(result.session);
      showSignedIn();
      return;
    }
    const error = $('signin-error');
    notify(error, result.error, 'error', { clear: 0 });
    if (result.other) {
      error.append(' ', el('a', { href: result.other.path }, `Open ${result.other.name}`), '.');
    }
    if (result.field === 'password') {
      $('secret').value = '';
      $('secret').focus();
    }
  });

  $('sign-out').addEventListener('click', () => {
    saveSession(null);
    showSignIn('signout');
  });

  if (current && current.account.role === role && !(current.expiresAt <= Date.now())) {
    showSignedIn();
  } else {
    const expired = current && current.account.role === role ? current.account : null;
    saveSession(null);
    showSignIn(expired ? 'expired' : null, expired);
  }
}

// ---------------------------------------------------------------------------------------
// The DOM.

/** Builds an element: attrs are attributes (or `dataset`), children are nodes or text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'dataset') Object.assign(node.dataset, value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Sets a node's text only when it changed, so live updates do not disturb screen readers. */
export function setText(node, text) {
  const value = text === null || text === undefined ? '' : String(text);
  if (node.textContent !== value) node.textContent = value;
}

const won = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
/** An amount of KRW, e.g. "20,000 KRW"; an empty string for null. */
export function money(amount) {
  return amount === null || amount === undefined ? '' : won.format(amount) + ' KRW';
}

/** The rows of a `GET /delivery-list` answer: the contract's {items, nextCursor}, or the bare
 * array an older API answers with. */
export function listRows(data) {
  if (Array.isArray(data)) return data;
  return data && Array.isArray(data.items) ? data.items : [];
}

/** The cursor of the page after a paged answer ({items, nextCursor}); null on the last page,
 * and for a bare array (an API without paging). */
export function nextCursor(data) {
  return data && !Array.isArray(data) && typeof data.nextCursor === 'string' && data.nextCursor ? data.nextCursor : null;
}

/** The UTC day of a Date as `YYYY-MM-DD` (the API's days are UTC). */
export function utcDay(date = new Date()) {
  return date.toISOString().slice(0, 10);
}

/** `day` (`YYYY-MM-DD`) moved by `days`. */
export function addDays(day, days) {
  const date = new Date(day + 'T00:00:00Z');
  date.setUTCDate(date.getUTCDate() + days);
  return utcDay(date);
}

/** A timestamp as local date and time ("Nov 30, 14:05"), or the time alone for one of today. */
export function dateTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  if (date.toDateString() === new Date().toDateString()) return clock(iso);
  return date.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** What an accounting period (a payout's, an invoice's) covers, as people read it: its label
 * when that is a day or a month ("2026-11-30", "2026-11"), else its UTC start and end. */
export function periodText(label, start, end) {
  if (/^\d{4}-\d{2}(-\d{2})?$/.test(label || '')) return label;
  const utc = (iso) => String(iso).slice(0, 19).replace('T', ' ');
  if (start && end) {
    const [from, to] = [utc(start), utc(end)];
    // "2026-11-30 08:58:00 to 08:58:05 UTC" when both fall on one day.
    return `${from} to ${from.slice(0, 10) === to.slice(0, 10) ? to.slice(11) : to} UTC`;
  }
  return label ? utc(label) + ' UTC' : '';
}

/** Why a rider could not deliver (`POST /deliveries/{id}/fail`), as people say it. */
export const FAILURE_REASONS = {
  customer_unreachable: 'Customer unreachable',
  address_not_found: 'Address not found',
  customer_refused: 'Customer refused',
  damaged: 'Damaged',
  other: 'Other',
};

/** The label of a failure reason; an unknown one as the API names it. */
export function failureLabel(reason) {
  return FAILURE_REASONS[reason] || String(reason || '').replace(/_/g, ' ');
}

/** A timestamp as local wall-clock time. */
export function clock(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** How long a message stays: a confirmation shortly, a problem longer. */
const CLEAR_AFTER_MS = { '': 15_000, warn: 30_000, error: 30_000 };
const timers = new WeakMap();
/** Messages about a lost connection, cleared as soon as the server answers again. */
const offlineNotices = new Set();
onConnectionChange((up) => {
  if (!up) return;
  for (const node of offlineNotices) notify(node, '');
  offlineNotices.clear();
});

/**
 * Shows a message in a notice element; kind is '', 'warn' or 'error'. Empty text hides it.
 * Options: `clear` — after how many ms it goes away by itself (a default per kind; 0 never);
 * `offline` — it is about a lost connection: it goes away once the server answers again.
 */
export function notify(node, text, kind = '', options = {}) {
  clearTimeout(timers.get(node));
  offlineNotices.delete(node);
  node.classList.remove('warn', 'error');
  if (kind) node.classList.add(kind);
  setText(node, text);
  node.hidden = !text;
  if (!text) return;
  if (options.offline) offlineNotices.add(node);
  const after = options.clear === undefined ? CLEAR_AFTER_MS[kind] : options.clear;
  if (after) timers.set(node, setTimeout(() => notify(node, ''), after));
}

/** Clears the inline validation messages of `fields` ({apiField: inputId}). */
export function clearFieldErrors(fields) {
  for (const inputId of Object.values(fields)) {
    document.getElementById(inputId).removeAttribute('aria-invalid');
    notify(document.getElementById(inputId + '-error'), '');
  }
}

/** Shows an API error next to the input it names; returns false when it names none of
 * `fields`, so the caller shows it elsewhere. The API's messages start with the field's
 * JSON name ("cost must be…"); the page says it the way its label does ("Fee must be…"). */
export function showFieldError(fields, error) {
  return showFieldErrors(fields, [error]);
}

/** Shows each error next to its input, all at once, and focuses the first of them. Returns
 * false when none of them names one of `fields`. */
export function showFieldErrors(fields, errors) {
  let first = null;
  for (const error of errors) {
    const inputId = error && error.field && fields[error.field];
    if (!inputId) continue;
    const input = document.getElementById(inputId);
    let text = String(error.message || '');
    if (input.dataset.name && text.startsWith(error.field + ' ')) text = input.dataset.name + text.slice(error.field.length);
    input.setAttribute('aria-invalid', 'true');
    notify(document.getElementById(inputId + '-error'), sentence(text), '', { clear: 0 });
    if (!first) first = input;
  }
  if (first) first.focus();
  return first !== null;
}

/** The API's messages are lowercase phrases; on a page they read as sentences. */
export function sentence(text) {
  const s = String(text || '').trim();
  return s ? s[0].toUpperCase() + s.slice(1) + (/[.!?'"]$/.test(s) ? '' : '.') : '';
}

/** Shows a button as busy ("Calling…") and disabled while `busy`, and as itself after. */
export function busyButton(button, busy, busyText) {
  if (!button.dataset.idleText) button.dataset.idleText = button.textContent;
  button.dataset.busy = busy ? 'true' : '';
  setText(button, busy ? busyText : button.dataset.idleText);
  button.disabled = busy || !online;
}

/** Enables the page's action buttons (`[data-action]`) only while the server answers and
 * the button is not busy with its own request. */
export function refreshActions(root = document) {
  for (const button of root.querySelectorAll('button[data-action]')) {
    button.disabled = !online || button.dataset.busy === 'true';
  }
}

// ---------------------------------------------------------------------------------------
// Live updates.

/**
 * Runs `task` now and then every `intervalMs` after the previous run finished (never two
 * at once), less often while the page is hidden (every `hiddenMs`: ten times
 * `intervalMs` unless told), and at once when it shows again.
 * `task` resolves to true when it got fresh data. The `status` element says whether the page
 * is live, and the `banner` element is shown while the server does not answer.
 * Returns {refresh, stop}.
 */
export function poll(task, intervalMs, status, banner, { hiddenMs = intervalMs * 10 } = {}) {
  let timer = null;
  let running = null;
  let again = false;
  let stopped = false;

  function show(fresh) {
    if (stopped) return;
    if (status) {
      status.hidden = false;
      if (!online) setText(status, 'Offline · retrying');
      else if (fresh) setText(status, 'Live · updated ' + clock(new Date().toISOString()));
      else if (fresh === false) setText(status, 'Not updating · retrying');
      status.classList.toggle('offline', !online || fresh === false);
    }
    if (banner) banner.hidden = online;
  }
  const onConnection = () => show(null);
  onConnectionChange(onConnection);

  async function run() {
    clearTimeout(timer);
    if (running) {
      again = true; // a refresh asked for while a run is under way follows it
      return running;
    }
    running = (async () => {
      const fresh = await task().catch(() => false);
      show(Boolean(fresh));
    })();
    await running;
    running = null;
    if (stopped) return;
    if (again) {
      again = false;
      return run();
    }
    timer = setTimeout(run, document.hidden ? hiddenMs : intervalMs);
  }

  const onVisible = () => { if (!document.hidden && !stopped) run(); };
  document.addEventListener('visibilitychange', onVisible);
  if (status) {
    status.hidden = false;
    status.classList.remove('offline');
    setText(status, 'Connecting…');
  }
  run();
  return {
    refresh: run,
    stop() {
      stopped = true;
      clearTimeout(timer);
      connectionListeners.delete(onConnection);
      document.removeEventListener('visibilitychange', onVisible);
      if (status) status.hidden = true;
      if (banner) banner.hidden = true;
    },
  };
}

/**
 * Keeps the children of `container` in the order of `items`, reusing the element of each
 * key (`create(item)` makes one, `update(node, item)` refreshes it in place), so a live
 * update never rebuilds the list under the user's cursor or keyboard focus.
 */
export function reconcile(container, items, key, create, update) {
  const existing = new Map([...container.children].map((node) => [node.dataset.key, node]));
  const focused = document.activeElement;
  const wanted = items.map((item) => {
    const k = key(item);
    let node = existing.get(k);
    if (node) existing.delete(k);
    else {
      node = create(item);
      node.dataset.key = k;
    }
    update(node, item);
    return node;
  });
  for (const node of existing.values()) node.remove();
  // Move only the nodes that are out of place: the others (and their focus) stay put.
  wanted.forEach((node, i) => {
    if (container.children[i] !== node) container.insertBefore(node, container.children[i] || null);
  });
  if (focused && focused !== document.activeElement && container.contains(focused)) focused.focus();
}

/** A row of a statement's or an invoice's adjustments (for `reconcile`), and its update. */
export function createAdjustment() {
  return el('tr', {},
    el('td', { 'data-label': 'When', class: 'time' }),
    el('td', { 'data-label': 'Reason', class: 'what' }),
    el('td', { 'data-label': 'Amount', class: 'num amount' }));
}

/** See `createAdjustment`. */
export function updateAdjustment(row, adjustment) {
  setText(row.querySelector('.time'), dateTime(adjustment.at));
  setText(row.querySelector('.what'), adjustment.reason);
  setText(row.querySelector('.amount'), money(adjustment.amount));
}
