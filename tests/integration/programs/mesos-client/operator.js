// Drives a master's Mesos v1 operator API (POST /api/v1) with
// @dcos/mesos-client, the npm package DC/OS's UI used against Apache Mesos:
// a client nobody at Clusternodes wrote. Under node it needs an
// XMLHttpRequest, which xhr2 gives it.
//
//   node operator.js http://127.0.0.1:8081
//
// Expects the cluster the test set up: one agent, and a framework in role
// "eng" with one task running. Prints one JSON object of what it saw, or
// exits 1 with the first check that failed.
"use strict";

global.XMLHttpRequest = require("xhr2");
const { request } = require("@dcos/mesos-client");

const master = process.argv[2];
const url = master + "/api/v1";

function call(body) {
  return new Promise((resolve, reject) => {
    request(body, url).subscribe(
      (text) => resolve(text === "" ? null : JSON.parse(text)),
      (error) => reject(new Error(body.type + ": " + (error.message || error.response || JSON.stringify(error))))
    );
  });
}

function check(condition, what) {
  if (!condition) throw new Error(what);
}

async function main() {
  const seen = {};

  const health = await call({ type: "GET_HEALTH" });
  check(health.type === "GET_HEALTH" && health.get_health.healthy === true, "GET_HEALTH: " + JSON.stringify(health));

  const version = await call({ type: "GET_VERSION" });
  seen.version = version.get_version.version_info.version;
  check(seen.version.length > 0, "GET_VERSION has no version");

  const info = await call({ type: "GET_MASTER" });
  seen.master_id = info.get_master.master_info.id;
  check(info.get_master.start_time > 0, "GET_MASTER has no start_time");

  const flags = await call({ type: "GET_FLAGS" });
  const names = flags.get_flags.flags.map((f) => f.name);
  check(names.includes("work-dir") && names.includes("http-port"), "GET_FLAGS: " + names.join(","));

  const agents = await call({ type: "GET_AGENTS" });
  check(agents.get_agents.agents.length === 1, "GET_AGENTS: " + agents.get_agents.agents.length + " agents");
  const agent = agents.get_agents.agents[0];
  const cpus = agent.total_resources.find((r) => r.name === "cpus");
  check(cpus && cpus.scalar.value === 2, "the agent's cpus: " + JSON.stringify(cpus));
  seen.agent_id = agent.agent_info.id.value;

  const frameworks = await call({ type: "GET_FRAMEWORKS" });
  const fw = frameworks.get_frameworks.frameworks.find((f) => f.framework_info.name === "launch-tasks");
  check(fw && fw.connected === true && fw.active === true, "GET_FRAMEWORKS: " + JSON.stringify(frameworks));
  check(fw.framework_info.roles.includes("eng"), "the framework's roles: " + fw.framework_info.roles);
  seen.framework_id = fw.framework_info.id.value;

  const tasks = await call({ type: "GET_TASKS" });
  const running = tasks.get_tasks.tasks.filter((t) => t.state === "TASK_RUNNING");
  check(running.length === 1, "GET_TASKS: " + JSON.stringify(tasks.get_tasks));
  check(running[0].framework_id.value === seen.framework_id, "the task's framework");
  check(running[0].agent_id.value === seen.agent_id, "the task's agent");
  seen.task_id = running[0].task_id.value;

  const state = await call({ type: "GET_STATE" });
  const s = state.get_state;
  check(s.get_agents.agents.length === 1 && s.get_frameworks.frameworks.length === 1 &&
        s.get_tasks.tasks.length === 1, "GET_STATE: " + JSON.stringify(s).slice(0, 400));

  const roles = await call({ type: "GET_ROLES" });
  const eng = roles.get_roles.roles.find((r) => r.name === "eng");
  check(eng && eng.frameworks.some((f) => f.value === seen.framework_id), "GET_ROLES: " + JSON.stringify(roles));

  check((await call({ type: "UPDATE_WEIGHTS", update_weights: { weight_infos: [{ role: "eng", weight: 3 }] } })) === null,
        "UPDATE_WEIGHTS answered a body");
  const weights = await call({ type: "GET_WEIGHTS" });
  const engWeight = weights.get_weights.weight_infos.find((w) => w.role === "eng");
  check(engWeight && engWeight.weight === 3, "GET_WEIGHTS after UPDATE_WEIGHTS: " + JSON.stringify(weights));
  seen.weight = engWeight.weight;

  await call({ type: "UPDATE_QUOTA", update_quota: { quota_configs: [
    { role: "eng", guarantees: { cpus: { value: 1 } }, limits: { cpus: { value: 2 }, mem: { value: 512 } } }] } });
  const quota = await call({ type: "GET_QUOTA" });
  const config = quota.get_quota.status.configs.find((c) => c.role === "eng");
  check(config && config.guarantees.cpus.value === 1 && config.limits.mem.value === 512,
        "GET_QUOTA after UPDATE_QUOTA: " + JSON.stringify(quota));
  seen.quota = config;

  // A call the master refuses is an error to the client, with Mesos's message.
  try {
    await call({ type: "UPDATE_QUOTA", update_quota: { quota_configs: [
      { role: "eng", guarantees: { cpus: { value: 4 } }, limits: { cpus: { value: 2 } } }] } });
    check(false, "a guarantee above its limit was accepted");
  } catch (error) {
    seen.refused = error.message;
  }
  return seen;
}

main().then(
  (seen) => console.log(JSON.stringify(seen)),
  (error) => {
    console.error("operator.js: " + error.message);
    process.exit(1);
  }
);
