// What the UI knows of the cluster: the master's /state and its last events
// (/api/v1/events), polled every couple of seconds, and task output read from
// the agents' /files endpoints. A master standing by (masters elected through
// ZooKeeper) has no cluster to show: its /state says who leads instead.

const REQUEST_TIMEOUT_MS = 5000;
const KEPT_EVENTS = 500;

// ---------------------------------------------------------------- the master's token

// A master started with --http-authenticate=all answers reads only with a
// bearer token. The UI asks for one and keeps it for this tab only
// (sessionStorage), sending it to the master alone: the agents' files are
// read with sandbox tokens (SandboxAccess).
const TOKEN_KEY = 'clusternodes-token';

export function setMasterToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function hasMasterToken() {
  return Boolean(sessionStorage.getItem(TOKEN_KEY));
}

function masterHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// GET `url` as JSON; throws an Error that says what went wrong, with the
// HTTP status as `status` when there was one.
export async function getJson(url, headers = {}) {
  let response;
  try {
    response = await fetch(url, { cache: 'no-store', headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (e) {
    throw new Error(e.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : e.message);
  }
  const body = await response.text();
  let json;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  if (!response.ok || json === undefined) {
    const error = new Error(json?.error ?? `HTTP ${response.status}${response.ok ? ': not JSON' : ''}`);
    error.status = response.status;
    throw error;
  }
  return json;
}

// Polls the master and tells subscribers what it knows after every poll:
// {state, standby, events, error, updatedAt, masterNow()}. While the master
// stands by, `standby` is its /state ({leading: false, zk, leader_info}) and
// `state` is null. After a failed poll the last good state stays, with
// `error` set.
export class MasterStore {
  constructor(intervalMs = 2000) {
    this.intervalMs = intervalMs;
    this.state = null;
    this.standby = null;
    this.events = [];        // oldest first, at most KEPT_EVENTS
    this.lastSequence = 0;
    this.capacity = KEPT_EVENTS;  // how many events the master keeps
    this.masterId = null;
    this.error = null;
    this.needsToken = false; // the master answered 401: it wants a token
    this.updatedAt = null;   // browser time of the last good poll (ms)
    this.skewSeconds = 0;    // master clock minus browser clock
    this.listeners = new Set();
    this.timer = null;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start() {
    const tick = async () => {
      await this.poll();
      this.timer = setTimeout(tick, this.intervalMs);
    };
    tick();
  }

  // The master's clock now, in seconds: task ages are measured with it.
  masterNow() {
    return Date.now() / 1000 + this.skewSeconds;
  }

  async poll() {
    try {
      const state = await getJson('/state', masterHeaders());
      if (state.leading === false) {
        // A standby redirects the events API to the leader: ask nothing more.
        this.standby = state;
        this.state = null;
        this.masterId = null;
      } else {
        const since = this.lastSequence;
        const events = await getJson(`/api/v1/events?since=${since}`, masterHeaders());
        if (!this.takeEvents(events, since)) {
          this.takeEvents(await getJson('/api/v1/events?since=0', masterHeaders()), 0);
        }
        this.standby = null;
        this.state = state;
      }
      this.error = null;
      this.needsToken = false;
      this.updatedAt = Date.now();
    } catch (e) {
      this.error = e.message || String(e);
      this.needsToken = e.status === 401;
    }
    for (const listener of this.listeners) listener(this);
  }

  // Keeps the new events of an answer to ?since=`since`. False when the
  // answer comes from another master (a restart or a failover) while
  // `since` counted the old one's events: then ask again from 0.
  takeEvents(answer, since) {
    if (answer.master_id !== this.masterId) {
      this.masterId = answer.master_id;
      this.events = [];
      this.lastSequence = 0;
      if (since > 0) return false;
    }
    this.skewSeconds = answer.time - Date.now() / 1000;
    this.capacity = answer.capacity;
    for (const event of answer.events) {
      if (event.sequence > this.lastSequence) this.events.push(event);
    }
    this.lastSequence = Math.max(this.lastSequence, answer.last_sequence);
    if (this.events.length > KEPT_EVENTS) this.events.splice(0, this.events.length - KEPT_EVENTS);
    return true;
  }
}

// ---------------------------------------------------------------- cluster views

// "http://ip:port" of the leading master as /state's leader_info names it
// (its url, else its ip and HTTP port, also in Mesos's MasterInfo shape);
// null when no master leads.
export function leaderUrl(info) {
  if (!info) return null;
  if (info.url) return info.url;
  const ip = info.ip ?? info.address?.ip;
  const port = info.http_port ?? info.address?.port;
  return ip && port ? `http://${ip}:${port}` : null;
}

// Every task the master lists, running and completed, newest first; each
// with `completed` set for those the master keeps as ended.
export function allTasks(state) {
  const tasks = [
    ...(state?.tasks ?? []).map((t) => ({ ...t, completed: false })),
    ...(state?.completed_tasks ?? []).map((t) => ({ ...t, completed: true })),
  ];
  return tasks.sort((a, b) => (b.created_time ?? 0) - (a.created_time ?? 0));
}

export function indexBy(list, key = 'id') {
  return new Map((list ?? []).map((item) => [item[key], item]));
}

// The task `taskId` of framework `frameworkId`: the active one, else the
// newest that ended.
export function findTask(state, frameworkId, taskId) {
  const match = (t) => t.id === taskId && t.framework_id === frameworkId;
  const active = (state?.tasks ?? []).find(match);
  if (active) return { ...active, completed: false };
  const ended = (state?.completed_tasks ?? []).filter(match);
  if (!ended.length) return null;
  return { ...ended.reduce((a, b) => ((b.created_time ?? 0) >= (a.created_time ?? 0) ? b : a)), completed: true };
}

// ---------------------------------------------------------------- agents' files

// "http://host:port" (https:// for an agent serving TLS) of an agent as
// /state lists it.
export function agentUrl(agent) {
  if (agent?.http_url) return agent.http_url;
  return agent?.http_address ? `http://${agent.http_address}` : null;
}

// How long the UI uses a sandbox token the master signed (they last five
// minutes; the browser's clock need not agree with the master's).
const SANDBOX_TOKEN_USE_MS = 3 * 60 * 1000;
const SANDBOX_TOKEN_RETRY_MS = 10 * 1000;

// Reads one task's sandbox on its agent. The master signs a short-lived
// token for it (GET /api/v1/sandbox-token), sent with each request as
// ?token=: a header would make every cross-origin read wait for a CORS
// preflight. An agent that needs no credential ignores it, and without a
// token (a master that signs none) the reads go without.
export class SandboxAccess {
  constructor(agentHttp, frameworkId, taskId) {
    this.agentHttp = agentHttp;
    this.frameworkId = frameworkId;
    this.taskId = taskId;
    this.token = null;
    this.renewAt = 0;  // browser time (ms)
  }

  // The URL of /files/ENDPOINT?QUERY with a token that has minutes left.
  async url(endpoint, query) {
    if (Date.now() >= this.renewAt) {
      const ask = `/api/v1/sandbox-token?framework_id=${encodeURIComponent(this.frameworkId)}` +
        `&task_id=${encodeURIComponent(this.taskId)}`;
      try {
        this.token = (await getJson(ask, masterHeaders())).token;
        this.renewAt = Date.now() + SANDBOX_TOKEN_USE_MS;
      } catch {
        this.token = null;
        this.renewAt = Date.now() + SANDBOX_TOKEN_RETRY_MS;
      }
    }
    const token = this.token ? `&token=${encodeURIComponent(this.token)}` : '';
    return `${this.agentHttp}/files/${endpoint}?${query}${token}`;
  }
}

// The newest run directory of a task's sandbox on its agent, relative to the
// agent's sandboxes ("FRAMEWORK/TASK/RUN"), as `clusternodes logs` finds it;
// null while there is none yet.
export async function newestSandboxRun(access) {
  const dir = `${access.frameworkId}/${access.taskId}`;
  let listing;
  try {
    listing = await getJson(await access.url('browse', `path=${encodeURIComponent(dir)}`));
  } catch (e) {
    if (/no such file/.test(e.message)) return null;
    throw e;
  }
  let best = null;
  for (const entry of listing.entries ?? []) {
    if (!entry.is_dir) continue;
    // Entries come sorted by name: among equal times the last one wins.
    if (best === null || entry.mtime >= best.mtime) best = entry;
  }
  return best ? `${dir}/${best.name}` : null;
}

// Up to `length` raw bytes of a sandbox file from `offset`, and the file's
// whole size.
export async function readSandboxBytes(access, path, offset, length, signal) {
  const url = await access.url('download', `path=${encodeURIComponent(path)}&offset=${offset}&length=${length}`);
  const response = await fetch(url, { cache: 'no-store', signal });
  if (!response.ok) {
    let why = `HTTP ${response.status}`;
    try {
      why = (await response.json()).error ?? why;
    } catch {
      // not JSON: the status says enough
    }
    throw new Error(why);
  }
  const data = new Uint8Array(await response.arrayBuffer());
  const size = Number(response.headers.get('X-File-Size') ?? offset + data.length);
  return { data, size };
}
