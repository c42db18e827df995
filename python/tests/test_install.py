"""pip install ./python, in a fresh virtualenv, with no network: the
installed package imports, and reads its messages' definitions from where
it was installed rather than from the tree."""

import os
import shutil
import subprocess

from conftest import HERE


def test_pip_installs_the_package_offline(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    # As on a host with no index to reach: no links, no retries.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    # A copy, as a download of the tree is (pip builds in place).
    source = tmp_path / "python"
    shutil.copytree(os.path.join(HERE, ".."), str(source), ignore=shutil.ignore_patterns("__pycache__", "build"))
    install = subprocess.run([str(venv / "bin" / "pip"), "install", str(source)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=str(tmp_path))
    assert install.returncode == 0, install.stdout.decode()
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import clusternodes, os; from clusternodes import mesos_pb2, MesosSchedulerDriver, Scheduler; "
         "print(os.path.dirname(clusternodes.__file__)); print(mesos_pb2.TaskState.Name(mesos_pb2.TASK_FINISHED))"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=str(tmp_path), env=env)
    out = check.stdout.decode()
    assert check.returncode == 0, out
    where, state = out.split()
    assert where.startswith(str(venv)), where
    assert os.path.isfile(os.path.join(where, "mesos.proto")) and not os.path.islink(os.path.join(where, "mesos.proto"))
    assert state == "TASK_FINISHED"
