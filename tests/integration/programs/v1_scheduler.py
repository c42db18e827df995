#!/usr/bin/env python3
"""A scheduler for the Mesos v1 scheduler HTTP API, written from Apache
Mesos's public documents (docs/scheduler-http-api.md, docs/recordio.md and
the field names of include/mesos/v1/*.proto), with Python's standard library
only. It knows nothing of Clusternodes: the integration tests run it against
a Clusternodes master to show that such a scheduler works unchanged.

    v1_scheduler.py --master http://127.0.0.1:8081 --scenario launch

Each scenario checks what a Mesos scheduler relies on and prints one JSON
object of what it saw; it exits 1 with a line saying what went wrong.
"""

import argparse
import base64
import getpass
import http.client
import json
import queue
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid

SCHEDULER_PATH = "/api/v1/scheduler"


class Failure(Exception):
    pass


class Timeout(Failure):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Master:
    def __init__(self, url, timeout=30):
        parsed = urllib.parse.urlparse(url)
        self.host = parsed.hostname
        self.port = parsed.port or 5050
        self.timeout = timeout

    def connection(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def post(self, body, headers):
        """One call on a connection of its own: (status, headers, body)."""
        conn = self.connection()
        try:
            conn.request("POST", SCHEDULER_PATH, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


class RecordIO:
    """Reads RecordIO records ("<length>\\n<bytes>") from a streaming response."""

    def __init__(self, response):
        self.response = response
        self.buffer = b""

    def _fill(self):
        more = self.response.read1(65536)
        if not more:
            raise EOFError("the event stream ended")
        self.buffer += more

    def next(self):
        while b"\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\n", 1)
        check(line.isdigit(), "a RecordIO size line that is not a number: %r" % line[:40])
        size = int(line)
        while len(self.buffer) < size:
            self._fill()
        record, self.buffer = self.buffer[:size], self.buffer[size:]
        return record


class Subscription:
    """A SUBSCRIBE call's stream of JSON events and the calls made beside it."""

    def __init__(self, master, framework_info, framework_id=None, suppressed_roles=None):
        self.master = master
        self.framework_info = framework_info
        call = {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info}}
        if suppressed_roles:
            call["subscribe"]["suppressed_roles"] = suppressed_roles
        if framework_id:
            call["framework_id"] = {"value": framework_id}
        self.conn = master.connection()
        self.conn.connect()
        self.sock = self.conn.sock  # the response reads it after the connection lets go
        self.conn.request("POST", SCHEDULER_PATH, body=json.dumps(call),
                          headers={"Content-Type": "application/json", "Accept": "application/json",
                                   "Connection": "close"})
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raise Failure("SUBSCRIBE answered %d: %s" % (self.response.status, self.response.read().decode()))
        check(self.response.getheader("Content-Type", "").startswith("application/json"),
              "the SUBSCRIBE response is not JSON: %s" % self.response.getheader("Content-Type"))
        check(self.response.getheader("Transfer-Encoding", "") == "chunked", "the event stream is not chunked")
        self.stream_id = self.response.getheader("Mesos-Stream-Id")
        check(self.stream_id and len(self.stream_id) <= 128, "no usable Mesos-Stream-Id: %r" % self.stream_id)
        self.records = RecordIO(self.response)
        self.heartbeats = 0
        self.pending = []  # events read while waiting for others
        # A thread reads the stream, so that waiting for an event can time
        # out without spoiling the response (a read that times out does).
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.next_event()
        check(first["type"] == "SUBSCRIBED", "the stream began with %s, not SUBSCRIBED" % first["type"])
        self.framework_id = first["subscribed"]["framework_id"]["value"]
        self.heartbeat_interval = first["subscribed"].get("heartbeat_interval_seconds")
        self.master_info = first["subscribed"].get("master_info")

    def _read(self):
        try:
            while True:
                record = self.records.next()
                try:
                    self.events.put(json.loads(record))
                except ValueError:
                    raise Failure("an event that is not JSON: %r" % record[:80])
        except Exception as end:  # EOFError at the end of the stream; OSError once closed here
            self.events.put(end)

    def next_event(self, deadline=None):
        """The next event but heartbeats (counted); Failure when `deadline` passes first, EOFError at the end."""
        if self.pending:
            return self.pending.pop(0)
        while True:
            timeout = None if deadline is None else deadline - time.time()
            if timeout is not None and timeout <= 0:
                raise Timeout("timed out waiting for an event")
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                raise Timeout("timed out waiting for an event")
            if isinstance(event, Exception):
                self.events.put(event)  # it stays ended
                if isinstance(event, Failure):
                    raise event
                raise EOFError("the event stream ended: %s" % (event or type(event).__name__))
            if event.get("type") == "HEARTBEAT":
                self.heartbeats += 1
                continue
            return event

    def wait_for(self, predicate, what, timeout=60):
        """The first event that `predicate` accepts; others are kept for later."""
        deadline = time.time() + timeout
        skipped = []
        try:
            while True:
                try:
                    event = self.next_event(deadline)
                except Timeout:
                    raise Timeout("timed out after %ds waiting for %s" % (timeout, what))
                if predicate(event):
                    return event
                skipped.append(event)
        finally:
            self.pending = skipped + self.pending

    def ends_within(self, seconds):
        """Whether the stream ends (after any events still on it) within `seconds`."""
        deadline = time.time() + seconds
        try:
            while True:
                self.next_event(deadline)
        except EOFError:
            return True
        except Timeout:
            return False

    def call(self, call, stream_id=None, content_type="application/json"):
        headers = {"Content-Type": content_type, "Mesos-Stream-Id": stream_id or self.stream_id}
        return self.master.post(json.dumps(call), headers)

    def must(self, call):
        status, _, body = self.call(call)
        check(status == 202, "%s answered %d, not 202: %s" % (call["type"], status, body.decode()))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
        except OSError:
            pass
        self.response.close()
        self.sock.close()

    # ---- helpers on top of the calls

    def offer(self, timeout=60):
        event = self.wait_for(lambda e: e["type"] == "OFFERS" and e["offers"]["offers"], "an offer", timeout)
        offers = event["offers"]["offers"]
        for extra in offers[1:]:
            self.must({"framework_id": {"value": self.framework_id}, "type": "DECLINE",
                       "decline": {"offer_ids": [extra["id"]], "filters": {"refuse_seconds": 1}}})
        return offers[0]

    def launch(self, offer, task_id, command=None, container=None, cpus=0.1, mem=32):
        resources = []
        for name, amount in (("cpus", cpus), ("mem", mem)):
            resource = {"name": name, "type": "SCALAR", "scalar": {"value": amount}}
            if "allocation_info" in offer:
                resource["allocation_info"] = offer["allocation_info"]
            resources.append(resource)
        task = {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
                "resources": resources}
        if command is not None:
            task["command"] = command
        if container is not None:
            task["container"] = container
        self.must({"framework_id": {"value": self.framework_id}, "type": "ACCEPT",
                   "accept": {"offer_ids": [offer["id"]],
                              "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
                              "filters": {"refuse_seconds": 1}}})

    def acknowledge(self, status):
        if "uuid" in status:  # updates without one need no acknowledgement
            self.must({"framework_id": {"value": self.framework_id}, "type": "ACKNOWLEDGE",
                       "acknowledge": {"agent_id": status["agent_id"], "task_id": status["task_id"],
                                       "uuid": status["uuid"]}})

    def update(self, task_id, states, timeout=60):
        """The next status update of `task_id` in `states`, acknowledging every update it reads."""
        seen = []

        def wanted(event):
            if event["type"] != "UPDATE" or event["update"]["status"]["task_id"]["value"] != task_id:
                return False
            status = event["update"]["status"]
            self.acknowledge(status)
            seen.append(status["state"])
            return status["state"] in states

        try:
            return self.wait_for(wanted, "%s of task %s" % ("/".join(states), task_id), timeout)["update"]["status"]
        except Failure as failure:
            raise Failure("%s (it went %s)" % (failure, " -> ".join(seen) or "nowhere"))

    def teardown(self):
        self.must({"framework_id": {"value": self.framework_id}, "type": "TEARDOWN"})


