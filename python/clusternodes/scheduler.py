"""Mesos's Python scheduler interface on Clusternodes: a Scheduler to
derive from, and MesosSchedulerDriver, which speaks the master's Mesos v1
scheduler HTTP API (JSON over POST /api/v1/scheduler) with the standard
library alone (and kazoo for zk:// masters).

    class Hello(Scheduler):
        def resourceOffers(self, driver, offers):
            ...
            driver.launchTasks(offer.id, [task])

    framework = mesos_pb2.FrameworkInfo(user="", name="hello")
    driver = MesosSchedulerDriver(Hello(), framework, "127.0.0.1:8081")   # or zk://host:2181/clusternodes
    status = driver.run()   # mesos_pb2.DRIVER_STOPPED once stop() is called

The master is its HTTP address (where the web UI is, 8081 by default),
HOST:PORT or http(s)://HOST:PORT, or zk://HOSTS/PATH when the masters are
elected through ZooKeeper. With CLUSTERNODES_TOKEN (or
CLUSTERNODES_TOKEN_FILE) set, calls carry that bearer token; with
CLUSTERNODES_CA, an https master is trusted through that CA file.

Callbacks run on the driver's own thread, one at a time; the driver's
methods may be called from any thread, callbacks included. A method given
a wrong argument raises TypeError or ValueError at once, naming it.
"""

import http.client
import json
import logging
import os
import pwd
import random
import socket
import ssl
import threading
import urllib.parse

from . import mesos_pb2

log = logging.getLogger("clusternodes")

SCHEDULER_PATH = "/api/v1/scheduler"

# The driver's states, with Mesos's numbers (mesos_pb2.Status).
DRIVER_NOT_STARTED = 1
DRIVER_RUNNING = 2
DRIVER_ABORTED = 3
DRIVER_STOPPED = 4


class Scheduler(object):
    """The callbacks of a framework's scheduler; each does nothing unless overridden."""

    def registered(self, driver, frameworkId, masterInfo):
        pass

    def reregistered(self, driver, masterInfo):
        pass

    def disconnected(self, driver):
        pass

    def resourceOffers(self, driver, offers):
        pass

    def offerRescinded(self, driver, offerId):
        pass

    def statusUpdate(self, driver, status):
        pass

    def frameworkMessage(self, driver, executorId, slaveId, message):
        pass

    def slaveLost(self, driver, slaveId):
        self.agentLost(driver, slaveId)

    def agentLost(self, driver, agentId):
        pass

    def executorLost(self, driver, executorId, slaveId, status):
        pass

    def error(self, driver, message):
        pass


class _RecordIO(object):
    """RecordIO records ("<length>\\n<bytes>") read from a streaming response."""

    def __init__(self, response):
        self.response = response
        self.buffer = b""

    def _fill(self):
        more = self.response.read1(65536)
        if not more:
            raise EOFError("the master ended the event stream")
        self.buffer += more

    def next(self):
        while b"\n" not in self.buffer:
            if len(self.buffer) > 20:
                raise ValueError("a RecordIO length line that does not end")
            self._fill()
        line, self.buffer = self.buffer.split(b"\n", 1)
        if not line.isdigit():
            raise ValueError("a RecordIO length that is not a number: %r" % line[:20])
        size = int(line)
        while len(self.buffer) < size:
            self._fill()
        record, self.buffer = self.buffer[:size], self.buffer[size:]
        return record


def _ids(values, cls, what):
    """One id or a list of them, as a list of `cls`."""
    if isinstance(values, (list, tuple)):
        items = list(values)
    else:
        items = [values]
    out = []
    for value in items:
        if isinstance(value, str):
            value = cls(value=value)
        if not isinstance(value, cls):
            raise TypeError("%s: a %s (or a list of them), not %r" % (what, cls.DESCRIPTOR.name, value))
        if not value.value:
            raise ValueError("%s: an id with no value" % what)
        out.append(value)
    return out


def _message(value, cls, what):
    if isinstance(value, dict):
        value = cls(**value)
    if not isinstance(value, cls):
        raise TypeError("%s: a %s, not %r" % (what, cls.DESCRIPTOR.name, value))
    return value


def _filters(filters):
    if filters is None:
        return None
    return _message(filters, mesos_pb2.Filters, "filters").to_json()


