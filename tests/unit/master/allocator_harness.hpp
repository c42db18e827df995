// A harness for the allocator's unit tests: an allocator on a manual clock
// whose offer callback records every offer, and helpers to describe offers.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clusternodes/resources.hpp"
#include "clusternodes/values.hpp"
#include "common/clock.hpp"
#include "master/allocator/allocator.hpp"

namespace clusternodes::master::testing {

inline Resources res(std::string_view text) {
  auto parsed = Resources::parse(text);
  INFO("parsing: " << std::string(text));
  REQUIRE(parsed.ok());
  return *parsed;
}

inline FrameworkID fwId(const std::string& value) { return FrameworkID{value}; }
inline AgentID agentId(const std::string& value) { return AgentID{value}; }

// One allocation as the offer callback delivered it.
struct Offered {
  FrameworkID framework;
  Allocation allocation;
};

// An allocator on a manual clock that records every offer.
struct Harness {
  ManualClock clock;
  std::unique_ptr<Allocator> allocator = makeDrfAllocator(clock);
  std::vector<Offered> log;  // everything ever offered, in delivery order
  int callbackCalls = 0;

  Harness() {
    allocator->initialize([this](const FrameworkID& id, std::vector<Allocation> allocations) {
      ++callbackCalls;
      for (auto& a : allocations) log.push_back({id, std::move(a)});
    });
  }

  void addFramework(const std::string& id, const std::string& role = "*", bool active = true) {
    allocator->addFramework(fwId(id), FrameworkOptions{{role}, active}, {});
  }
  void addFramework(const std::string& id, const std::vector<std::string>& roles, bool active = true) {
    allocator->addFramework(fwId(id), FrameworkOptions{roles, active}, {});
  }

  void addAgent(const std::string& id, std::string_view resources,
                const std::map<FrameworkID, Resources>& used = {}) {
    allocator->addAgent(agentId(id), id + ".example.org", res(resources), used);
  }

  // Runs one allocation round and returns what it offered.
  std::vector<Offered> round() {
    size_t before = log.size();
    allocator->allocate();
    return {log.begin() + static_cast<std::ptrdiff_t>(before), log.end()};
  }

  // Hands an offer back, optionally with a refuse filter.
  void decline(const Offered& offer, std::optional<Filters> filters = std::nullopt) {
    allocator->recoverResources(offer.framework, offer.allocation.agentId, offer.allocation.resources, filters);
  }
  void declineAll(const std::vector<Offered>& offers, std::optional<Filters> filters = std::nullopt) {
    for (const auto& o : offers) decline(o, filters);
  }

  std::optional<FrameworkSummary> summary(const std::string& id) const {
    for (auto& s : allocator->frameworkSummaries()) {
      if (s.id.value == id) return s;
    }
    return std::nullopt;
  }

  std::optional<RoleSummary> roleSummary(const std::string& role) const {
    for (auto& s : allocator->roleSummaries()) {
      if (s.role == role) return s;
    }
    return std::nullopt;
  }

  Resources allocatedTo(const std::string& framework) const {
    auto s = summary(framework);
    return s ? s->allocated : Resources();
  }
  Resources allocatedToRole(const std::string& role) const {
    auto s = roleSummary(role);
    return s ? s->allocated : Resources();
  }
};

// Renders offers as "framework@agent(role):resources" for whole-sequence comparisons.
inline std::vector<std::string> describe(const std::vector<Offered>& offers) {
  std::vector<std::string> out;
  for (const auto& o : offers) {
    out.push_back(o.framework.value + "@" + o.allocation.agentId.value + "(" + o.allocation.role +
                  "):" + o.allocation.resources.toString());
  }
  return out;
}

using Lines = std::vector<std::string>;

inline std::string join(const Lines& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Expected offers in describe()'s form, with the resources written in any
// order: "framework@agent(role):resources".
inline Lines expect(std::initializer_list<std::string> lines) {
  Lines out;
  for (const std::string& l : lines) {
    size_t open = l.find('(', l.find('@'));
    size_t close = l.find("):", open);
    REQUIRE(close != std::string::npos);
    out.push_back(l.substr(0, close + 2) + res(l.substr(close + 2)).toString());
  }
  return out;
}

inline int countFor(const std::vector<Offered>& offers, const std::string& framework) {
  return static_cast<int>(std::count_if(offers.begin(), offers.end(),
                                        [&](const Offered& o) { return o.framework.value == framework; }));
}

inline Resources sumFor(const std::vector<Offered>& offers, const std::string& framework) {
  Resources out;
  for (const auto& o : offers) {
    if (o.framework.value == framework) out += o.allocation.resources;
  }
  return out;
}

// "agent-01" ... "agent-99": ids whose order is their number's.
inline std::string agentName(int i) { return "agent-" + std::string(i < 10 ? "0" : "") + std::to_string(i); }

}  // namespace clusternodes::master::testing
