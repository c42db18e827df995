// StateWatcher: told of each change to what operators watch (the tasks,
// agents and frameworks the operator API's SUBSCRIBE stream reports), once
// the books hold it. The master's one watcher is its operator event stream
// (master/http/operator_stream.hpp); without HTTP there is none.
//
// The books call it in MasterContext::watch(); a watcher reads the state
// it is handed and must not change the books. Loop thread only.
#pragma once

#include "master/state.hpp"

namespace clusternodes::master {

class StateWatcher {
 public:
  virtual ~StateWatcher() = default;
  // A task the master did not hold: launched, or reported by an agent that
  // re-registered with a master that had not known it.
  virtual void taskAdded(const Task& task) = 0;
  // A task held changed state; `status` says how (the framework's update).
  virtual void taskUpdated(const FrameworkID& framework, const TaskStatus& status) = 0;
  // An agent now reachable that was not: registered, re-registered after a
  // master failover, or back from unreachable.
  virtual void agentAdded(const AgentEntry& agent) = 0;
  // A reachable agent that is not any more: unreachable or gone.
  virtual void agentRemoved(const AgentID& id) = 0;
  // A framework's first subscription.
  virtual void frameworkAdded(const FrameworkEntry& framework) = 0;
  // It subscribed again, disconnected, or changed its FrameworkInfo.
  virtual void frameworkUpdated(const FrameworkEntry& framework) = 0;
  // About to be removed from the books.
  virtual void frameworkRemoved(const FrameworkEntry& framework) = 0;
};

}  // namespace clusternodes::master
