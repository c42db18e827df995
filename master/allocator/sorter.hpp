// Sorter: the order in which hierarchical DRF hands out resources.
//
// Roles form a tree by their '/'-separated paths: "eng/ml" is a child of
// "eng", and "*" (unreserved, the default role) is a top-level role like any
// other. A framework takes part once in each role it subscribes to, as a
// *client* of that role. At every level of the tree the siblings are ordered
// by weighted dominant share, that is the dominant share of everything
// allocated in their subtree divided by their weight, ties broken by name. A
// role's own clients count as one more sibling among its children, named "."
// and weighted like the role; among themselves they are ordered by their
// dominant share, ties broken by their name (the framework id). forEach()
// visits the clients in that order, depth first.
//
//   Sorter sorter;
//   auto ml = sorter.role("eng/ml");
//   sorter.setWeight(sorter.role("eng"), 2);
//   auto client = sorter.addClient("framework-1", ml);
//   sorter.setTotal(Scalars::of(clusterTotal));
//   sorter.add(client, Scalars::of(offered));
//   sorter.forEach([&](Sorter::ClientIndex c) { ...; return true; });  // false stops
//
// Cost: a change of a client's allocation moves it and its ancestors to their
// new places, O(depth × (log n + the entries it passes)). A change of the
// cluster total changes every share; the whole order is rebuilt once, at the
// next visit. Amounts are kept in thousandths as integers, like Resources,
// so that equal allocations give exactly equal shares and ties stay ties.
//
// Loop thread only; no callbacks.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "clusternodes/resources.hpp"

namespace clusternodes::master {

// The resource kinds that shares are computed over, in thousandths.
struct Scalars {
  static constexpr size_t kKinds = 4;  // cpus, mem, disk, gpus
  static const std::array<const char*, kKinds>& names();
  std::array<int64_t, kKinds> value{};

  static Scalars of(const Resources& resources);
  Scalars& operator+=(const Scalars& other);
  Scalars& operator-=(const Scalars& other);  // floors at zero
  bool operator==(const Scalars&) const = default;
  bool empty() const;
  // max over kinds of this / total (kinds with a zero total are skipped).
  double dominantShare(const Scalars& total) const;
};

class Sorter {
 public:
  using RoleIndex = uint32_t;
  using ClientIndex = uint32_t;
  static constexpr RoleIndex kRoot = 0;  // the tree's root, path ""

  Sorter();

  // The role with this path, created (with its ancestors) if new.
  RoleIndex role(const std::string& path);
  std::optional<RoleIndex> findRole(const std::string& path) const;
  const std::string& path(RoleIndex role) const { return nodes_[role].path; }
  RoleIndex parent(RoleIndex role) const { return nodes_[role].parent; }
  // Whether `role` is `ancestor` or lies beneath it.
  bool within(RoleIndex role, RoleIndex ancestor) const;
  size_t roleCount() const { return nodes_.size(); }

  void setWeight(RoleIndex role, double weight);  // REQUIRES weight > 0
  double weight(RoleIndex role) const { return nodes_[role].weight; }

  // A client named `name` (unique among the role's clients) in `role`.
  // Indices of removed clients are reused.
  ClientIndex addClient(const std::string& name, RoleIndex role);
  // REQUIRES: the client's allocation was subtracted to zero, or is
  // dropped here (its role's totals lose it).
  void removeClient(ClientIndex client);
  // Inactive clients keep their place but forEach() skips them.
  void setActive(ClientIndex client, bool active);
  bool active(ClientIndex client) const { return clients_[client].active; }
  RoleIndex roleOf(ClientIndex client) const { return clients_[client].role; }
  const std::string& name(ClientIndex client) const { return clients_[client].name; }
  // One past the highest client index in use (for per-client bitsets).
  size_t clientCapacity() const { return clients_.size(); }
  size_t clientCount() const { return clientCount_; }

  void add(ClientIndex client, const Scalars& amount);
  void subtract(ClientIndex client, const Scalars& amount);
  const Scalars& allocation(ClientIndex client) const { return clients_[client].allocation; }
  // Everything allocated in the role's subtree.
  const Scalars& allocation(RoleIndex role, bool /*subtree*/) const { return nodes_[role].allocation; }
  double share(ClientIndex client) const { return clients_[client].allocation.dominantShare(total_); }
  double roleShare(RoleIndex role) const { return nodes_[role].allocation.dominantShare(total_); }

  void setTotal(const Scalars& total);
  const Scalars& total() const { return total_; }

  // Visits the active clients in DRF order until `fn` returns false. `fn`
  // must not change the sorter. Returns false when stopped early.
  template <typename Fn>
  bool forEach(Fn&& fn) {
    return forEachIn(kRoot, fn);
  }
  // The same over the clients of `role` and its descendants.
  template <typename Fn>
  bool forEachIn(RoleIndex role, Fn&& fn) {
    if (stale_) rebuild();
    return visit(role, fn);
  }

 private:
  static constexpr uint32_t kOwnClients = UINT32_MAX;  // the "." sibling

  // Ties between equal keys go by name; `rank` is the position of the name
  // among all names (renumbered when one is added), so that comparing two
  // entries never compares strings.
  struct Entry {
    double key = 0;
    uint32_t rank = 0;
    uint32_t index = 0;  // a role, a client, or kOwnClients
  };
  struct Node {
    std::string path;
    std::string name;  // last path segment; "." sorts its own clients' group
    uint32_t rank = 0;
    RoleIndex parent = kRoot;
    double weight = 1;
    Scalars allocation;  // the whole subtree
    Scalars own;         // this role's own clients
    std::vector<Entry> children;  // child roles, and kOwnClients when it has clients
    std::vector<Entry> clients;   // its own clients
    uint32_t activeClients = 0;   // in the subtree
    uint32_t ownClients = 0;
  };
  struct Client {
    std::string name;
    uint32_t rank = 0;
    RoleIndex role = kRoot;
    bool used = false;
    bool active = true;
    Scalars allocation;
    double key = 0;  // the key it is sorted under
  };

  static bool before(const Entry& a, const Entry& b) {
    if (a.key != b.key) return a.key < b.key;
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.index < b.index;
  }
  double nodeKey(const Node& node) const { return node.allocation.dominantShare(total_) / node.weight; }
  double ownKey(const Node& node) const { return node.own.dominantShare(total_) / node.weight; }
  // Moves the entry `index` sorted under `oldKey` to `newKey`.
  static void reposition(std::vector<Entry>& entries, uint32_t index, uint32_t rank, double oldKey, double newKey);
  void renumberClients();
  void renumberRoles();
  void updateAncestors(RoleIndex role, const Scalars& delta, bool add);
  void countActive(RoleIndex role, int delta);
  void rebuild();

  template <typename Fn>
  bool visit(RoleIndex role, Fn& fn) {
    const Node& node = nodes_[role];
    for (const Entry& child : node.children) {
      if (child.index == kOwnClients) {
        for (const Entry& client : node.clients) {
          if (!clients_[client.index].active) continue;
          if (!fn(static_cast<ClientIndex>(client.index))) return false;
        }
      } else if (nodes_[child.index].activeClients > 0) {
        if (!visit(child.index, fn)) return false;
      }
    }
    return true;
  }

  std::deque<Node> nodes_;
  std::deque<Client> clients_;
  std::vector<ClientIndex> freeClients_;
  size_t clientCount_ = 0;
  Scalars total_;
  bool stale_ = false;
  uint32_t ownRank_ = 0;  // the rank of "." among role names
};

}  // namespace clusternodes::master
