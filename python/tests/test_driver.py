"""MesosSchedulerDriver against a real master and agent: the callbacks,
offers, launches, a kill, reconciliation, failover within the timeout,
framework messages, and bad input to every method."""

import os
import threading

import pytest

from clusternodes import MesosSchedulerDriver, Scheduler, mesos_pb2
from conftest import BIN, eventually


class Recorder(Scheduler):
    """Records every callback; launches what `plan` returns for each offer."""

    def __init__(self, plan=None, hold=False):
        self.plan = plan
        self.hold = hold  # keep offers unanswered
        self.lock = threading.Lock()
        self.calls = []
        self.statuses = []
        self.offers = []

    def _record(self, name, *args):
        with self.lock:
            self.calls.append((name,) + args)

    def registered(self, driver, frameworkId, masterInfo):
        self._record("registered", frameworkId.value, masterInfo.id)

    def reregistered(self, driver, masterInfo):
        self._record("reregistered", masterInfo.id)

    def disconnected(self, driver):
        self._record("disconnected")

    def resourceOffers(self, driver, offers):
        with self.lock:
            self.offers.extend(offers)
        for offer in offers:
            tasks = self.plan(offer) if self.plan else []
            if tasks:
                driver.launchTasks(offer.id, tasks)
                self.plan = None  # once
            elif self.hold:
                continue
            else:
                driver.declineOffer(offer.id, mesos_pb2.Filters(refuse_seconds=0.5))

    def offerRescinded(self, driver, offerId):
        self._record("offerRescinded", offerId.value)

    def statusUpdate(self, driver, status):
        with self.lock:
            self.statuses.append(status)

    def frameworkMessage(self, driver, executorId, slaveId, message):
        self._record("frameworkMessage", executorId.value, slaveId.value, message)

    def agentLost(self, driver, agentId):
        self._record("agentLost", agentId.value)

    def executorLost(self, driver, executorId, slaveId, status):
        self._record("executorLost", executorId.value, slaveId.value, status)

    def error(self, driver, message):
        self._record("error", message)

    def names(self):
        with self.lock:
            return [c[0] for c in self.calls]

    def states(self, task_id):
        with self.lock:
            return [mesos_pb2.TaskState.Name(s.state) for s in self.statuses if s.task_id.value == task_id]


def framework(name, **fields):
    return mesos_pb2.FrameworkInfo(user="", name=name, **fields)


def command_task(offer, task_id, command, cpus=0.1, mem=32):
    task = mesos_pb2.TaskInfo()
    task.name = task_id
    task.task_id.value = task_id
    task.slave_id.value = offer.slave_id.value
    task.command.value = command
    for name, amount in (("cpus", cpus), ("mem", mem)):
        resource = task.resources.add()
        resource.name = name
        resource.type = mesos_pb2.Value.SCALAR
        resource.scalar.value = amount
    return task


def started(cluster, scheduler, info, **kwargs):
    driver = MesosSchedulerDriver(scheduler, info, cluster.master, **kwargs)
    assert driver.start() == mesos_pb2.DRIVER_RUNNING
    eventually(lambda: "registered" in scheduler.names(), what="registered()")
    return driver


def test_registers_is_offered_launches_and_sees_its_task_finish(cluster):
    scheduler = Recorder(lambda offer: [command_task(offer, "hello", "echo hello")])
    driver = started(cluster, scheduler, framework("py-launch"))
    eventually(lambda: "TASK_FINISHED" in scheduler.states("hello"), what="TASK_FINISHED")
    assert scheduler.states("hello")[-2:] == ["TASK_RUNNING", "TASK_FINISHED"]
    offer = scheduler.offers[0]
    assert {r.name for r in offer.resources} >= {"cpus", "mem"}
    assert offer.hostname and offer.slave_id.value
    framework_id = scheduler.calls[0][1]
    entry = [f for f in cluster.state()["frameworks"] if f["id"] == framework_id][0]
    import pwd
    assert entry["user"] == pwd.getpwuid(os.geteuid()).pw_name  # "" is the scheduler's own user, as in Mesos
    assert driver.stop() == mesos_pb2.DRIVER_STOPPED
    assert driver.join() == mesos_pb2.DRIVER_STOPPED
    eventually(lambda: not any(f["id"] == framework_id for f in cluster.state()["frameworks"]),
               what="the framework torn down")


