// #/events: the master's last events (agents registering and going away,
// frameworks coming and going, every task state change with its reason),
// newest first, filterable by text and by kind.
import { indexBy } from '../api.js';
import { badge, clock, dateTime, h, show, stateBadge, table } from '../dom.js';
import { link, replaceParams } from '../router.js';

const LABELS = {
  agent_registered: ['Agent registered', 'ok'],
  agent_reregistered: ['Agent re-registered', 'ok'],
  agent_unreachable: ['Agent unreachable', 'warn'],
  agent_removed: ['Agent removed', 'bad'],
  framework_registered: ['Framework registered', 'ok'],
  framework_reregistered: ['Framework re-registered', 'ok'],
  framework_updated: ['Framework updated', 'neutral'],
  framework_disconnected: ['Framework disconnected', 'warn'],
  framework_removed: ['Framework removed', 'bad'],
  task_state_changed: ['Task state', 'neutral'],
  offer_rescinded: ['Offer rescinded', 'neutral'],
};

const KINDS = [['', 'All events'], ['agent', 'Agents'], ['framework', 'Frameworks'], ['task', 'Tasks'],
  ['offer', 'Offers']];

function label(event) {
  const [text, tone] = LABELS[event.type] ?? [event.type, 'neutral'];
  return badge(text, tone);
}

// Links to what the event is about: its task, framework and agent, by the
// names the master knows them by now.
function about(event, agents, frameworks) {
  const parts = [];
  const framework = event.framework_id ? frameworks.get(event.framework_id)?.name ?? event.framework_id : null;
  if (event.task_id) {
    parts.push([h('a', { href: link(['tasks', event.framework_id ?? '', event.task_id]) }, event.task_id),
      framework ? h('span', { class: 'muted' }, ` (${framework})`) : null]);
  } else if (framework) {
    parts.push(framework);
  }
  if (event.agent_id) {
    const agent = agents.get(event.agent_id);
    const name = agent?.hostname ?? event.agent_id;
    parts.push(agent ? h('a', { href: link(['agents', event.agent_id]), title: event.agent_id }, name) : name);
  }
  const out = [];
  parts.forEach((p, i) => out.push(i ? ' on ' : '', p));
  return out;
}

function detailsOf(event) {
  return [
    event.reason ? h('code', { class: 'reason' }, event.reason) : null,
    event.reason && event.message ? ' ' : null,
    event.message ?? '',
  ];
}

// The table of `events` (newest first), with names from the master's state.
export function eventsTable(events, state) {
  const agents = indexBy(state?.agents);
  const frameworks = indexBy(state?.frameworks);
  return table([
    { title: 'Time', cell: (e) => h('time', { title: dateTime(e.time) }, clock(e.time)), class: 'nowrap' },
    { title: '#', cell: (e) => String(e.sequence), class: 'num muted' },
    { title: 'Event', cell: label, class: 'nowrap' },
    { title: 'About', cell: (e) => about(e, agents, frameworks) },
    { title: 'State', cell: (e) => (e.state ? stateBadge(e.state) : ''), class: 'nowrap' },
    { title: 'Details', cell: detailsOf, class: 'wrap' },
  ], events, 'No events yet.');
}

function matches(event, kind, needle) {
  if (kind && !event.type.startsWith(`${kind}_`)) return false;
  if (!needle) return true;
  const text = [event.type, event.agent_id, event.framework_id, event.task_id, event.state, event.reason,
    event.message].join(' ').toLowerCase();
  return text.includes(needle);
}

export function create(route) {
  let q = route.params.get('q') ?? '';
  let kind = route.params.get('kind') ?? '';
  let last = null;
  const results = h('div', {}, h('p', { class: 'loading' }, 'Waiting for the master…'));
  const count = h('span', { class: 'muted' });

  const refresh = () => {
    replaceParams(['events'], { q, kind });
    if (!last) return;
    const needle = q.trim().toLowerCase();
    const shown = last.events.filter((e) => matches(e, kind, needle)).reverse();
    show(count, `${shown.length} of ${last.events.length} events (the master keeps the last ${last.capacity})`);
    show(results, h('div', { class: 'panel' }, eventsTable(shown, last.state)));
  };
  const search = h('input', {
    type: 'search', id: 'event-filter', placeholder: 'Filter: task, agent, state, reason…', value: q,
    'aria-label': 'Filter events by text', oninput: (e) => { q = e.target.value; refresh(); },
  });
  const select = h('select', {
    id: 'event-kind', 'aria-label': 'Filter events by kind',
    onchange: (e) => { kind = e.target.value; refresh(); },
  }, KINDS.map(([value, text]) => h('option', { value, selected: value === kind }, text)));

  return {
    el: h('div', { class: 'page' }, h('h1', {}, 'Events'),
      h('div', { class: 'filters' }, search, select, count), results),
    update(store) {
      last = { events: store.events, state: store.state, capacity: store.capacity };
      refresh();
    },
  };
}