def framework(name, **extra):
    info = {"user": getpass.getuser(), "name": name}
    info.update(extra)
    return info


TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
            "TASK_GONE")

# ---- scenarios


def scenario_launch(master, args):
    s = Subscription(master, framework("v1-launch"))
    check(s.heartbeat_interval and s.heartbeat_interval > 0, "SUBSCRIBED has no heartbeat interval")
    check(s.master_info and s.master_info.get("id"), "SUBSCRIBED has no master_info")
    offer = s.offer()
    names = {r["name"] for r in offer["resources"]}
    check({"cpus", "mem"} <= names, "the offer holds no cpus and mem: %s" % sorted(names))
    s.launch(offer, "hello", command={"shell": True, "value": "echo hello-from-a-mesos-scheduler"})
    running = s.update("hello", ["TASK_RUNNING"] + list(TERMINAL))
    finished = s.update("hello", TERMINAL) if running["state"] == "TASK_RUNNING" else running
    check(finished["state"] == "TASK_FINISHED", "the task ended %s: %s" % (finished["state"], finished.get("message")))
    check(finished.get("source") == "SOURCE_EXECUTOR", "TASK_FINISHED came from %s" % finished.get("source"))
    s.teardown()
    return {"framework_id": s.framework_id, "agent_id": offer["agent_id"]["value"], "states": [running["state"],
                                                                                              finished["state"]]}


