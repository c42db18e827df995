// The registry in ZooKeeper, for masters that run highly available (--zk).
//
// Entries are kept in buckets: ROOT/GROUP/bNNN holds, as one JSON object,
// the entries of GROUP whose NAME hashes to bucket NNN (of kBuckets). A
// registry of tens of thousands of agents is then read in a few hundred
// requests when a master takes over (not one per agent), and a change
// rewrites one bucket, a few kilobytes.
//
// Every write is fenced on leadership: each multi-op first checks that the
// writer's election znode still exists, so a master that was deposed (its
// session ended and its znode went with it) has its write refused rather
// than landing over its successor's. A save is split into multi-ops well
// under ZooKeeper's request limit, each fenced; one that fails leaves its
// changes (and the later ones) to be saved again.
#pragma once

#include <memory>
#include <string>

#include "common/zookeeper.hpp"
#include "master/registry/registry.hpp"

namespace clusternodes::master {

// `root`: where the entries live ("/clusternodes/registry"); `fence`: the
// writer's election znode, which must exist for a write to land.
std::unique_ptr<RegistryStore> makeZooKeeperStore(ZooKeeper& zk, std::string root, std::string fence);

}  // namespace clusternodes::master
