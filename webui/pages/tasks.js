// #/tasks: every task the master lists, running and ended, newest first,
// filterable by text, by state, by framework and by agent. The filters live
// in the address (#/tasks?state=TASK_FAILED&q=web), so a filtered view can be
// linked.
import { allTasks, indexBy } from '../api.js';
import { duration, h, resourceText, show, stateBadge, table, TASK_STATES, TERMINAL_STATES } from '../dom.js';
import { link, replaceParams } from '../router.js';

const MAX_ROWS = 500;

function lastStatus(task) {
  const reason = task.status_reason && task.status_reason !== 'REASON_NONE' ? task.status_reason : '';
  return [reason ? h('code', { class: 'reason' }, reason) : null, reason && task.status_message ? ' ' : null,
    task.status_message ?? ''];
}

// The table of `tasks`; `showAgent` adds the agent column (the agent page
// leaves it out).
export function tasksTable(tasks, state, now, { showAgent = true, empty = 'No tasks.' } = {}) {
  const agents = indexBy(state?.agents);
  const frameworks = indexBy(state?.frameworks);
  const columns = [
    {
      title: 'Task',
      cell: (t) => [h('a', { href: link(['tasks', t.framework_id, t.id]), class: 'task-id' }, t.id),
        t.name && t.name !== t.id ? h('div', { class: 'muted small' }, t.name) : null],
    },
    { title: 'State', cell: (t) => stateBadge(t.state), class: 'nowrap' },
    { title: 'Framework', cell: (t) => frameworks.get(t.framework_id)?.name ?? t.framework_id },
    showAgent && {
      title: 'Agent',
      cell: (t) => {
        const agent = agents.get(t.agent_id);
        if (!agent) return h('span', { class: 'muted', title: t.agent_id }, t.agent_id || '—');
        return h('a', { href: link(['agents', t.agent_id]), title: t.agent_id }, agent.hostname);
      },
    },
    {
      title: 'Age',
      cell: (t) => (t.created_time ? duration(now - t.created_time) : '—'),
      class: 'nowrap num',
    },
    { title: 'Resources', cell: (t) => resourceText(t.resources), class: 'small' },
    { title: 'Last status', cell: lastStatus, class: 'wrap' },
  ].filter(Boolean);
  return table(columns, tasks, empty);
}

function matches(task, filter, names) {
  if (filter.framework && task.framework_id !== filter.framework) return false;
  if (filter.agent && task.agent_id !== filter.agent) return false;
  if (filter.state === 'active' && TERMINAL_STATES.has(task.state)) return false;
  if (filter.state && filter.state !== 'active' && task.state !== filter.state) return false;
  const needle = filter.q.trim().toLowerCase();
  if (!needle) return true;
  const text = [task.id, task.name, task.state, task.framework_id, names.framework(task), task.agent_id,
    names.agent(task), task.status_reason, task.status_message].join(' ').toLowerCase();
  return text.includes(needle);
}

export function create(route) {
  const filter = {
    q: route.params.get('q') ?? '',
    state: route.params.get('state') ?? '',
    framework: route.params.get('framework') ?? '',
    agent: route.params.get('agent') ?? '',
  };
  let last = null;
  const results = h('div', {}, h('p', { class: 'loading' }, 'Waiting for the master…'));
  const count = h('span', { class: 'muted', id: 'task-count' });
  const scope = h('span', { class: 'scope' });

  const refresh = () => {
    replaceParams(['tasks'], filter);
    if (!last) return;
    const { state, now } = last;
    const agents = indexBy(state.agents);
    const frameworks = indexBy(state.frameworks);
    const names = {
      framework: (t) => frameworks.get(t.framework_id)?.name ?? '',
      agent: (t) => agents.get(t.agent_id)?.hostname ?? '',
    };
    const tasks = allTasks(state);
    const shown = tasks.filter((t) => matches(t, filter, names));
    show(count, `${shown.length} of ${tasks.length} tasks` +
      (shown.length > MAX_ROWS ? ` (the newest ${MAX_ROWS} shown: filter to see others)` : ''));
    const chips = [];
    if (filter.framework) chips.push(['framework', frameworks.get(filter.framework)?.name ?? filter.framework]);
    if (filter.agent) chips.push(['agent', agents.get(filter.agent)?.hostname ?? filter.agent]);
    show(scope, chips.map(([key, name]) => h('span', { class: 'chip' }, `${key}: ${name} `,
      h('a', { href: link(['tasks'], { ...filter, [key]: '' }), title: `All ${key}s`, 'aria-label': 'Remove' }, '×'))));
    show(results, h('div', { class: 'panel' }, tasksTable(shown.slice(0, MAX_ROWS), state, now,
      { empty: tasks.length ? 'No task matches the filter.' : 'No tasks yet.' })));
  };

  const search = h('input', {
    type: 'search', id: 'task-filter', placeholder: 'Filter: id, name, framework, agent, reason…', value: filter.q,
    'aria-label': 'Filter tasks by text', oninput: (e) => { filter.q = e.target.value; refresh(); },
  });
  const options = [['', 'All states'], ['active', 'Active (not ended)'], ...TASK_STATES.map((s) => [s, s])];
  const select = h('select', {
    id: 'state-filter', 'aria-label': 'Filter tasks by state',
    onchange: (e) => { filter.state = e.target.value; refresh(); },
  }, options.map(([value, text]) => h('option', { value, selected: value === filter.state }, text)));

  return {
    el: h('div', { class: 'page' }, h('h1', {}, 'Tasks'), h('div', { class: 'filters' }, search, select, scope, count),
      results),
    update(store) {
      last = { state: store.state, now: store.masterNow() };
      refresh();
    },
  };
}
