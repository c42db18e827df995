// Starting a framework against a TestCluster's master, for the integration
// tests.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "clusternodes/scheduler.hpp"
#include "tests/harness/cluster.hpp"
#include "tests/harness/recording_scheduler.hpp"

namespace clusternodes::testing {

// A framework named `name`, run as root.
inline FrameworkInfo frameworkInfo(const std::string& name, bool partitionAware = false) {
  FrameworkInfo info;
  info.name = name;
  info.user = "root";
  info.partitionAware = partitionAware;
  return info;
}

// Starts a driver for `scheduler` against the cluster's master and waits
// until the framework is registered. A framework without a user runs as root.
inline std::unique_ptr<SchedulerDriver> startDriver(RecordingScheduler& scheduler, const TestCluster& cluster,
                                                    FrameworkInfo info, bool implicitAcks = true) {
  if (info.user.empty()) info.user = "root";
  auto driver = SchedulerDriver::create(&scheduler, info,
                                        {.master = cluster.master(), .implicitAcknowledgements = implicitAcks});
  REQUIRE(driver->start() == DriverStatus::kRunning);
  REQUIRE(scheduler.waitForRegistration());
  return driver;
}

inline std::unique_ptr<SchedulerDriver> startDriver(RecordingScheduler& scheduler, const TestCluster& cluster,
                                                    const std::string& name) {
  return startDriver(scheduler, cluster, frameworkInfo(name));
}

}  // namespace clusternodes::testing