class MesosSchedulerDriver(object):
    """A framework's connection to the master: see the module's description."""

    def __init__(self, scheduler, framework, master, implicitAcknowledgements=True, credential=None):
        if not isinstance(scheduler, Scheduler):
            raise TypeError("scheduler: a clusternodes.Scheduler, not %r" % (scheduler,))
        framework = _message(framework, mesos_pb2.FrameworkInfo, "framework")
        if not isinstance(master, str) or not master:
            raise TypeError("master: HOST:PORT, http(s)://HOST:PORT or zk://HOSTS/PATH, not %r" % (master,))
        if credential is not None:
            raise ValueError("credential: Clusternodes authenticates HTTP calls with a bearer token "
                             "(CLUSTERNODES_TOKEN), not a Mesos credential")
        _check_master(master)
        self.scheduler = scheduler
        self.framework = framework.copy()
        if not self.framework.user:
            # As Mesos's driver: the user the scheduler runs as.
            self.framework.user = pwd.getpwuid(os.geteuid()).pw_name
        self.master = master
        self.implicit_acknowledgements = bool(implicitAcknowledgements)
        self._lock = threading.Condition()
        self._status = DRIVER_NOT_STARTED
        self._thread = None
        self._stream_id = None
        self._endpoint = None  # (scheme, host, port) of the master of the open stream
        self._response = None
        self._connection = None
        self._sock = None
        self._registered = False
        self._heartbeat = 15.0
        self._token = _token()
        self._redirect = None  # a standby's Location, tried next
        self._suppressed = set()  # roles suppressOffers() silenced: each subscription says so again
        self._callbacks = threading.Lock()  # one callback at a time

    # ---- lifecycle

    def start(self):
        with self._lock:
            if self._status != DRIVER_NOT_STARTED:
                return self._status
            self._status = DRIVER_RUNNING
        self._thread = threading.Thread(target=self._loop, name="clusternodes-driver", daemon=True)
        self._thread.start()
        return DRIVER_RUNNING

    def stop(self, failover=False):
        with self._lock:
            if self._status not in (DRIVER_RUNNING, DRIVER_ABORTED):
                return self._status
            running = self._status == DRIVER_RUNNING
            self._status = DRIVER_STOPPED
            self._lock.notify_all()
        if running and not failover and self.framework.id.value:
            self._call({"type": "TEARDOWN"})
        self._close()
        return DRIVER_STOPPED if running else DRIVER_ABORTED

    def abort(self):
        with self._lock:
            if self._status != DRIVER_RUNNING:
                return self._status
            self._status = DRIVER_ABORTED
            self._lock.notify_all()
        self._close()
        return DRIVER_ABORTED

    def join(self):
        if threading.current_thread() is self._thread:
            raise RuntimeError("join() and run() cannot be called from a callback: they wait for the driver's "
                               "thread, which runs it")
        with self._lock:
            while self._status == DRIVER_RUNNING:
                self._lock.wait()
            status = self._status
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        return status

    def run(self):
        status = self.start()
        return self.join() if status == DRIVER_RUNNING else status

    # ---- calls

    def launchTasks(self, offerIds, tasks, filters=None):
        tasks = [_message(t, mesos_pb2.TaskInfo, "tasks[%d]" % i) for i, t in enumerate(_list(tasks, "tasks"))]
        operation = {"type": "LAUNCH", "launch": {"task_infos": [t.to_json() for t in tasks]}}
        return self._accept(_ids(offerIds, mesos_pb2.OfferID, "offerIds"), [operation], filters)

    def acceptOffers(self, offerIds, operations, filters=None):
        operations = [_message(o, mesos_pb2.Offer.Operation, "operations[%d]" % i).to_json()
                      for i, o in enumerate(_list(operations, "operations"))]
        return self._accept(_ids(offerIds, mesos_pb2.OfferID, "offerIds"), operations, filters)

    def declineOffer(self, offerId, filters=None):
        decline = {"offer_ids": [o.to_json() for o in _ids(offerId, mesos_pb2.OfferID, "offerId")]}
        if filters is not None:
            decline["filters"] = _filters(filters)
        return self._call({"type": "DECLINE", "decline": decline})

    def reviveOffers(self, roles=None):
        """Offers again, filters cleared, for `roles` (all the framework's when None)."""
        listed = self._roles_of(roles)
        if not listed:
            return self._status_now()  # as Mesos: no roles, nothing to do
        with self._lock:
            self._suppressed -= set(listed)
        return self._call({"type": "REVIVE", "revive": {"roles": listed}})

    def suppressOffers(self, roles=None):
        """No offers for `roles` (all the framework's when None) until revived, across re-subscriptions."""
        listed = self._roles_of(roles)
        if not listed:
            return self._status_now()
        with self._lock:
            self._suppressed |= set(listed)
        return self._call({"type": "SUPPRESS", "suppress": {"roles": listed}})

    def _roles_of(self, roles):
        if roles is None:
            return _framework_roles(self.framework)
        return _roles(roles)

    def killTask(self, taskId):
        task = _ids(taskId, mesos_pb2.TaskID, "taskId")
        if len(task) != 1:
            raise TypeError("taskId: one TaskID")
        return self._call({"type": "KILL", "kill": {"task_id": task[0].to_json()}})

    def acknowledgeStatusUpdate(self, status):
        if self.implicit_acknowledgements:
            raise RuntimeError("acknowledgeStatusUpdate: this driver acknowledges every update itself "
                               "(implicitAcknowledgements=True)")
        return self._acknowledge(status)

    def _acknowledge(self, status):
        status = _message(status, mesos_pb2.TaskStatus, "status")
        if not status.uuid:
            return self._status_now()  # an update that asks for no acknowledgement
        return self._call({"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status.agent_id.to_json(), "task_id": status.task_id.to_json(),
            "uuid": status.to_json()["uuid"]}})

    def reconcileTasks(self, tasks):
        statuses = [_message(s, mesos_pb2.TaskStatus, "tasks[%d]" % i) for i, s in enumerate(_list(tasks, "tasks"))]
        listed = []
        for status in statuses:
            entry = {"task_id": status.task_id.to_json()}
            if status.HasField("agent_id"):
                entry["agent_id"] = status.agent_id.to_json()
            listed.append(entry)
        return self._call({"type": "RECONCILE", "reconcile": {"tasks": listed}})

    def sendFrameworkMessage(self, executorId, slaveId, data):
        executor = _ids(executorId, mesos_pb2.ExecutorID, "executorId")[0]
        agent = _ids(slaveId, mesos_pb2.AgentID, "slaveId")[0]
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("data: bytes, not %r" % (data,))
        payload = mesos_pb2.TaskStatus(data=bytes(data)).to_json().get("data", "")
        return self._call({"type": "MESSAGE", "message": {"executor_id": executor.to_json(),
                                                            "agent_id": agent.to_json(), "data": payload}})

    def requestResources(self, requests):
        return self._status_now()  # Mesos never acted on it either

    # ---- inside

    def _status_now(self):
        with self._lock:
            return self._status

    def _accept(self, offer_ids, operations, filters):
        accept = {"offer_ids": [o.to_json() for o in offer_ids], "operations": operations}
        if filters is not None:
            accept["filters"] = _filters(filters)
        return self._call({"type": "ACCEPT", "accept": accept}, on_failure=lambda why: self._lost(operations, why))

    def _lost(self, operations, why):
        """A launch that never reached the master: each task is reported lost (dropped, to a
        partition-aware framework), from another thread once the running callback returns, as Mesos's
        driver does."""
        aware = any(c.type == mesos_pb2.FrameworkInfo.Capability.PARTITION_AWARE
                    for c in self.framework.capabilities)
        statuses = []
        for operation in operations:
            for task in operation.get("launch", {}).get("task_infos", []):
                status = mesos_pb2.TaskStatus(state=mesos_pb2.TASK_DROPPED if aware else mesos_pb2.TASK_LOST,
                                              source=mesos_pb2.TaskStatus.SOURCE_MASTER,
                                              reason=mesos_pb2.TaskStatus.REASON_MASTER_DISCONNECTED,
                                              message="the launch did not reach the master: " + why)
                status.task_id.value = task["task_id"]["value"]
                status.agent_id.value = task.get("agent_id", {}).get("value", "")
                statuses.append(status)
        if statuses:
            threading.Thread(target=lambda: [self._callback("statusUpdate", s) for s in statuses],
                             name="clusternodes-lost", daemon=True).start()

    def _call(self, call, on_failure=None):
        """Sends a call on a connection of its own; the driver's status. `on_failure(why)` runs when the
        call does not reach the master or the master refuses it."""
        with self._lock:
            status = self._status
            stream_id = self._stream_id
            endpoint = self._endpoint
            framework_id = self.framework.id.value
        if status != DRIVER_RUNNING and call["type"] != "TEARDOWN":
            if on_failure:
                on_failure("the driver is not running")
            return status
        if stream_id is None or not framework_id:
            log.warning("%s dropped: the driver is not subscribed", call["type"])
            if on_failure:
                on_failure("the driver is not subscribed")
            return status
        call = dict(call, framework_id={"value": framework_id})
        try:
            connection = _connect(endpoint, 15)
            headers = {"Content-Type": "application/json", "Accept": "application/json",
                       "Mesos-Stream-Id": stream_id}
            if self._token:
                headers["Authorization"] = "Bearer " + self._token
            connection.request("POST", SCHEDULER_PATH, body=json.dumps(call), headers=headers)
            response = connection.getresponse()
            body = response.read().decode("utf-8", "replace")
            connection.close()
            if response.status not in (200, 202):
                log.warning("%s refused by the master (%d): %s", call["type"], response.status, body)
                if on_failure:
                    on_failure("the master refused it (%d): %s" % (response.status, body))
        except (OSError, http.client.HTTPException) as failure:
            log.warning("%s not sent: %s", call["type"], failure)
            if on_failure:
                on_failure(str(failure))
        return status

    def _close(self):
        with self._lock:
            response, connection, sock = self._response, self._connection, self._sock
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
        except OSError:
            pass
        for thing in (response, connection, sock):
            try:
                if thing is not None:
                    thing.close()
            except OSError:
                pass

    def _loop(self):
        backoff = 0.5
        while self._status_now() == DRIVER_RUNNING:
            try:
                self._subscribe()
                backoff = 0.5
            except (ValueError, RuntimeError) as failure:  # what no retry mends: a bad URL, no kazoo
                self._fail(str(failure))
                break
            except Exception as failure:  # noqa: BLE001 (the driver keeps trying, as Mesos's does)
                if self._status_now() != DRIVER_RUNNING:
                    break
                log.warning("no connection to the master (retrying): %s", failure)
            with self._lock:
                was = self._stream_id is not None
                self._stream_id = None
            if was and self._status_now() == DRIVER_RUNNING:
                self._callback("disconnected")
            with self._lock:
                if self._status == DRIVER_RUNNING:
                    self._lock.wait(backoff * (1 + random.random()))
            backoff = min(backoff * 2, 8.0)

    def _subscribe(self):
        endpoint, self._redirect = self._redirect or _leader(self.master), None
        connection = _connect(endpoint, 15)
        try:
            self._subscribe_on(connection, endpoint)
        finally:
            connection.close()
            with self._lock:
                sock, self._sock, self._connection, self._response = self._sock, None, None, None
            if sock is not None:
                sock.close()

    def _subscribe_on(self, connection, endpoint):
        connection.connect()
        sock = connection.sock  # the response takes it from the connection: it stays ours to time out
        subscribe = {"framework_info": self.framework.to_json()}
        with self._lock:
            suppressed = [r for r in _framework_roles(self.framework) if r in self._suppressed]
        if suppressed:
            subscribe["suppressed_roles"] = suppressed
        call = {"type": "SUBSCRIBE", "subscribe": subscribe}
        if self.framework.id.value:
            call["framework_id"] = self.framework.id.to_json()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        connection.request("POST", SCHEDULER_PATH, body=json.dumps(call), headers=headers)
        response = connection.getresponse()
        if response.status in (301, 302, 303, 307):
            location = response.getheader("Location", "")
            if location.startswith("//"):
                location = endpoint[0] + ":" + location
            if location:
                self._redirect = _endpoint(location)  # the leader, tried next
            raise OSError("the master at %s stands by; the leader is %s" % (endpoint[1], location or "not known"))
        if response.status != 200:
            body = response.read().decode("utf-8", "replace")
            connection.close()
            if 400 <= response.status < 500:
                # The master refuses this framework: as Mesos's driver, say so and stop.
                self._fail("the master refused the subscription (%d): %s" % (response.status, body))
            raise OSError("SUBSCRIBE answered %d: %s" % (response.status, body))
        with self._lock:
            if self._status != DRIVER_RUNNING:
                return  # stopped while subscribing: the stream closes here
            self._connection, self._response, self._sock = connection, response, sock
            self._endpoint = endpoint
            self._stream_id = response.getheader("Mesos-Stream-Id")
        records = _RecordIO(response)
        while self._status_now() == DRIVER_RUNNING:
            sock.settimeout(self._heartbeat * 5)  # five heartbeats missed: the master is gone
            self._dispatch(json.loads(records.next()))

    def _fail(self, message):
        self._callback("error", message)
        self.abort()

    def _callback(self, name, *args):
        with self._callbacks:
            try:
                getattr(self.scheduler, name)(self, *args)
            except Exception:  # noqa: BLE001 (a scheduler's bug must not kill the driver's thread silently)
                log.exception("the scheduler's %s raised", name)

    def _dispatch(self, event):
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            subscribed = event["subscribed"]
            self._heartbeat = float(subscribed.get("heartbeat_interval_seconds", 15.0))
            with self._lock:
                self.framework.id.value = subscribed["framework_id"]["value"]
                again = self._registered
                self._registered = True
            master = mesos_pb2.MasterInfo.from_json(subscribed.get("master_info", {"id": "", "ip": 0, "port": 0}))
            if again:
                self._callback("reregistered", master)
            else:
                self._callback("registered", mesos_pb2.FrameworkID(value=self.framework.id.value), master)
        elif kind == "OFFERS":
            offers = [mesos_pb2.Offer.from_json(o) for o in event["offers"].get("offers", [])]
            self._callback("resourceOffers", offers)
        elif kind == "RESCIND":
            self._callback("offerRescinded", mesos_pb2.OfferID.from_json(event["rescind"]["offer_id"]))
        elif kind == "UPDATE":
            status = mesos_pb2.TaskStatus.from_json(event["update"]["status"])
            self._callback("statusUpdate", status)
            if self.implicit_acknowledgements:
                self._acknowledge(status)
        elif kind == "MESSAGE":
            message = mesos_pb2.TaskStatus.from_json({"data": event["message"].get("data", "")}).data
            self._callback("frameworkMessage", mesos_pb2.ExecutorID.from_json(event["message"]["executor_id"]),
                           mesos_pb2.AgentID.from_json(event["message"]["agent_id"]), message)
        elif kind == "FAILURE":
            failure = event["failure"]
            agent = mesos_pb2.AgentID.from_json(failure.get("agent_id", {"value": ""}))
            if "executor_id" in failure:
                self._callback("executorLost", mesos_pb2.ExecutorID.from_json(failure["executor_id"]), agent,
                               int(failure.get("status", 0)))
            else:
                self._callback("slaveLost", agent)
        elif kind == "ERROR":
            self._fail(event["error"].get("message", "the master sent an error"))
        # HEARTBEAT: hearing it was the point.


