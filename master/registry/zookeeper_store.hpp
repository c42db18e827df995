// The registry in ZooKeeper, for masters that run highly available (--zk).
//
// Each entry is a znode: ROOT/GROUP/NAME holds the entry's JSON, NAME
// escaped so that any id or role makes one valid znode name. Every write is
// fenced on leadership: each multi-op first checks that the writer's
// election znode still exists, so a master that was deposed (its session
// ended and its znode went with it) has its write refused rather than
// landing over its successor's. A save is split into multi-ops well under
// ZooKeeper's request limit, each fenced; one that fails leaves its changes
// (and the later ones) to be saved again.
#pragma once

#include <memory>
#include <string>

#include "common/zookeeper.hpp"
#include "master/registry/registry.hpp"

namespace clusternodes::master {

// `root`: where the entries live ("/clusternodes/registry"); `fence`: the
// writer's election znode, which must exist for a write to land.
std::unique_ptr<RegistryStore> makeZooKeeperStore(ZooKeeper& zk, std::string root, std::string fence);

// The znode name of an entry's NAME, and back: bytes other than letters,
// digits, '-' and '_' become %XX.
std::string escapeZnodeName(const std::string& name);
std::string unescapeZnodeName(const std::string& name);

}  // namespace clusternodes::master
