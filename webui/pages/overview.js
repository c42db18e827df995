// #/: the cluster at a glance: agents by health, frameworks, tasks by state,
// the total, used and offered resources of each kind as bars, the same per
// role, and the latest events.
import { allTasks } from '../api.js';
import {
  addResources, badge, bar, duration, h, num, scalarKinds, section, shareBar, show, stateBadge, table, TASK_STATES,
  TERMINAL_STATES,
} from '../dom.js';
import { link } from '../router.js';
import { eventsTable } from './events.js';

const LATEST_EVENTS = 8;

function card(title, href, big, ...lines) {
  return h('a', { class: 'card', href }, h('div', { class: 'card-title' }, title),
    h('div', { class: 'card-big' }, big), h('div', { class: 'card-lines' }, lines));
}

function agentsCard(agents) {
  const healthy = agents.filter((a) => a.reachable).length;
  const unreachable = agents.length - healthy;
  return card('Agents', '#/agents', String(agents.length), badge(`${healthy} healthy`, 'ok'),
    badge(`${unreachable} unreachable`, unreachable ? 'bad' : 'neutral'));
}

function frameworksCard(frameworks) {
  const connected = frameworks.filter((f) => f.connected).length;
  const waiting = frameworks.filter((f) => !f.suppressed && f.waiting_for_offers_seconds > 0).length;
  const suppressed = frameworks.filter((f) => f.suppressed).length;
  const starved = frameworks.filter((f) => f.starved).length;
  return card('Frameworks', '#/frameworks', String(frameworks.length), badge(`${connected} connected`, 'ok'),
    waiting ? badge(`${waiting} waiting for offers`, 'warn') : null,
    suppressed ? badge(`${suppressed} suppressed`, 'neutral') : null,
    starved ? badge(`${starved} starved`, 'bad') : null);
}

// Tasks by state, each a link to the tasks of that state.
function tasksCard(tasks) {
  const byState = new Map();
  for (const t of tasks) byState.set(t.state, (byState.get(t.state) ?? 0) + 1);
  const active = tasks.filter((t) => !TERMINAL_STATES.has(t.state)).length;
  const states = TASK_STATES.filter((s) => byState.has(s));
  return h('div', { class: 'card' }, h('div', { class: 'card-title' }, h('a', { href: '#/tasks' }, 'Tasks')),
    h('div', { class: 'card-big' }, h('a', { href: link(['tasks'], { state: 'active' }) }, String(active)),
      h('span', { class: 'card-unit' }, ' active')),
    h('div', { class: 'card-lines task-states' }, states.length ? states.map((s) => h('a', {
      href: link(['tasks'], { state: s }), class: 'state-count',
    }, stateBadge(s), ` ${byState.get(s)}`)) : h('span', { class: 'muted' }, 'no tasks yet')));
}

function masterCard(state, now) {
  return card('Master', '#/events', duration(now - state.start_time),
    h('div', { class: 'stack small' }, h('div', { class: 'muted' }, 'up since it started'),
      h('div', { title: state.id }, `id ${state.id}`), h('div', {}, state.endpoint),
      state.zk ? h('div', { class: 'muted', title: state.zk }, `leading, elected through ${state.zk}`) : null));
}

// Total, used and offered resources of the reachable agents, a bar a kind.
function clusterResources(agents) {
  const reachable = agents.filter((a) => a.reachable);
  const total = {};
  const used = {};
  const offered = {};
  for (const a of reachable) {
    addResources(total, a.resources);
    addResources(used, a.used_resources);
    addResources(offered, a.offered_resources);
  }
  const kinds = scalarKinds(total);  // with ports, counted
  return h('div', { class: 'resource-grid', id: 'cluster-resources' }, kinds.map((kind) => [
    h('div', { class: 'kind' }, kind),
    bar(kind, { used: used[kind] ?? 0, offered: offered[kind] ?? 0, total: total[kind] ?? 0 }),
  ]));
}

// Each role's weight, dominant share, quota, and the cpus and mem its
// frameworks use and are offered, as parts of the cluster's.
function rolesTable(state) {
  const total = {};
  for (const a of state.agents ?? []) if (a.reachable) addResources(total, a.resources);
  const byRole = new Map();
  for (const r of state.roles ?? []) byRole.set(r.role, { ...r, used: {}, offered: {}, frameworks: 0 });
  for (const f of state.frameworks ?? []) {
    if (!byRole.has(f.role)) byRole.set(f.role, { role: f.role, weight: 1, dominant_share: 0, used: {}, offered: {}, frameworks: 0 });
    const r = byRole.get(f.role);
    addResources(r.used, f.used_resources);
    addResources(r.offered, f.offered_resources);
    r.frameworks += 1;
  }
  const roles = [...byRole.values()].sort((a, b) => a.role.localeCompare(b.role));
  const kindBar = (kind) => (r) => bar(kind, { used: r.used[kind] ?? 0, offered: r.offered[kind] ?? 0, total: total[kind] ?? 0 });
  const quota = (r) => [r.guarantee ? `guarantee ${r.guarantee}` : '', r.limit ? `limit ${r.limit}` : '']
    .filter(Boolean).join(' · ') || '—';
  return table([
    { title: 'Role', cell: (r) => h('code', { class: 'role' }, r.role) },
    { title: 'Weight', cell: (r) => num(r.weight), class: 'num' },
    { title: 'Frameworks', cell: (r) => String(r.frameworks), class: 'num' },
    { title: 'Dominant share', cell: (r) => shareBar(r.dominant_share), class: 'bar-col' },
    { title: 'cpus', cell: kindBar('cpus'), class: 'bar-col' },
    { title: 'mem', cell: kindBar('mem'), class: 'bar-col' },
    {
      title: 'Quota',
      cell: (r) => [quota(r), r.below_guarantee ? [' ', badge('below guarantee', 'warn')] : null],
      class: 'small',
    },
  ], roles, 'No roles yet.');
}

export function create() {
  const body = h('div', {}, h('p', { class: 'loading' }, 'Waiting for the master…'));
  return {
    el: h('div', { class: 'page' }, h('h1', {}, 'Cluster'), body),
    update(store) {
      const state = store.state;
      const now = store.masterNow();
      const agents = state.agents ?? [];
      const latest = store.events.slice(-LATEST_EVENTS).reverse();
      show(body,
        h('div', { class: 'cards' }, agentsCard(agents), frameworksCard(state.frameworks ?? []),
          tasksCard(allTasks(state)), masterCard(state, now)),
        section('Resources', h('p', { class: 'legend' }, h('span', { class: 'swatch used' }), 'used ',
          h('span', { class: 'swatch offered' }, ''), 'offered ', h('span', { class: 'swatch free' }), 'free, of the ',
          'reachable agents\u2019 total'), clusterResources(agents)),
        section('Roles', rolesTable(state)),
        section('Latest events', eventsTable(latest, state),
          h('p', {}, h('a', { href: '#/events' }, `All ${store.events.length} events →`))));
    },
  };
}