def scenario_docker(master, args):
    s = Subscription(master, framework("v1-docker"))
    offer = s.offer()
    s.launch(offer, "in-docker", command={"shell": True, "value": "echo hello-from-docker"},
             container={"type": "DOCKER", "docker": {"image": args.image, "network": "HOST"}}, mem=64)
    ended = s.update("in-docker", TERMINAL, timeout=120)
    check(ended["state"] == "TASK_FINISHED", "the Docker task ended %s: %s" % (ended["state"], ended.get("message")))
    s.teardown()
    return {"framework_id": s.framework_id, "state": ended["state"]}


def scenario_kill(master, args):
    s = Subscription(master, framework("v1-kill"))
    s.launch(s.offer(), "sleeper", command={"shell": True, "value": "sleep 300"})
    s.update("sleeper", ["TASK_RUNNING"])
    s.must({"framework_id": {"value": s.framework_id}, "type": "KILL",
            "kill": {"task_id": {"value": "sleeper"}, "kill_policy": {"grace_period": {"nanoseconds": 2000000000}}}})
    killed = s.update("sleeper", TERMINAL)
    check(killed["state"] == "TASK_KILLED", "the killed task ended %s" % killed["state"])
    s.teardown()
    return {"framework_id": s.framework_id, "state": killed["state"]}


def scenario_reconcile(master, args):
    s = Subscription(master, framework("v1-reconcile", capabilities=[{"type": "PARTITION_AWARE"}]))
    offer = s.offer()
    s.launch(offer, "kept", command={"shell": True, "value": "sleep 300"})
    s.update("kept", ["TASK_RUNNING"])
    fid = {"value": s.framework_id}
    # Explicit: a task the master knows, and one it never saw.
    s.must({"framework_id": fid, "type": "RECONCILE",
            "reconcile": {"tasks": [{"task_id": {"value": "kept"}, "agent_id": offer["agent_id"]},
                                    {"task_id": {"value": "never-launched"}}]}})
    known = s.update("kept", ["TASK_RUNNING"])
    unknown = s.update("never-launched", ["TASK_UNKNOWN", "TASK_LOST", "TASK_GONE", "TASK_DROPPED"])
    for status in (known, unknown):
        check(status.get("reason") == "REASON_RECONCILIATION", "a reconciliation update with reason %s" %
              status.get("reason"))
        check("uuid" not in status, "a reconciliation update asks for an acknowledgement")
    # Implicit: every task of the framework.
    s.must({"framework_id": fid, "type": "RECONCILE", "reconcile": {}})
    implicit = s.update("kept", ["TASK_RUNNING"])
    s.teardown()
    return {"framework_id": s.framework_id, "known": known["state"], "unknown": unknown["state"],
            "implicit": implicit["state"]}


def scenario_failover(master, args):
    info = framework("v1-failover", failover_timeout=60)
    first = Subscription(master, info)
    fid = first.framework_id
    first.launch(first.offer(), "survivor", command={"shell": True, "value": "sleep 300"})
    first.update("survivor", ["TASK_RUNNING"])
    first.close()  # the scheduler goes away; its tasks wait out the failover timeout
    time.sleep(1)
    info["id"] = {"value": fid}
    second = Subscription(master, info, framework_id=fid)
    check(second.framework_id == fid, "failed over to framework %s, not %s" % (second.framework_id, fid))
    second.must({"framework_id": {"value": fid}, "type": "RECONCILE", "reconcile": {}})
    survivor = second.update("survivor", ["TASK_RUNNING"] + list(TERMINAL))
    check(survivor["state"] == "TASK_RUNNING", "after the failover the task is %s" % survivor["state"])
    # A third scheduler takes over while the second is still connected: the
    # second hears so and its stream ends.
    third = Subscription(master, info, framework_id=fid)
    error = second.wait_for(lambda e: e["type"] == "ERROR", "an ERROR on the replaced stream")
    check(second.ends_within(10), "the replaced stream stayed open")
    third.teardown()
    check(third.ends_within(10), "TEARDOWN left the stream open")
    return {"framework_id": fid, "after_failover": survivor["state"], "replaced": error["error"]["message"]}


