"""A scheduler written for Mesos's Python bindings (examples/
mesos_docker_scheduler.py: Docker containers on offers of at least 1 cpu
and 128 MB, TASK_FINISHED counted), with only its imports changed, run
against a Clusternodes master named by HOST:PORT and by zk://."""

import os
import subprocess
import sys

import pytest

from conftest import Cluster, HERE

EXAMPLE = os.path.join(HERE, "..", "examples", "mesos_docker_scheduler.py")
IMAGE = "clusternodes/busybox"  # scripts/docker.sh builds it


def docker_ready():
    result = subprocess.run(["docker", "image", "inspect", IMAGE], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return result.returncode == 0


def run_example(master):
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    result = subprocess.run([sys.executable, EXAMPLE, master, IMAGE], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=120)
    return result.returncode, result.stdout.decode()


@pytest.fixture
def docker():
    assert docker_ready(), "no Docker image %s: scripts/docker.sh starts dockerd and builds it" % IMAGE


def test_the_mesos_scheduler_runs_its_containers_against_host_port(cluster, docker):
    code, output = run_example(cluster.master)
    assert code == 0, output
    assert output.count("is in state TASK_FINISHED") == 3, output
    assert "All 3 tasks finished" in output


def test_the_mesos_scheduler_finds_the_master_through_zookeeper(docker):
    c = Cluster()
    try:
        zk = c.start_zookeeper()
        c.start_master("--zk=" + zk)
        c.start_agent()
        c.wait_for_agents(1)
        code, output = run_example(zk)
        assert code == 0, output
        assert output.count("is in state TASK_FINISHED") == 3, output
    finally:
        c.stop()