def test_a_kill_and_explicit_and_implicit_reconciliation(cluster):
    scheduler = Recorder(lambda offer: [command_task(offer, "sleeper", "sleep 300")])
    driver = started(cluster, scheduler, framework("py-kill"))
    eventually(lambda: "TASK_RUNNING" in scheduler.states("sleeper"), what="TASK_RUNNING")
    driver.reconcileTasks([mesos_pb2.TaskStatus(task_id={"value": "sleeper"}, state=mesos_pb2.TASK_RUNNING),
                           mesos_pb2.TaskStatus(task_id={"value": "never"}, state=mesos_pb2.TASK_RUNNING)])
    eventually(lambda: scheduler.states("never"), what="an answer for the task never launched")
    assert scheduler.states("never")[0] in ("TASK_LOST", "TASK_UNKNOWN", "TASK_DROPPED", "TASK_GONE")
    before = len(scheduler.states("sleeper"))
    driver.reconcileTasks([])
    eventually(lambda: len(scheduler.states("sleeper")) > before, what="implicit reconciliation")
    assert scheduler.states("sleeper")[-1] == "TASK_RUNNING"
    driver.killTask(mesos_pb2.TaskID(value="sleeper"))
    eventually(lambda: "TASK_KILLED" in scheduler.states("sleeper"), what="TASK_KILLED")
    driver.stop()


def test_failover_within_the_timeout_keeps_the_task(cluster):
    first = Recorder(lambda offer: [command_task(offer, "survivor", "sleep 300")])
    info = framework("py-failover", failover_timeout=60)
    driver = started(cluster, first, info)
    eventually(lambda: "TASK_RUNNING" in first.states("survivor"), what="TASK_RUNNING")
    framework_id = first.calls[0][1]
    assert driver.stop(failover=True) == mesos_pb2.DRIVER_STOPPED  # the scheduler goes; its task stays

    second = Recorder()
    info.id.value = framework_id
    driver = started(cluster, second, info)
    assert second.calls[0][1] == framework_id
    driver.reconcileTasks([])
    eventually(lambda: "TASK_RUNNING" in second.states("survivor"), what="the task after the failover")
    driver.stop()


def test_framework_messages_to_and_from_a_custom_executor(cluster):
    executor = mesos_pb2.ExecutorInfo()
    executor.executor_id.value = "echoer"
    executor.command.value = os.path.join(BIN, "example-executor")

    def plan(offer):
        task = command_task(offer, "waiter", "")
        task.ClearField("command")
        task.executor.CopyFrom(executor)
        task.data = b"wait"
        return [task]

    scheduler = Recorder(plan)
    driver = started(cluster, scheduler, framework("py-messages"))
    eventually(lambda: "TASK_RUNNING" in scheduler.states("waiter"), what="the executor's task running")
    agent = scheduler.statuses[-1].slave_id
    driver.sendFrameworkMessage(mesos_pb2.ExecutorID(value="echoer"), agent, b"ping")
    eventually(lambda: "frameworkMessage" in scheduler.names(), what="the executor's answer")
    message = [c for c in scheduler.calls if c[0] == "frameworkMessage"][0]
    assert message[1:] == ("echoer", agent.value, b"echo:ping")
    driver.stop()


def example_executor_task(offer, task_id, data):
    task = command_task(offer, task_id, "")
    task.ClearField("command")
    task.executor.executor_id.value = task_id + "-executor"
    task.executor.command.value = os.path.join(BIN, "example-executor")
    task.data = data
    return task


