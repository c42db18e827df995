// Small DOM and formatting helpers shared by the pages. Everything from the
// cluster reaches the page as text nodes (never as HTML), so a task name or
// a status message cannot inject markup.

// h('a', {href: '#/', class: 'x'}, 'text', child, ...): an element. Attributes
// named on* take a listener; `dataset` takes an object; null children are
// skipped and arrays are flattened.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'class') el.className = value;
    else if (name === 'value') el.value = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces what `el` shows.
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---------------------------------------------------------------- numbers

// 2, 0.5, 1.25: at most two decimals, no trailing zeros.
export function num(value) {
  const v = Number(value) || 0;
  return String(Math.round(v * 100) / 100);
}

// Megabytes (as resources count mem and disk) for a person: 512 MiB, 2.0 GiB.
export function megabytes(mb) {
  const v = Number(mb) || 0;
  if (v >= 1024 * 1024) return `${(v / 1024 / 1024).toFixed(1)} TiB`;
  if (v >= 1024) return `${(v / 1024).toFixed(1)} GiB`;
  return `${num(v)} MiB`;
}

export function bytes(n) {
  const v = Number(n) || 0;
  if (v >= 1 << 30) return `${(v / (1 << 30)).toFixed(1)} GiB`;
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(1)} KiB`;
  return `${v} B`;
}

// 42s, 3m 5s, 2h 10m, 4d 3h.
export function duration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

// HH:MM:SS of a wall-clock time in seconds, in the browser's time zone.
export function clock(seconds) {
  const d = new Date(seconds * 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

// YYYY-MM-DD HH:MM:SS, for a title or a details list.
export function dateTime(seconds) {
  if (!seconds) return '';
  const d = new Date(seconds * 1000);
  const day = [d.getFullYear(), d.getMonth() + 1, d.getDate()].map((n) => String(n).padStart(2, '0')).join('-');
  return `${day} ${clock(seconds)}`;
}

export function percent(fraction) {
  return `${(100 * (Number(fraction) || 0)).toFixed(1)}%`;
}

// ---------------------------------------------------------------- resources

// How many ports "[31000-32000,33000-33000]" holds.
export function portCount(ranges) {
  let count = 0;
  for (const [, from, to] of String(ranges ?? '').matchAll(/(\d+)-(\d+)/g)) count += Number(to) - Number(from) + 1;
  return count;
}

// The scalar kinds to show, in a stable order: cpus, mem, disk, gpus, then
// any other the agents advertise.
export function scalarKinds(...resourceObjects) {
  const kinds = new Set(['cpus', 'mem', 'disk']);
  for (const r of resourceObjects) {
    for (const [name, value] of Object.entries(r ?? {})) if (typeof value === 'number') kinds.add(name);
  }
  const order = ['cpus', 'mem', 'disk', 'gpus'];
  return [...kinds].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b));
}

// One amount of a resource kind for a person: "2 cpus", "1.0 GiB".
export function amount(kind, value) {
  if (kind === 'mem' || kind === 'disk') return megabytes(value);
  if (kind === 'ports') return `${num(value)} ports`;
  return `${num(value)} ${kind}`;
}

// "2 cpus · 1.0 GiB mem · ports [31000-31005]": the non-zero parts.
export function resourceText(resources) {
  const parts = [];
  for (const [name, value] of Object.entries(resources ?? {})) {
    if (typeof value === 'number') {
      if (value === 0) continue;
      parts.push(name === 'mem' || name === 'disk' ? `${megabytes(value)} ${name}` : `${num(value)} ${name}`);
    } else if (value) {
      parts.push(`${name} ${value}`);
    }
  }
  return parts.length ? parts.join(' · ') : '—';
}

// Adds up resource objects, scalar by scalar (ports as counts).
export function addResources(total, resources) {
  for (const [name, value] of Object.entries(resources ?? {})) {
    const v = typeof value === 'number' ? value : name === 'ports' ? portCount(value) : 0;
    total[name] = (total[name] ?? 0) + v;
  }
  return total;
}

// A bar of `total`: `used` in one colour, `offered` after it in another,
// with its caption: "1.5 used · 0.5 offered of 4 cpus".
export function bar(kind, { used = 0, offered = 0, total = 0 }) {
  const width = (v) => (total > 0 ? `${Math.min(100, (100 * v) / total)}%` : '0%');
  const usedEl = h('span', { class: 'bar-used' });
  const offeredEl = h('span', { class: 'bar-offered' });
  usedEl.style.width = width(used);
  offeredEl.style.width = width(Math.min(offered, Math.max(0, total - used)));
  const caption = [`${amount(kind, used)} used`];
  if (offered > 0) caption.push(`${amount(kind, offered)} offered`);
  return h('div', { class: 'bar-cell', dataset: { kind } },
    h('div', { class: 'bar', role: 'img', 'aria-label': `${kind}: ${caption.join(', ')} of ${amount(kind, total)}` },
      usedEl, offeredEl),
    h('div', { class: 'bar-caption' }, `${caption.join(' · ')} of ${amount(kind, total)}`));
}

// A bar for a share between 0 and 1, with the percentage.
export function shareBar(fraction) {
  const fill = h('span', { class: 'bar-used' });
  fill.style.width = `${Math.min(100, 100 * (Number(fraction) || 0))}%`;
  return h('div', { class: 'bar-cell share' }, h('div', { class: 'bar' }, fill),
    h('div', { class: 'bar-caption' }, percent(fraction)));
}

// ---------------------------------------------------------------- states

export const TERMINAL_STATES = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST',
  'TASK_DROPPED', 'TASK_GONE']);
export const TASK_STATES = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE',
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE',
  'TASK_UNKNOWN'];

// The colour family of a task state: ok, active, ended, bad, warn.
function stateTone(state) {
  switch (state) {
    case 'TASK_RUNNING': return 'ok';
    case 'TASK_FINISHED': return 'ended';
    case 'TASK_STAGING': case 'TASK_STARTING': case 'TASK_KILLING': return 'active';
    case 'TASK_UNREACHABLE': case 'TASK_KILLED': case 'TASK_UNKNOWN': return 'warn';
    default: return 'bad';
  }
}

export function stateBadge(state) {
  return h('span', { class: `badge tone-${stateTone(state)}`, dataset: { state } }, state);
}

export function badge(text, tone = 'neutral', title = null) {
  return h('span', { class: `badge tone-${tone}`, title }, text);
}

// ---------------------------------------------------------------- tables

// A table of `rows`; each column is {title, cell: row => node or text,
// class}. With no rows, one row saying `empty`.
export function table(columns, rows, empty = 'Nothing to show.') {
  const head = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class, scope: 'col' }, c.title))));
  const body = h('tbody');
  if (rows.length === 0) {
    body.append(h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, empty)));
  }
  for (const row of rows) body.append(h('tr', {}, columns.map((c) => h('td', { class: c.class }, c.cell(row)))));
  return h('div', { class: 'table-wrap' }, h('table', {}, head, body));
}

// A definition list from [term, description] pairs; empty descriptions are
// left out.
export function details(pairs) {
  const dl = h('dl', { class: 'details' });
  for (const [term, description] of pairs) {
    if (description === null || description === undefined || description === '') continue;
    dl.append(h('dt', {}, term), h('dd', {}, description));
  }
  return dl;
}

export function section(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', {}, title), ...children);
}