def _list(values, what):
    if not isinstance(values, (list, tuple)):
        raise TypeError("%s: a list, not %r" % (what, values))
    return list(values)


def _roles(roles):
    if roles is None:
        return []
    if isinstance(roles, str):
        roles = [roles]
    roles = list(roles)
    for role in roles:
        if not isinstance(role, str) or not role:
            raise TypeError("roles: role names, not %r" % (role,))
    return roles


def _framework_roles(framework):
    return list(framework.roles) if framework.roles else [framework.role]


def _check_master(master):
    """Refuses at once what no retry mends: a URL of another kind, zk:// without kazoo."""
    if master.startswith("zk://"):
        hosts, _, path = master[len("zk://"):].partition("/")
        if not hosts or not path.strip("/"):
            raise ValueError("master: zk://HOST:PORT[,HOST:PORT...]/PATH, not %r" % master)
        try:
            import kazoo.client  # noqa: F401 (Debian's python3-kazoo)
        except ImportError:
            raise RuntimeError("a zk:// master needs kazoo (Debian: python3-kazoo)")
        return
    _endpoint(master)


def _token():
    token = os.environ.get("CLUSTERNODES_TOKEN", "")
    if token:
        return token
    path = os.environ.get("CLUSTERNODES_TOKEN_FILE", "")
    if path:
        with open(path) as handle:
            return handle.read().strip()
    return ""


