"""Clusternodes for Python: Mesos's Python scheduler interface
(Scheduler, MesosSchedulerDriver, mesos_pb2), on a Clusternodes master.

A scheduler written for Mesos's Python bindings moves over by changing its
imports:

    from mesos.interface import Scheduler, mesos_pb2    ->  from clusternodes import Scheduler, mesos_pb2
    from mesos.native import MesosSchedulerDriver       ->  from clusternodes import MesosSchedulerDriver

docs/python.md says what maps and what does not.
"""

from . import mesos_pb2
from .scheduler import (DRIVER_ABORTED, DRIVER_NOT_STARTED, DRIVER_RUNNING, DRIVER_STOPPED, MesosSchedulerDriver,
                        Scheduler)

__version__ = "0.1.0"

# Where Mesos kept them.
mesos_pb2.DRIVER_NOT_STARTED = DRIVER_NOT_STARTED
mesos_pb2.DRIVER_RUNNING = DRIVER_RUNNING
mesos_pb2.DRIVER_ABORTED = DRIVER_ABORTED
mesos_pb2.DRIVER_STOPPED = DRIVER_STOPPED

__all__ = ["Scheduler", "MesosSchedulerDriver", "mesos_pb2", "DRIVER_NOT_STARTED", "DRIVER_RUNNING",
           "DRIVER_ABORTED", "DRIVER_STOPPED"]
