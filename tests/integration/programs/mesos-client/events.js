// Follows a master's Mesos v1 operator event stream (SUBSCRIBE on
// POST /api/v1) with @dcos/mesos-client's stream(), which reads RecordIO
// with @dcos/recordio: the client DC/OS's UI followed Apache Mesos with.
//
//   node events.js http://127.0.0.1:8081
//
// Prints one JSON line per event, as it arrives, summing up what it is
// about; exits 1 if the stream fails, 0 if the master ends it.
"use strict";

// The client was written for browsers, whose XMLHttpRequest shows the body
// as it arrives (responseText grows on every progress event). xhr2 shows it
// only once the response ends, which a stream never does; this one shows
// it as it arrives, as a browser would.
const NodeXMLHttpRequest = require("xhr2");

class StreamingXMLHttpRequest extends NodeXMLHttpRequest {
  _onHttpResponseData(response, data) {
    if (this._response === response) {
      this._received = Buffer.concat([this._received || Buffer.alloc(0), data]);
      this.responseText = this._received.toString("utf8");
      this.response = this.responseText;
    }
    return super._onHttpResponseData(response, data);
  }
}
global.XMLHttpRequest = StreamingXMLHttpRequest;

const { stream } = require("@dcos/mesos-client");

function summary(event) {
  const out = { type: event.type };
  switch (event.type) {
    case "SUBSCRIBED": {
      const state = event.subscribed.get_state;
      out.agents = (state.get_agents.agents || []).length;
      out.frameworks = (state.get_frameworks.frameworks || []).length;
      out.tasks = (state.get_tasks.tasks || []).length;
      out.heartbeat_interval_seconds = event.subscribed.heartbeat_interval_seconds;
      break;
    }
    case "TASK_ADDED":
      out.task_id = event.task_added.task.task_id.value;
      out.framework_id = event.task_added.task.framework_id.value;
      out.state = event.task_added.task.state;
      break;
    case "TASK_UPDATED":
      out.task_id = event.task_updated.status.task_id.value;
      out.framework_id = event.task_updated.framework_id.value;
      out.state = event.task_updated.state;
      break;
    case "AGENT_ADDED": {
      const agent = event.agent_added.agent;
      out.agent_id = agent.agent_info.id.value;
      const cpus = agent.total_resources.find((r) => r.name === "cpus");
      out.cpus = cpus ? cpus.scalar.value : null;
      break;
    }
    case "AGENT_REMOVED":
      out.agent_id = event.agent_removed.agent_id.value;
      break;
    case "FRAMEWORK_ADDED":
    case "FRAMEWORK_UPDATED": {
      const framework = (event.framework_added || event.framework_updated).framework;
      out.framework_id = framework.framework_info.id.value;
      out.name = framework.framework_info.name;
      out.connected = framework.connected;
      break;
    }
    case "FRAMEWORK_REMOVED":
      out.framework_id = event.framework_removed.framework_info.id.value;
      out.name = event.framework_removed.framework_info.name;
      break;
  }
  return out;
}

stream({ type: "SUBSCRIBE" }, process.argv[2] + "/api/v1").subscribe(
  (record) => console.log(JSON.stringify(summary(JSON.parse(record)))),
  (error) => {
    console.error("events.js: the stream failed: " + JSON.stringify(error));
    process.exit(1);
  },
  () => process.exit(0)
);