def test_callbacks_for_a_rescinded_offer_a_lost_executor_a_lost_agent_and_a_master_restart():
    from conftest import Cluster
    c = Cluster()
    try:
        c.start_master("--offer-timeout=1s")
        agent = c.start_agent()
        c.wait_for_agents(1)
        scheduler = Recorder(lambda offer: [example_executor_task(offer, "crasher", b"exit:3")], hold=True)
        driver = started(c, scheduler, framework("py-callbacks", failover_timeout=60))
        # The executor exits with status 3: its task fails, and the
        # scheduler hears of the executor.
        eventually(lambda: "executorLost" in scheduler.names(), what="executorLost()")
        lost = [call for call in scheduler.calls if call[0] == "executorLost"][0]
        assert lost[1] == "crasher-executor" and lost[2] and lost[3] != 0
        assert scheduler.states("crasher")[-1] == "TASK_FAILED"
        # An offer left unanswered past --offer-timeout is rescinded.
        eventually(lambda: "offerRescinded" in scheduler.names(), what="offerRescinded()")
        # The master restarts: the driver is disconnected, and re-registers.
        c.restart_master()
        eventually(lambda: "disconnected" in scheduler.names(), what="disconnected()")
        eventually(lambda: "reregistered" in scheduler.names(), timeout=30, what="reregistered()")
        c.wait_for_agents(1)
        # The agent is killed: after its pings are missed, the scheduler
        # hears it is lost (slaveLost's default calls agentLost).
        os.killpg(agent.pid, 9)
        eventually(lambda: "agentLost" in scheduler.names(), timeout=30, what="agentLost()")
        assert driver.stop() == mesos_pb2.DRIVER_STOPPED
        names = scheduler.names()
        assert names.index("registered") < names.index("executorLost")
        assert names.index("disconnected") < names.index("reregistered") < names.index("agentLost")
        assert "error" not in names
    finally:
        c.stop()


def test_bad_input_to_every_method_is_a_clear_exception(cluster):
    scheduler = Recorder()
    with pytest.raises(TypeError):
        MesosSchedulerDriver(object(), framework("x"), cluster.master)
    with pytest.raises(TypeError):
        MesosSchedulerDriver(scheduler, "not a FrameworkInfo", cluster.master)
    with pytest.raises(TypeError):
        MesosSchedulerDriver(scheduler, framework("x"), None)
    with pytest.raises(ValueError):
        MesosSchedulerDriver(scheduler, framework("x"), cluster.master, credential=object())
    with pytest.raises(ValueError):
        MesosSchedulerDriver(scheduler, framework("x"), "ftp://127.0.0.1:1")
    with pytest.raises(ValueError):
        MesosSchedulerDriver(scheduler, framework("x"), "zk://127.0.0.1:2181")
    driver = started(cluster, scheduler, framework("py-bad-input"))
    offer_id = mesos_pb2.OfferID(value="o")
    bad = [
        (lambda: driver.launchTasks(offer_id, "not a list"), TypeError),
        (lambda: driver.launchTasks(offer_id, [42]), TypeError),
        (lambda: driver.launchTasks(42, []), TypeError),
        (lambda: driver.launchTasks(mesos_pb2.OfferID(), []), ValueError),
        (lambda: driver.acceptOffers([offer_id], [mesos_pb2.TaskInfo()]), TypeError),
        (lambda: driver.declineOffer(offer_id, filters=5), TypeError),
        (lambda: driver.reviveOffers(roles=[5]), TypeError),
        (lambda: driver.suppressOffers(roles=[""]), TypeError),
        (lambda: driver.killTask(None), TypeError),
        (lambda: driver.killTask([mesos_pb2.TaskID(value="a"), mesos_pb2.TaskID(value="b")]), TypeError),
        (lambda: driver.acknowledgeStatusUpdate(mesos_pb2.TaskStatus()), RuntimeError),  # implicit acks on
        (lambda: driver.reconcileTasks(mesos_pb2.TaskStatus()), TypeError),
        (lambda: driver.sendFrameworkMessage(mesos_pb2.ExecutorID(value="e"), mesos_pb2.AgentID(value="a"), 5),
         TypeError),
        (lambda: driver.sendFrameworkMessage(None, mesos_pb2.AgentID(value="a"), b""), TypeError),
    ]
    for call, error in bad:
        with pytest.raises(error):
            call()
    # A well-formed call the master refuses (an offer that is not there) is
    # answered, logged, and leaves the driver running.
    assert driver.declineOffer(mesos_pb2.OfferID(value="no-such-offer")) == mesos_pb2.DRIVER_RUNNING
    assert driver.stop() == mesos_pb2.DRIVER_STOPPED
    assert driver.join() == mesos_pb2.DRIVER_STOPPED
    assert driver.start() == mesos_pb2.DRIVER_STOPPED  # a stopped driver does not start again


