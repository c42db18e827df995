"""The messages: protobuf-style construction, Mesos 0.x aliases, enums, and
the v1 API's JSON, both ways; and clear errors for what does not fit."""

import pytest

from clusternodes import mesos_pb2


def test_a_task_built_as_mesos_schedulers_build_it():
    task = mesos_pb2.TaskInfo()
    task.name = "hello"
    task.task_id.value = "t-1"
    task.slave_id.value = "agent-1"
    task.command.value = "echo hello"
    cpus = task.resources.add()
    cpus.name = "cpus"
    cpus.type = mesos_pb2.Value.SCALAR
    cpus.scalar.value = 1
    mem = mesos_pb2.Resource(name="mem", type=mesos_pb2.Value.SCALAR, scalar={"value": 128})
    task.resources.append(mem)
    task.data = b"payload"

    assert task.agent_id.value == "agent-1"  # slave_id is agent_id
    assert task.to_json() == {
        "name": "hello", "task_id": {"value": "t-1"}, "agent_id": {"value": "agent-1"},
        "command": {"value": "echo hello"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 128.0}}],
        "data": "cGF5bG9hZA=="}
    assert mesos_pb2.TaskInfo.from_json(task.to_json()) == task


def test_unset_fields_read_as_defaults_and_are_not_sent():
    task = mesos_pb2.TaskInfo()
    assert task.container.type == mesos_pb2.ContainerInfo.DOCKER  # proto2: the first value
    assert task.container.docker.image == ""
    assert not task.HasField("container")
    assert task.to_json() == {}
    task.container.docker.image = "busybox"
    assert task.HasField("container")
    assert task.to_json() == {"container": {"docker": {"image": "busybox"}}}
    assert mesos_pb2.FrameworkInfo().role == "*"  # [default = "*"]


def test_enums_are_mesos_numbers_with_names():
    assert mesos_pb2.TASK_STAGING == 6 and mesos_pb2.TASK_RUNNING == 1 and mesos_pb2.TASK_FINISHED == 2
    assert mesos_pb2.TaskState.Name(mesos_pb2.TASK_KILLED) == "TASK_KILLED"
    assert mesos_pb2.TaskState.Value("TASK_LOST") == mesos_pb2.TASK_LOST
    status = mesos_pb2.TaskStatus.from_json({"task_id": {"value": "t"}, "state": "TASK_FAILED",
                                             "agent_id": {"value": "a"}, "reason": "REASON_COMMAND_EXECUTOR_FAILED"})
    assert status.state == mesos_pb2.TASK_FAILED
    assert status.slave_id.value == "a"
    assert status.reason == mesos_pb2.TaskStatus.REASON_COMMAND_EXECUTOR_FAILED
    status.state = "TASK_RUNNING"  # a name works too
    assert status.state == mesos_pb2.TASK_RUNNING


def test_what_a_newer_master_adds_is_ignored():
    offer = mesos_pb2.Offer.from_json({"id": {"value": "o"}, "framework_id": {"value": "f"},
                                       "agent_id": {"value": "a"}, "hostname": "h", "resources": [],
                                       "a_field_from_the_future": 1})
    assert offer.hostname == "h"
    status = mesos_pb2.TaskStatus.from_json({"task_id": {"value": "t"}, "state": "TASK_FROM_THE_FUTURE"})
    assert not status.HasField("state")  # as proto2 leaves an unknown enum value


def test_mesos_0x_names_of_agents():
    assert mesos_pb2.TaskStatus.SOURCE_SLAVE == mesos_pb2.TaskStatus.SOURCE_AGENT
    assert mesos_pb2.TaskStatus.REASON_SLAVE_REMOVED == mesos_pb2.TaskStatus.REASON_AGENT_REMOVED
    assert mesos_pb2.TaskStatus.Source.Value("SOURCE_SLAVE") == mesos_pb2.TaskStatus.SOURCE_AGENT
    assert mesos_pb2.SlaveID is mesos_pb2.AgentID


def test_copy_deepcopy_and_pickle_are_independent_copies():
    import copy
    import pickle
    task = mesos_pb2.TaskInfo(name="t", task_id={"value": "1"})
    task.resources.add(name="cpus", type=mesos_pb2.Value.SCALAR, scalar={"value": 1})
    for other in (copy.copy(task), copy.deepcopy(task), pickle.loads(pickle.dumps(task))):
        assert other == task
        other.resources[0].scalar.value = 2
        other.name = "changed"
        assert task.resources[0].scalar.value == 1 and task.name == "t"


def test_copy_merge_clear():
    info = mesos_pb2.FrameworkInfo(user="u", name="n", roles=["a", "b"])
    copy = mesos_pb2.FrameworkInfo()
    copy.CopyFrom(info)
    assert copy == info and copy is not info
    copy.roles.append("c")
    assert list(info.roles) == ["a", "b"]
    copy.ClearField("roles")
    assert copy.to_json() == {"user": "u", "name": "n"}
    copy.MergeFrom(mesos_pb2.FrameworkInfo(hostname="h"))
    assert copy.hostname == "h" and copy.user == "u"


@pytest.mark.parametrize("make, error", [
    (lambda: mesos_pb2.TaskInfo(no_such_field=1), AttributeError),
    (lambda: setattr(mesos_pb2.TaskInfo(), "name", 5), TypeError),
    (lambda: setattr(mesos_pb2.Value.Scalar(), "value", "one"), TypeError),
    (lambda: setattr(mesos_pb2.Value.Range(), "begin", -1), ValueError),
    (lambda: setattr(mesos_pb2.Value.Range(), "begin", 1.5), TypeError),
    (lambda: setattr(mesos_pb2.TaskStatus(), "state", "TASK_NOPE"), ValueError),
    (lambda: setattr(mesos_pb2.TaskStatus(), "state", 99), ValueError),
    (lambda: setattr(mesos_pb2.TaskInfo(), "task_id", mesos_pb2.OfferID(value="x")), TypeError),
    (lambda: mesos_pb2.TaskInfo().resources.append("cpus:1"), TypeError),
    (lambda: mesos_pb2.FrameworkInfo().roles.add(), TypeError),
    (lambda: mesos_pb2.TaskInfo.from_json([]), TypeError),
    (lambda: mesos_pb2.TaskInfo.from_json({"resources": {}}), TypeError),
    (lambda: mesos_pb2.TaskInfo.from_json({"data": 5}), TypeError),
    (lambda: mesos_pb2.TaskState.Name(99), ValueError),
])
def test_what_does_not_fit_is_a_clear_error(make, error):
    with pytest.raises(error):
        make()
