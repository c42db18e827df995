// #/agents: every agent with its health, resources (used and offered, as
// bars), attributes and task count; #/agents/ID: one agent in full, with its
// executors and tasks.
import { allTasks, agentUrl } from '../api.js';
import {
  addResources, badge, bar, dateTime, details, duration, h, portCount, resourceText, scalarKinds, section, show,
  table,
} from '../dom.js';
import { link } from '../router.js';
import { tasksTable } from './tasks.js';

export function health(agent, now) {
  if (agent.reachable) return badge('healthy', 'ok');
  const since = agent.unreachable_time ? ` for ${duration(now - agent.unreachable_time)}` : '';
  return badge(`unreachable${since}`, 'bad', agent.unreachable_time ? `since ${dateTime(agent.unreachable_time)}` : null);
}

function attributeChips(attributes) {
  const entries = Object.entries(attributes ?? {});
  if (!entries.length) return h('span', { class: 'muted' }, '—');
  return entries.map(([name, value]) => h('span', { class: 'chip' }, `${name}=${value}`));
}

function resourceBar(agent, kind) {
  if (kind === 'ports') {
    return bar('ports', {
      used: portCount(agent.used_resources?.ports), offered: portCount(agent.offered_resources?.ports),
      total: portCount(agent.resources?.ports),
    });
  }
  return bar(kind, {
    used: agent.used_resources?.[kind] ?? 0, offered: agent.offered_resources?.[kind] ?? 0,
    total: agent.resources?.[kind] ?? 0,
  });
}

function agentsTable(agents, now) {
  const kinds = scalarKinds(...agents.map((a) => a.resources));
  return table([
    {
      title: 'Agent',
      cell: (a) => [h('a', { href: link(['agents', a.id]), class: 'agent-host' }, a.hostname),
        h('div', { class: 'muted small agent-id' }, a.id)],
    },
    { title: 'Health', cell: (a) => health(a, now), class: 'nowrap' },
    ...kinds.map((kind) => ({ title: kind, cell: (a) => resourceBar(a, kind), class: 'bar-col' })),
    {
      title: 'Tasks',
      cell: (a) => h('a', { href: link(['tasks'], { agent: a.id }) }, String(a.task_count ?? 0)),
      class: 'num',
    },
    { title: 'Attributes', cell: (a) => attributeChips(a.attributes) },
  ], agents, 'No agents have registered.');
}

export function create() {
  const body = h('div', {}, h('p', { class: 'loading' }, 'Waiting for the master…'));
  const counts = h('span', { class: 'muted' });
  return {
    el: h('div', { class: 'page' }, h('div', { class: 'title-row' }, h('h1', {}, 'Agents'), counts), body),
    update(store) {
      const agents = [...(store.state.agents ?? [])].sort((a, b) => a.hostname.localeCompare(b.hostname)
        || a.id.localeCompare(b.id));
      const healthy = agents.filter((a) => a.reachable).length;
      show(counts, `${healthy} healthy · ${agents.length - healthy} unreachable`);
      show(body, h('div', { class: 'panel' }, agentsTable(agents, store.masterNow())));
    },
  };
}

function executorsTable(executors, frameworks) {
  return table([
    { title: 'Executor', cell: (e) => e.id },
    { title: 'Name', cell: (e) => e.name || '—' },
    { title: 'Framework', cell: (e) => frameworks.get(e.framework_id)?.name ?? e.framework_id },
    { title: 'Resources', cell: (e) => resourceText(e.resources) },
  ], executors);
}

function agentPage(agent, state, now) {
  const kinds = scalarKinds(agent.resources);
  if (agent.resources?.ports) kinds.push('ports');
  const frameworks = new Map((state.frameworks ?? []).map((f) => [f.id, f]));
  const tasks = allTasks(state).filter((t) => t.agent_id === agent.id);
  const total = addResources({}, agent.resources);
  return [
    section('Details', details([
      ['Health', health(agent, now)],
      ['Id', agent.id],
      ['Hostname', agent.hostname],
      ['HTTP', h('a', { href: `${agentUrl(agent)}/state`, target: '_blank', rel: 'noopener' }, agent.http_address)],
      ['Registered', agent.registered_time ? `${dateTime(agent.registered_time)} (${duration(now - agent.registered_time)} ago)` : ''],
      ['Resources', resourceText(agent.resources)],
      ['Ports', agent.resources?.ports ? `${agent.resources.ports} (${total.ports} ports)` : ''],
    ])),
    section('Resources', h('div', { class: 'resource-grid' }, kinds.map((kind) => [
      h('div', { class: 'kind' }, kind), resourceBar(agent, kind)]))),
    section('Attributes', Object.keys(agent.attributes ?? {}).length
      ? table([{ title: 'Name', cell: ([n]) => n }, { title: 'Value', cell: ([, v]) => v }],
        Object.entries(agent.attributes))
      : h('p', { class: 'muted' }, 'No attributes.')),
    agent.executors?.length ? section('Executors', executorsTable(agent.executors, frameworks)) : null,
    section(`Tasks (${tasks.length})`, tasksTable(tasks, state, now, { showAgent: false, empty: 'No tasks here.' })),
  ];
}

export function createAgent(agentId) {
  const title = h('h1', {}, 'Agent ', h('span', { class: 'muted' }, agentId));
  const body = h('div', {}, h('p', { class: 'loading' }, 'Waiting for the master…'));
  return {
    el: h('div', { class: 'page' }, title, body),
    update(store) {
      const agent = (store.state.agents ?? []).find((a) => a.id === agentId);
      if (!agent) {
        show(body, h('p', {}, `The master does not list agent ${agentId}: it may have been removed. See `,
          h('a', { href: link(['events'], { q: agentId }) }, 'its events'), '.'));
        return;
      }
      show(title, 'Agent ', agent.hostname);
      show(body, agentPage(agent, store.state, store.masterNow()));
    },
  };
}