def test_a_master_that_refuses_the_framework_is_an_error_not_a_hang(cluster):
    scheduler = Recorder()
    info = framework("py-refused", roles=["a", "/bad role"], capabilities=[{"type": "MULTI_ROLE"}])
    driver = MesosSchedulerDriver(scheduler, info, cluster.master)
    assert driver.run() == mesos_pb2.DRIVER_ABORTED
    assert scheduler.names() == ["error"]
    assert "role" in scheduler.calls[0][1]


def test_no_master_there_keeps_trying_until_stopped():
    scheduler = Recorder()
    driver = MesosSchedulerDriver(scheduler, framework("py-nowhere"), "127.0.0.1:1")
    assert driver.start() == mesos_pb2.DRIVER_RUNNING
    threading.Timer(1.0, driver.stop).start()
    assert driver.join() == mesos_pb2.DRIVER_STOPPED
    assert scheduler.names() == []


def test_suppression_lasts_across_a_master_restart_and_an_empty_role_list_changes_nothing():
    from conftest import Cluster
    c = Cluster()
    try:
        c.start_master()
        c.start_agent()
        c.wait_for_agents(1)
        scheduler = Recorder(hold=True)
        driver = started(c, scheduler, framework("py-suppress", failover_timeout=60))
        framework_id = scheduler.calls[0][1]
        suppressed = lambda: [f for f in c.state().get("frameworks", []) if f["id"] == framework_id and f["suppressed"]]
        driver.suppressOffers([])  # no roles: nothing to do
        assert not suppressed()
        driver.suppressOffers()
        eventually(suppressed, what="the framework suppressed")
        c.restart_master()
        eventually(lambda: "reregistered" in scheduler.names(), timeout=30, what="reregistered()")
        eventually(suppressed, what="the framework suppressed after the restart")
        driver.reviveOffers()
        eventually(lambda: not suppressed(), what="the framework revived")
        driver.stop()
    finally:
        c.stop()


def test_a_launch_that_cannot_reach_the_master_is_reported_lost():
    scheduler = Recorder()
    driver = MesosSchedulerDriver(scheduler, framework("py-unreachable"), "127.0.0.1:1")
    assert driver.start() == mesos_pb2.DRIVER_RUNNING
    offer = mesos_pb2.Offer(id={"value": "o"}, framework_id={"value": "f"}, agent_id={"value": "a"}, hostname="h")
    driver.launchTasks(offer.id, [command_task(offer, "never-sent", "true")])
    eventually(lambda: scheduler.states("never-sent"), what="an update for the launch")
    status = scheduler.statuses[0]
    assert status.state == mesos_pb2.TASK_LOST
    assert status.reason == mesos_pb2.TaskStatus.REASON_MASTER_DISCONNECTED
    assert status.source == mesos_pb2.TaskStatus.SOURCE_MASTER
    driver.stop()


def test_join_from_a_callback_is_an_error_not_a_deadlock(cluster):
    outcome = []

    class Joiner(Scheduler):
        def registered(self, driver, frameworkId, masterInfo):
            try:
                driver.join()
            except RuntimeError as error:
                outcome.append(str(error))
            driver.stop()

    driver = MesosSchedulerDriver(Joiner(), framework("py-join"), cluster.master)
    assert driver.run() == mesos_pb2.DRIVER_STOPPED
    assert outcome and "callback" in outcome[0]


def test_stop_right_after_start_leaves_no_framework(cluster):
    for _ in range(5):
        driver = MesosSchedulerDriver(Recorder(), framework("py-quick-stop"), cluster.master)
        driver.start()
        driver.stop()
        assert driver.join() == mesos_pb2.DRIVER_STOPPED
    eventually(lambda: not [f for f in cluster.state().get("frameworks", []) if f["name"] == "py-quick-stop"],
               what="no py-quick-stop framework left")