def scenario_heartbeats(master, args):
    s = Subscription(master, framework("v1-heartbeats"))
    interval = s.heartbeat_interval
    deadline = time.time() + 3 * interval + 0.5
    try:
        while True:
            s.next_event(deadline)
    except Timeout:
        pass
    check(s.heartbeats >= 2, "%d HEARTBEAT events in %.1fs with an interval of %ss" %
          (s.heartbeats, 3 * interval + 0.5, interval))
    s.teardown()
    return {"interval": interval, "heartbeats": s.heartbeats}


def offers_within(s, seconds):
    """The offers that arrive within `seconds`, each declined again at once (refused for 0.2 s)."""
    deadline = time.time() + seconds
    seen = []
    while True:
        try:
            event = s.wait_for(lambda e: e["type"] == "OFFERS", "offers", max(deadline - time.time(), 0.01))
        except Timeout:
            return seen
        for offer in event["offers"]["offers"]:
            seen.append(offer)
            s.must({"framework_id": {"value": s.framework_id}, "type": "DECLINE",
                    "decline": {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 0.2}}})


def roles_of(offers):
    return sorted({o.get("allocation_info", {}).get("role") for o in offers})


def scenario_roles(master, args):
    info = framework("v1-roles", roles=["r1", "r2"], capabilities=[{"type": "MULTI_ROLE"}])
    s = Subscription(master, info, suppressed_roles=["r1"])
    fid = {"value": s.framework_id}
    seen = {"subscribed suppressing r1": roles_of(offers_within(s, 3))}
    # SUPPRESS of r2 too: nothing is offered.
    s.must({"framework_id": fid, "type": "SUPPRESS", "suppress": {"roles": ["r2"]}})
    offers_within(s, 0.5)  # offers made before the call was taken (suppression does not rescind them)
    seen["r1 and r2 suppressed"] = roles_of(offers_within(s, 2))
    s.must({"framework_id": fid, "type": "REVIVE", "revive": {"roles": ["r1"]}})
    seen["r1 revived"] = roles_of(offers_within(s, 3))
    # A call naming a role that is not its own is accepted and ignored whole
    # (r1 stays offered).
    status, _, body = s.call({"framework_id": fid, "type": "SUPPRESS", "suppress": {"roles": ["r1", "not-mine"]}})
    seen["suppress naming a role not its own"] = [status, roles_of(offers_within(s, 2))]

    # UPDATE_FRAMEWORK: a new name, r2 left for r3, r1 suppressed; answered
    # 200 once applied, with no new SUBSCRIBED.
    update = dict(info, id=fid, name="v1-roles-renamed", roles=["r1", "r3"])
    status, _, body = s.call({"framework_id": fid, "type": "UPDATE_FRAMEWORK",
                              "update_framework": {"framework_info": update, "suppressed_roles": ["r1"]}})
    check(status == 200, "UPDATE_FRAMEWORK answered %d: %s" % (status, body.decode()))
    offers_within(s, 0.5)  # offers to r1 made before it
    seen["updated to r1 and r3, r1 suppressed"] = roles_of(offers_within(s, 3))
    check(not any(e["type"] == "SUBSCRIBED" for e in s.pending), "UPDATE_FRAMEWORK sent SUBSCRIBED again")
    refused = {}
    for what, change, suppressed in (("another user", dict(update, user="someone-else"), []),
                                     ("a suppressed role outside its roles", update, ["r9"]),
                                     ("an invalid role", dict(update, roles=["r1", "/bad"]), []),
                                     ("no framework_info.id", {k: v for k, v in update.items() if k != "id"}, [])):
        status, _, body = s.call({"framework_id": fid, "type": "UPDATE_FRAMEWORK",
                                  "update_framework": {"framework_info": change, "suppressed_roles": suppressed}})
        refused[what] = [status, body.decode()]
    seen["refused updates"] = refused
    s.teardown()
    return {"framework_id": s.framework_id, "seen": seen}


