// #/tasks/FRAMEWORK/TASK: one task, and its stdout and stderr read from its
// agent's sandbox (GET /files/browse and /files/download), followed while
// the task runs: each read asks for the bytes after the last offset read.
import { SandboxAccess, agentUrl, findTask, indexBy, newestSandboxRun, readSandboxBytes } from '../api.js';
import {
  bytes, dateTime, details, duration, h, num, resourceText, section, show, stateBadge, TERMINAL_STATES,
} from '../dom.js';
import { link } from '../router.js';

const CHUNK_BYTES = 256 * 1024;    // at most this much per read
const TAIL_BYTES = 256 * 1024;     // a longer file shows its end
const MAX_SHOWN_CHARS = 2 * 1024 * 1024;  // older text goes past this
const FOLLOW_INTERVAL_MS = 1000;
const SANDBOX_RETRY_MS = 1000;

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});

// Follows one sandbox file into a <pre>: reads from the end of what it has
// shown, appends, and reads again until told the task has ended and a read
// has found nothing more.
class FileFollower {
  constructor(name) {
    this.name = name;
    this.pre = h('pre', { class: 'log', id: `${name}-log`, tabindex: '0', 'aria-label': name });
    this.state = h('span', { class: 'muted log-state' }, 'waiting for the sandbox…');
    this.download = h('span');
    this.el = h('section', { class: 'panel log-panel' },
      h('div', { class: 'log-head' }, h('h2', {}, name), this.state, this.download), this.pre);
    this.decoder = new TextDecoder('utf-8');
    this.offset = 0;
    this.ended = false;  // set once the task has ended
  }

  note(text) {
    show(this.state, text);
  }

  async follow(access, path, signal) {
    show(this.download, h('a', {
      href: await access.url('download', `path=${encodeURIComponent(path)}`), target: '_blank', rel: 'noopener',
    }, 'raw'));
    const { size } = await readSandboxBytes(access, path, 0, 0, signal);
    if (size > TAIL_BYTES) {
      this.offset = size - TAIL_BYTES;
      this.pre.append(`… the first ${bytes(this.offset)} are left out (raw has all of it)\n`);
    }
    let drained = false;
    while (!signal.aborted) {
      const { data, size: now } = await readSandboxBytes(access, path, this.offset, CHUNK_BYTES, signal);
      this.append(this.decoder.decode(data, { stream: true }));
      this.offset += data.length;
      this.note(`${bytes(now)}${this.ended ? '' : ' · following'}`);
      if (data.length === CHUNK_BYTES) continue;  // more is there already
      // One last read after the end is known catches what the task wrote last.
      if (this.ended && drained) return;
      drained = this.ended;
      await sleep(FOLLOW_INTERVAL_MS, signal);
    }
  }

  append(text) {
    if (!text) return;
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    this.pre.append(text);
    if (this.pre.textContent.length > MAX_SHOWN_CHARS) {
      this.pre.textContent = this.pre.textContent.slice(-MAX_SHOWN_CHARS / 2);
    }
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }
}

function taskDetails(task, state, now) {
  const agent = indexBy(state.agents).get(task.agent_id);
  const framework = indexBy(state.frameworks).get(task.framework_id);
  const usage = task.usage;
  return details([
    ['State', stateBadge(task.state)],
    ['Reason', task.status_reason && task.status_reason !== 'REASON_NONE' ? h('code', {}, task.status_reason) : ''],
    ['Message', task.status_message],
    ['Name', task.name],
    ['Framework', framework ? [framework.name, h('span', { class: 'muted' }, ` (${framework.id}, role ${framework.role})`)]
      : task.framework_id],
    ['Agent', agent ? h('a', { href: link(['agents', agent.id]) }, `${agent.hostname} (${agent.id})`) : task.agent_id],
    ['Created', task.created_time ? `${dateTime(task.created_time)} (${duration(now - task.created_time)} ago)` : ''],
    ['Resources', resourceText(task.resources)],
    ['Usage', usage ? `${num(usage.cpu_seconds)} cpu seconds · ${bytes(usage.mem_bytes)} memory ` +
      `(peak ${bytes(usage.mem_peak_bytes)}) · ${usage.processes} process(es)` : ''],
    ['Image', task.docker?.image],
  ]);
}

export function create(frameworkId, taskId) {
  const summary = h('div', {}, h('p', { class: 'loading' }, 'Waiting for the master…'));
  const followers = [new FileFollower('stdout'), new FileFollower('stderr')];
  const controller = new AbortController();
  let started = false;
  let latest = null;  // the task as the master last listed it

  // Finds the sandbox (it appears once the agent starts the task), then
  // follows both files until the task has ended.
  const start = async (agentHttp) => {
    const access = new SandboxAccess(agentHttp, frameworkId, taskId);
    let run = null;
    while (!controller.signal.aborted && run === null) {
      try {
        run = await newestSandboxRun(access);
      } catch (e) {
        for (const f of followers) f.note(`cannot read the sandbox from ${agentHttp}: ${e.message}`);
      }
      if (run === null) {
        if (latest && TERMINAL_STATES.has(latest.state)) {
          for (const f of followers) {
            f.note('no sandbox on its agent: the task ended before it started, or its sandbox was removed');
          }
          return;
        }
        await sleep(SANDBOX_RETRY_MS, controller.signal);
      }
    }
    await Promise.all(followers.map(async (f) => {
      try {
        await f.follow(access, `${run}/${f.name}`, controller.signal);
      } catch (e) {
        if (!controller.signal.aborted) f.note(`cannot read ${f.name} from ${agentHttp}: ${e.message}`);
      }
    }));
  };

  const title = h('h1', {}, 'Task ', h('span', { class: 'task-id' }, taskId));
  return {
    el: h('div', { class: 'page' }, title, section('Details', summary), h('div', { class: 'logs' },
      followers.map((f) => f.el))),
    update(store) {
      const task = findTask(store.state, frameworkId, taskId);
      if (!task) {
        show(summary, h('p', {}, `The master does not list task ${taskId} of framework ${frameworkId}. `,
          'It keeps the tasks of connected frameworks and the last ended ones; see ',
          h('a', { href: link(['events'], { q: taskId }) }, 'its events'), '.'));
        return;
      }
      latest = task;
      show(summary, taskDetails(task, store.state, store.masterNow()));
      if (TERMINAL_STATES.has(task.state)) for (const f of followers) f.ended = true;
      const agentHttp = agentUrl(indexBy(store.state.agents).get(task.agent_id));
      if (!started && agentHttp) {
        started = true;
        start(agentHttp);
      } else if (!agentHttp && !started) {
        for (const f of followers) f.note('its agent is not registered: no output to read');
      }
    },
    destroy() {
      controller.abort();
    },
  };
}
