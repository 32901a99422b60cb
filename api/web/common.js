// Helpers shared by the restaurant console and the rider app.
// Every piece of data reaches the page as text (textContent, setAttribute), never as markup.

/** Calls the API; never throws. Resolves to {ok, status, data}; data is the JSON body, or
 * for errors the contract's {code, message, field}. A network failure has status 0. */
export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: { code: 'network', message: 'no connection to the server' } };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok && (data === null || typeof data.message !== 'string')) {
    data = { code: 'http_' + response.status, message: 'the server answered ' + response.status };
  }
  return { ok: response.ok, status: response.status, data };
}

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

/** A timestamp as local wall-clock time. */
export function clock(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Shows a message in a notice element; kind is '', 'warn' or 'error'. Empty text hides it. */
export function notify(node, text, kind = '') {
  node.classList.remove('warn', 'error');
  if (kind) node.classList.add(kind);
  setText(node, text);
  node.hidden = !text;
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
  const inputId = error && error.field && fields[error.field];
  if (!inputId) return false;
  const input = document.getElementById(inputId);
  let text = String(error.message || '');
  if (input.dataset.name && text.startsWith(error.field + ' ')) text = input.dataset.name + text.slice(error.field.length);
  input.setAttribute('aria-invalid', 'true');
  notify(document.getElementById(inputId + '-error'), sentence(text));
  input.focus();
  return true;
}

/** The API's messages are lowercase phrases; on a page they read as sentences. */
export function sentence(text) {
  const s = String(text || '').trim();
  return s ? s[0].toUpperCase() + s.slice(1) + (/[.!?'"]$/.test(s) ? '' : '.') : '';
}

/**
 * Runs `task` now and then every `intervalMs` after the previous run finished (never two
 * at once), less often while the page is hidden, and at once when it shows again.
 * `task` resolves to true when the server answered; the `status` element says whether the
 * page is live. Returns {refresh, stop}.
 */
export function poll(task, intervalMs, status) {
  let timer = null;
  let running = null;
  let again = false;
  let stopped = false;

  async function run() {
    clearTimeout(timer);
    if (running) {
      again = true; // a refresh asked for while a run is under way follows it
      return running;
    }
    running = (async () => {
      const ok = await task().catch(() => false);
      if (status) {
        setText(status, ok ? 'Live · updated ' + clock(new Date().toISOString()) : 'Connection lost · retrying');
        status.classList.toggle('offline', !ok);
      }
    })();
    await running;
    running = null;
    if (stopped) return;
    if (again) {
      again = false;
      return run();
    }
    timer = setTimeout(run, document.hidden ? intervalMs * 10 : intervalMs);
  }

  const onVisible = () => { if (!document.hidden && !stopped) run(); };
  document.addEventListener('visibilitychange', onVisible);
  run();
  return {
    refresh: run,
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
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

/** A text field remembered across visits and kept in the page's address (?name=value). */
export function remembered(name) {
  const fromUrl = new URLSearchParams(location.search).get(name);
  let stored = null;
  try { stored = localStorage.getItem('delivery.' + name); } catch { /* private mode */ }
  return {
    initial: fromUrl || stored || '',
    save(value) {
      try { localStorage.setItem('delivery.' + name, value); } catch { /* private mode */ }
      const url = new URL(location.href);
      url.searchParams.set(name, value);
      history.replaceState(null, '', url);
    },
  };
}