def scenario_shutdown(master, args):
    s = Subscription(master, framework("v1-shutdown"))
    offer = s.offer()
    executor = {"executor_id": {"value": "own-executor"}, "type": "CUSTOM",
                "command": {"shell": False, "value": args.executor},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}
    task = {"name": "served", "task_id": {"value": "served"}, "agent_id": offer["agent_id"],
            "executor": executor, "data": base64.b64encode(b"wait").decode(),
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}
    s.must({"framework_id": {"value": s.framework_id}, "type": "ACCEPT",
            "accept": {"offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
                       "filters": {"refuse_seconds": 1}}})
    running = s.update("served", ["TASK_RUNNING"] + list(TERMINAL))
    check(running["state"] == "TASK_RUNNING", "the executor's task ended %s: %s" % (running["state"],
                                                                                    running.get("message")))
    s.must({"framework_id": {"value": s.framework_id}, "type": "SHUTDOWN",
            "shutdown": {"executor_id": {"value": "own-executor"}, "agent_id": offer["agent_id"]}})
    ended = s.update("served", TERMINAL)
    failure = s.wait_for(lambda e: e["type"] == "FAILURE" and "executor_id" in e["failure"], "the executor's FAILURE")
    # An executor it does not have: accepted (202), and nothing happens.
    s.must({"framework_id": {"value": s.framework_id}, "type": "SHUTDOWN",
            "shutdown": {"executor_id": {"value": "no-such-executor"}, "agent_id": offer["agent_id"]}})
    s.teardown()
    return {"framework_id": s.framework_id, "ended": ended["state"], "message": ended.get("message", ""),
            "failure_executor": failure["failure"]["executor_id"]["value"]}


def status_of(master, body, headers):
    status, _, text = master.post(body, headers)
    return status, text.decode(errors="replace")


def scenario_bad_calls(master, args):
    json_headers = {"Content-Type": "application/json"}
    seen = {}

    def expect(name, status, text, code, fragment):
        check(status == code, "%s: answered %d, not %d: %s" % (name, status, code, text))
        check(fragment.lower() in text.lower(), "%s: the answer does not say %r: %s" % (name, fragment, text))
        seen[name] = [status, text.strip()]

    expect("malformed JSON", *status_of(master, "{not json", json_headers), 400, "JSON")
    expect("malformed protobuf", *status_of(master, b"\xff\xff\xff\xff", {"Content-Type": "application/x-protobuf"}),
           400, "protobuf")
    expect("no Content-Type", *status_of(master, "{}", {}), 400, "Content-Type")
    expect("unsupported Content-Type", *status_of(master, "{}", {"Content-Type": "text/plain"}), 415,
           "application/json")
    subscribe = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework("v1-bad")}})
    expect("unacceptable Accept", *status_of(master, subscribe, {"Content-Type": "application/json",
                                                                  "Accept": "text/html"}), 406, "Accept")
    expect("SUBSCRIBE with a stream id", *status_of(master, subscribe, {"Content-Type": "application/json",
                                                                        "Mesos-Stream-Id": "x"}), 400, "Stream-Id")
    expect("a call without a type", *status_of(master, "{}", json_headers), 400, "type")

    # A failover timeout: its framework outlives its stream, not subscribed.
    s = Subscription(master, framework("v1-bad", failover_timeout=60))
    fid = {"value": s.framework_id}
    decline = {"framework_id": fid, "type": "DECLINE", "decline": {"offer_ids": [{"value": "x"}]}}
    status, _, text = master.post(json.dumps(decline), json_headers)
    expect("no stream id", status, text.decode(), 400, "Mesos-Stream-Id")
    status, _, text = s.call(decline, stream_id=str(uuid.uuid4()))
    expect("a wrong stream id", status, text.decode(), 400, "stream ID")
    unknown = dict(decline, framework_id={"value": "no-such-framework"})
    status, _, text = s.call(unknown)
    expect("an unknown framework", status, text.decode(), 400, "Framework cannot be found")

    # An offer that is not this framework's: accepted for processing, then
    # the task is reported not launched, as Mesos does.
    s.must({"framework_id": fid, "type": "ACCEPT",
            "accept": {"offer_ids": [{"value": "not-my-offer"}],
                       "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                           "name": "stolen", "task_id": {"value": "stolen"}, "agent_id": {"value": "nowhere"},
                           "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
                           "command": {"value": "true"}}]}}]}})
    stolen = s.update("stolen", TERMINAL)
    check(stolen.get("reason") == "REASON_INVALID_OFFERS", "a launch on another's offer: reason %s" %
          stolen.get("reason"))
    seen["an offer that is not ours"] = [202, stolen["state"], stolen.get("message", "")]

    # A framework whose stream closed is not subscribed.
    s.close()
    time.sleep(0.5)
    status, _, text = s.call(decline)
    expect("a framework that is not connected", status, text.decode(), 403, "not subscribed")

    conn = master.connection()
    conn.request("GET", SCHEDULER_PATH)
    response = conn.getresponse()
    response.read()
    check(response.status == 405, "GET answered %d, not 405" % response.status)
    conn.close()
    seen["GET"] = [405]
    return seen


