// #/frameworks: every framework with its role, dominant share, tasks, what
// it uses and is offered, and whether it waits for offers, is suppressed or
// starved.
import { allTasks } from '../api.js';
import { badge, dateTime, duration, h, resourceText, shareBar, show, table, TERMINAL_STATES } from '../dom.js';
import { link } from '../router.js';

// What a framework is doing about offers, as badges.
export function offerStatus(framework) {
  const out = [];
  if (!framework.connected) {
    out.push(badge(framework.recovered ? 'recovered, not re-subscribed' : 'disconnected', 'warn'));
  }
  if (framework.suppressed) out.push(badge('suppressed', 'neutral', 'It asked for no offers.'));
  if (framework.starved) {
    out.push(badge('starved', 'bad', 'It has waited for offers past --starvation-threshold while others hold resources.'));
  }
  const waiting = framework.waiting_for_offers_seconds ?? 0;
  if (!framework.suppressed && waiting > 0) {
    out.push(badge(`waiting ${duration(waiting)} for offers`, framework.starved ? 'bad' : 'warn'));
  }
  if (!out.length) out.push(badge(framework.connected ? 'active' : 'inactive', framework.connected ? 'ok' : 'neutral'));
  return h('div', { class: 'badges' }, out);
}

function frameworksTable(frameworks, tasks, now) {
  const active = new Map();
  for (const t of tasks) {
    if (!TERMINAL_STATES.has(t.state)) active.set(t.framework_id, (active.get(t.framework_id) ?? 0) + 1);
  }
  return table([
    {
      title: 'Framework',
      cell: (f) => [h('span', { class: 'framework-name' }, f.name || '(no name)'),
        h('div', { class: 'muted small' }, f.id)],
    },
    { title: 'Role', cell: (f) => h('code', { class: 'role' }, (f.roles ?? [f.role]).join(', ')) },
    { title: 'User', cell: (f) => f.user || '—' },
    { title: 'Status', cell: offerStatus },
    { title: 'Share', cell: (f) => shareBar(f.dominant_share), class: 'bar-col' },
    {
      title: 'Tasks',
      cell: (f) => [h('a', { href: link(['tasks'], { framework: f.id, state: 'active' }) },
        `${active.get(f.id) ?? 0} active`),
      h('div', { class: 'muted small' }, `${f.completed_task_count ?? 0} ended`)],
      class: 'nowrap',
    },
    { title: 'Used', cell: (f) => resourceText(f.used_resources), class: 'small' },
    { title: 'Offered', cell: (f) => resourceText(f.offered_resources), class: 'small' },
    {
      title: 'Registered',
      cell: (f) => (f.registered_time ? h('span', { title: dateTime(f.registered_time) },
        `${duration(now - f.registered_time)} ago`) : '—'),
      class: 'nowrap',
    },
  ], frameworks, 'No frameworks have registered.');
}

export function create() {
  const body = h('div', {}, h('p', { class: 'loading' }, 'Waiting for the master…'));
  const counts = h('span', { class: 'muted' });
  return {
    el: h('div', { class: 'page' }, h('div', { class: 'title-row' }, h('h1', {}, 'Frameworks'), counts), body),
    update(store) {
      const frameworks = [...(store.state.frameworks ?? [])].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')
        || a.id.localeCompare(b.id));
      const connected = frameworks.filter((f) => f.connected).length;
      show(counts, `${connected} connected · ${frameworks.length - connected} disconnected`);
      show(body, h('div', { class: 'panel' }, frameworksTable(frameworks, allTasks(store.state), store.masterNow())));
    },
  };
}