def _endpoint(text):
    """(scheme, host, port) of HOST:PORT or http(s)://HOST:PORT."""
    if "://" not in text:
        text = "http://" + text
    url = urllib.parse.urlsplit(text)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError("master: HOST:PORT, http(s)://HOST:PORT or zk://HOSTS/PATH, not %r" % text)
    return url.scheme, url.hostname, url.port or (443 if url.scheme == "https" else 8081)


def _leader(master):
    if not master.startswith("zk://"):
        return _endpoint(master)
    try:
        from kazoo.client import KazooClient  # Debian's python3-kazoo
    except ImportError:
        raise RuntimeError("a zk:// master needs kazoo (Debian: python3-kazoo)")
    hosts, _, path = master[len("zk://"):].partition("/")
    client = KazooClient(hosts=hosts, timeout=10)
    client.start(timeout=10)
    try:
        path = "/" + path.strip("/")
        candidates = sorted(c for c in client.get_children(path) if c.startswith("json.info_"))
        if not candidates:
            raise OSError("no master leads at %s" % master)
        data, _ = client.get(path + "/" + candidates[0])
    finally:
        client.stop()
        client.close()
    info = json.loads(data.decode("utf-8"))
    address = info["address"]
    scheme = info.get("clusternodes", {}).get("http_scheme", "http")
    return scheme, address.get("ip") or address["hostname"], int(address["port"])


def _connect(endpoint, timeout):
    scheme, host, port = endpoint
    if scheme == "https":
        context = ssl.create_default_context(cafile=os.environ.get("CLUSTERNODES_CA") or None)
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, port, timeout=timeout)
