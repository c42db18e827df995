"""A real cluster for the Python SDK's tests: a clusternodes-master and
clusternodes-agent started as processes from the build (CLUSTERNODES_BIN,
else ../../build/bin), on free ports of 127.0.0.1, in a directory of their
own that goes with them."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package from the tree, unless installed

BIN = os.environ.get("CLUSTERNODES_BIN") or os.path.join(HERE, "..", "..", "build", "bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(predicate, timeout=20.0, what="a condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


class Cluster(object):
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cn-python-")
        self.processes = []
        self.agents = 0
        self.master_port = free_port()
        self.http_port = free_port()

    @property
    def master(self):
        """The master's HTTP address, as a Mesos framework names its master."""
        return "127.0.0.1:%d" % self.http_port

    def _start(self, name, argv):
        log = open(os.path.join(self.dir, name + ".log"), "w")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append(process)
        return process

    def start_master(self, *flags):
        binary = os.path.join(BIN, "clusternodes-master")
        assert os.access(binary, os.X_OK), "no %s: build the tree first (scripts/build.sh build)" % binary
        self.master_flags = flags
        self.master_process = self._start("master", [
            binary, "--ip=127.0.0.1", "--port=%d" % self.master_port, "--http-port=%d" % self.http_port,
            "--work-dir=" + os.path.join(self.dir, "master"), "--agent-ping-timeout=500ms",
            "--max-agent-ping-timeouts=4", "--framework-heartbeat-interval=500ms"] + list(flags))
        eventually(lambda: self.get("/health") is not None, what="the master's /health")

    def restart_master(self):
        """Kills the master (SIGKILL) and starts it again: the same ports, work dir and flags."""
        os.killpg(self.master_process.pid, signal.SIGKILL)
        self.master_process.wait()
        self.processes.remove(self.master_process)
        self.start_master(*self.master_flags)

    def start_agent(self, resources="cpus:2;mem:1024;disk:1024", *flags):
        index = self.agents
        self.agents += 1
        return self._start("agent-%d" % index, [
            os.path.join(BIN, "clusternodes-agent"), "--master=127.0.0.1:%d" % self.master_port,
            "--ip=127.0.0.1", "--port=%d" % free_port(), "--http-port=%d" % free_port(),
            "--work-dir=" + os.path.join(self.dir, "agent-%d" % index), "--resources=" + resources,
            "--registration-backoff=100ms", "--status-update-retry-interval=200ms", "--isolation=none"]
            + list(flags))

    def get(self, path):
        try:
            with urllib.request.urlopen("http://%s%s" % (self.master, path), timeout=5) as response:
                return response.read().decode()
        except OSError:
            return None

    def state(self):
        text = self.get("/state")
        return json.loads(text) if text else {}

    def wait_for_agents(self, count):
        eventually(lambda: len([a for a in self.state().get("agents", []) if a.get("reachable", True)]) >= count,
                   what="%d agent(s)" % count)

    def start_zookeeper(self):
        """A ZooKeeper server of its own (Debian's zookeeper package); its zk:// URL for the masters."""
        jar = next((p for p in ("/usr/share/java/zookeeper.jar", "/usr/share/zookeeper/zookeeper.jar")
                    if os.path.exists(p)), None)
        assert jar, "no ZooKeeper: scripts/setup.sh installs Debian's zookeeper"
        port = free_port()
        zk_dir = os.path.join(self.dir, "zookeeper")
        os.makedirs(os.path.join(zk_dir, "data"))
        with open(os.path.join(zk_dir, "zoo.cfg"), "w") as cfg:
            cfg.write("tickTime=500\nminSessionTimeout=1000\nmaxSessionTimeout=60000\ninitLimit=20\n"
                      "syncLimit=5\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
                      "admin.enableServer=false\n4lw.commands.whitelist=srvr,ruok\n" % (zk_dir, port))
        self._start("zookeeper", ["/usr/bin/java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                                  "-Dzookeeper.log.dir=" + zk_dir, "-cp", zk_dir + ":" + jar,
                                  "org.apache.zookeeper.server.quorum.QuorumPeerMain", zk_dir + "/zoo.cfg"])

        def serving():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"srvr")
                    return b"Mode:" in s.recv(4096)
            except OSError:
                return False

        eventually(serving, timeout=60, what="ZooKeeper")
        return "zk://127.0.0.1:%d/clusternodes" % port

    def stop(self):
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster():
    c = Cluster()
    c.start_master()
    c.start_agent()
    c.wait_for_agents(1)
    yield c
    c.stop()
