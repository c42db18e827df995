// The registry in ZooKeeper, for masters that run highly available (--zk).
//
// Entries are kept in buckets: ROOT/GROUP/sNNNNNNNN holds, as one JSON
// object, entries of GROUP (NAME -> value), about 16 KiB of them. New
// entries fill the group's newest bucket, so a write of many new entries
// rewrites one or two buckets; an entry stays in its bucket, and a change
// to it rewrites that bucket only. A registry of tens of thousands of
// agents is read in a few hundred requests when a master takes over (not
// one per agent). Buckets of earlier layouts (bNNN, bNNNN: placed by a
// hash of the name) are read and changed in place.
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
