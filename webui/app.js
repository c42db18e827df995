// The web UI's entry point: polls the master, mounts the page the hash names
// and tells it about every poll, says clearly when the master cannot be
// reached, and, on a master standing by, names the leader instead.
import { MasterStore, hasMasterToken, setMasterToken } from './api.js';
import { clock, h, show } from './dom.js';
import { parseHash } from './router.js';
import * as agents from './pages/agents.js';
import * as events from './pages/events.js';
import * as frameworks from './pages/frameworks.js';
import * as overview from './pages/overview.js';
import { standbyPanel } from './pages/standby.js';
import * as task from './pages/task.js';
import * as tasks from './pages/tasks.js';

const POLL_INTERVAL_MS = 2000;

const store = new MasterStore(POLL_INTERVAL_MS);
const main = document.getElementById('main');
const banner = document.getElementById('banner');
const status = document.getElementById('status');
let page = null;

// Each page module exports create(route, store) => {el, update(store), destroy()}.
function pageFor({ segments }) {
  const [section, ...rest] = segments;
  switch (section) {
    case undefined: return overview.create();
    case 'agents': return rest.length ? agents.createAgent(rest[0]) : agents.create();
    case 'frameworks': return frameworks.create();
    case 'tasks': return rest.length >= 2 ? task.create(rest[0], rest[1]) : tasks.create(parseHash());
    case 'events': return events.create(parseHash());
    default: return {
      el: h('section', { class: 'panel' }, h('h1', {}, 'No such page'),
        h('p', {}, 'Try the ', h('a', { href: '#/' }, 'overview'), '.')),
      update() {},
    };
  }
}

// True while `main` shows a standby's panel instead of `page`.
let standbyShown = false;

function mount() {
  page?.destroy?.();
  const route = parseHash();
  page = pageFor(route);
  standbyShown = Boolean(store.standby);
  show(main, standbyShown ? standbyPanel(store.standby) : page.el);
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.section === (route.segments[0] ?? ''));
  }
  if (store.state && !standbyShown) page.update(store);
  window.scrollTo(0, 0);
}

// "live · leading (elected through zk://...) · updated 12:00:00", or standing by.
function statusText(stale) {
  if (stale && store.needsToken) return 'token needed';
  if (stale) return 'master unreachable';
  const updated = `updated ${clock(store.updatedAt / 1000)}`;
  if (store.standby) return `standing by · ${updated}`;
  return store.state?.zk ? `live · leading · ${updated}` : `live · ${updated}`;
}

// Asks for the token of a master that wants one for every read
// (--http-authenticate=all); made once, so that polls do not wipe what is
// being typed.
const tokenInput = h('input', { type: 'password', id: 'token-input', autocomplete: 'off', placeholder: 'token' });
const tokenNote = h('span', {});
const tokenForm = h('form', {
  id: 'token-form',
  onsubmit: (e) => {
    e.preventDefault();
    setMasterToken(tokenInput.value.trim());
    tokenInput.value = '';
    store.poll();
  },
}, h('strong', {}, 'This master needs a token'), ' to be read (--http-authenticate=all). ', tokenNote, ' ',
tokenInput, ' ', h('button', { type: 'submit' }, 'Use it'));

function renderStatus() {
  const stale = Boolean(store.error);
  document.body.classList.toggle('stale', stale && Boolean(store.state));
  banner.hidden = !stale;
  if (stale && store.needsToken) {
    show(tokenNote, hasMasterToken() ? `It refused the one given: ${store.error}.` : '');
    if (!banner.contains(tokenForm)) show(banner, tokenForm);
  } else if (stale) {
    const retry = `Retrying every ${POLL_INTERVAL_MS / 1000} s.`;
    show(banner, h('strong', {}, 'Cannot reach the master'), ` at ${window.location.host}: ${store.error}. `,
      store.state ? `Showing what it said at ${clock(store.updatedAt / 1000)}. ${retry}` : retry);
  }
  const tone = stale ? 'down' : store.standby ? 'standby' : 'up';
  show(status, h('span', { class: `dot ${tone}` }), statusText(stale));
  const zk = (store.standby ?? store.state)?.zk;
  const id = store.standby?.id ?? store.masterId;
  status.title = [id ? `master ${id}` : '', zk ? `elected through ${zk}` : ''].filter(Boolean).join(', ');
}

store.subscribe(() => {
  renderStatus();
  if (store.standby) {
    standbyShown = true;
    show(main, standbyPanel(store.standby));
  } else if (standbyShown) {
    mount();  // elected: the page asked for, at last
  } else if (store.state) {
    page.update(store);
  }
});
window.addEventListener('hashchange', mount);
mount();
store.start();
