#!/usr/bin/env python3
"""A framework's scheduler as it was written for Apache Mesos's Python
bindings: it launches a Docker container on each offer with at least 1 cpu
and 128 MB, until three have finished, and counts TASK_FINISHED. Only its
two import lines differ from its Mesos original, which had

    from mesos.interface import Scheduler, mesos_pb2
    from mesos.native import MesosSchedulerDriver

Usage: mesos_docker_scheduler.py MASTER [IMAGE]
  MASTER  the master's HTTP address (HOST:PORT) or zk://HOSTS/PATH
  IMAGE   the image to run (busybox)
"""

import sys
import uuid

from clusternodes import Scheduler, mesos_pb2
from clusternodes import MesosSchedulerDriver

TOTAL_TASKS = 3
TASK_CPUS = 1
TASK_MEM = 128


class DockerScheduler(Scheduler):
    def __init__(self, image):
        self.image = image
        self.launched = 0
        self.finished = 0

    def registered(self, driver, frameworkId, masterInfo):
        print("Registered with framework ID %s" % frameworkId.value)

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus = sum(r.scalar.value for r in offer.resources if r.name == "cpus")
            mem = sum(r.scalar.value for r in offer.resources if r.name == "mem")
            if self.launched >= TOTAL_TASKS or cpus < TASK_CPUS or mem < TASK_MEM:
                driver.declineOffer(offer.id)
                continue

            task = mesos_pb2.TaskInfo()
            task.task_id.value = "docker-%d-%s" % (self.launched, uuid.uuid4().hex[:8])
            task.slave_id.value = offer.slave_id.value
            task.name = "docker task %d" % self.launched
            task.command.value = "echo hello from a container"
            task.container.type = mesos_pb2.ContainerInfo.DOCKER
            task.container.docker.image = self.image
            task.container.docker.network = mesos_pb2.ContainerInfo.DockerInfo.HOST

            resource = task.resources.add()
            resource.name = "cpus"
            resource.type = mesos_pb2.Value.SCALAR
            resource.scalar.value = TASK_CPUS
            resource = task.resources.add()
            resource.name = "mem"
            resource.type = mesos_pb2.Value.SCALAR
            resource.scalar.value = TASK_MEM

            print("Launching task %s on %s" % (task.task_id.value, offer.hostname))
            driver.launchTasks(offer.id, [task])
            self.launched += 1

    def statusUpdate(self, driver, update):
        print("Task %s is in state %s" % (update.task_id.value, mesos_pb2.TaskState.Name(update.state)))
        if update.state == mesos_pb2.TASK_FINISHED:
            self.finished += 1
            if self.finished == TOTAL_TASKS:
                print("All %d tasks finished" % self.finished)
                driver.stop()
        elif update.state in (mesos_pb2.TASK_LOST, mesos_pb2.TASK_KILLED, mesos_pb2.TASK_FAILED,
                              mesos_pb2.TASK_ERROR):
            print("Aborting because task %s is in unexpected state %s: %s"
                  % (update.task_id.value, mesos_pb2.TaskState.Name(update.state), update.message))
            driver.abort()

    def error(self, driver, message):
        print("Error: %s" % message)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__.split("\n\n")[-1])
        sys.exit(2)
    framework = mesos_pb2.FrameworkInfo()
    framework.user = ""  # Have Mesos fill in the current user.
    framework.name = "Docker scheduler (Python)"
    driver = MesosSchedulerDriver(DockerScheduler(sys.argv[2] if len(sys.argv) > 2 else "busybox"), framework,
                                  sys.argv[1])
    status = driver.run()
    sys.exit(0 if status == mesos_pb2.DRIVER_STOPPED else 1)