# ---- protobuf, encoded by hand from the field numbers of scheduler.proto
# and mesos.proto (Call: framework_id 1, type 2, subscribe 3, decline 5,
# teardown by type; Event: type 1, subscribed 2, offers 3).


def varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field(number, wire_type, payload):
    key = varint((number << 3) | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def text(number, value):
    return field(number, 2, value.encode())


def parse(data):
    """{field number: [values]}: varints as ints, length-delimited as bytes."""
    fields = {}
    i = 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = read_varint(data, i)
        elif wire_type == 1:
            value, i = data[i:i + 8], i + 8
        elif wire_type == 2:
            size, i = read_varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire_type == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise Failure("wire type %d in an event" % wire_type)
        fields.setdefault(number, []).append(value)
    return fields


def read_varint(data, i):
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


def scenario_protobuf(master, args):
    info = text(1, getpass.getuser()) + text(2, "v1-protobuf")
    subscribe = field(2, 0, 1) + field(3, 2, field(1, 2, info))  # type SUBSCRIBE, subscribe.framework_info
    conn = master.connection()
    conn.request("POST", SCHEDULER_PATH, body=subscribe,
                 headers={"Content-Type": "application/x-protobuf", "Accept": "application/x-protobuf"})
    response = conn.getresponse()
    if response.status != 200:
        raise Failure("protobuf SUBSCRIBE answered %d: %s" % (response.status, response.read()))
    check(response.getheader("Content-Type") == "application/x-protobuf",
          "events in %s" % response.getheader("Content-Type"))
    stream_id = response.getheader("Mesos-Stream-Id")
    records = RecordIO(response)
    first = parse(records.next())
    check(first[1] == [1], "the first protobuf event is of type %s, not SUBSCRIBED (1)" % first.get(1))
    subscribed = parse(first[2][0])
    framework_id = parse(subscribed[1][0])[1][0].decode()
    (interval,) = struct.unpack("<d", subscribed[2][0])
    while True:
        event = parse(records.next())
        if event[1] == [2]:  # OFFERS
            offer = parse(parse(event[3][0])[1][0])
            offer_id = parse(offer[1][0])[1][0].decode()
            agent_id = parse(offer[3][0])[1][0].decode()
            break
    fid = field(1, 2, text(1, framework_id))
    decline = fid + field(2, 0, 4) + field(5, 2, field(1, 2, text(1, offer_id)))
    status, _, body = master.post(decline, {"Content-Type": "application/x-protobuf", "Mesos-Stream-Id": stream_id})
    check(status == 202, "protobuf DECLINE answered %d: %s" % (status, body))
    teardown = fid + field(2, 0, 2)
    status, _, body = master.post(teardown, {"Content-Type": "application/x-protobuf", "Mesos-Stream-Id": stream_id})
    check(status == 202, "protobuf TEARDOWN answered %d: %s" % (status, body))
    conn.close()
    return {"framework_id": framework_id, "heartbeat_interval": interval, "offer": offer_id, "agent": agent_id}


SCENARIOS = {name[len("scenario_"):].replace("_", "-"): fn for name, fn in globals().items()
             if name.startswith("scenario_")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", required=True, help="the master's HTTP URL")
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--image", default="busybox", help="the image of the Docker scenario")
    parser.add_argument("--executor", default="", help="the custom executor of the shutdown scenario")
    args = parser.parse_args()
    try:
        result = SCENARIOS[args.scenario](Master(args.master), args)
    except (Failure, EOFError, OSError, http.client.HTTPException) as failure:
        print("%s: %s" % (args.scenario, failure), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
