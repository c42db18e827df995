#include "master/allocator/sorter.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace clusternodes::master {

// ------------------------------------------------------------------ Scalars

const std::array<const char*, Scalars::kKinds>& Scalars::names() {
  static const std::array<const char*, kKinds> kNames = {"cpus", "mem", "disk", "gpus"};
  return kNames;
}

Scalars Scalars::of(const Resources& resources) {
  Scalars out;
  for (size_t k = 0; k < kKinds; ++k) {
    out.value[k] = static_cast<int64_t>(std::llround(resources.scalar(names()[k]) * 1000.0));
  }
  return out;
}

Scalars& Scalars::operator+=(const Scalars& other) {
  for (size_t k = 0; k < kKinds; ++k) value[k] += other.value[k];
  return *this;
}

Scalars& Scalars::operator-=(const Scalars& other) {
  for (size_t k = 0; k < kKinds; ++k) value[k] = std::max<int64_t>(0, value[k] - other.value[k]);
  return *this;
}

bool Scalars::empty() const {
  return std::all_of(value.begin(), value.end(), [](int64_t v) { return v == 0; });
}

double Scalars::dominantShare(const Scalars& total) const {
  double share = 0;
  for (size_t k = 0; k < kKinds; ++k) {
    if (total.value[k] > 0) share = std::max(share, static_cast<double>(value[k]) / static_cast<double>(total.value[k]));
  }
  return share;
}

// ------------------------------------------------------------------- Sorter

Sorter::Sorter() {
  nodes_.emplace_back();  // the root, path ""
}

std::optional<Sorter::RoleIndex> Sorter::findRole(const std::string& path) const {
  // Roles are few next to clients; a linear search keeps no second index in step.
  for (RoleIndex r = 0; r < nodes_.size(); ++r) {
    if (nodes_[r].path == path) return r;
  }
  return std::nullopt;
}

Sorter::RoleIndex Sorter::role(const std::string& path) {
  if (auto found = findRole(path)) return *found;
  auto slash = path.rfind('/');
  RoleIndex parentIndex = slash == std::string::npos ? kRoot : role(path.substr(0, slash));
  RoleIndex index = static_cast<RoleIndex>(nodes_.size());
  Node& node = nodes_.emplace_back();
  node.path = path;
  node.name = slash == std::string::npos ? path : path.substr(slash + 1);
  node.parent = parentIndex;
  renumberRoles();
  Node& parentNode = nodes_[parentIndex];
  Entry entry{nodeKey(node), node.rank, index};
  parentNode.children.insert(std::upper_bound(parentNode.children.begin(), parentNode.children.end(), entry, before),
                             entry);
  return index;
}

bool Sorter::within(RoleIndex role, RoleIndex ancestor) const {
  for (RoleIndex r = role;; r = nodes_[r].parent) {
    if (r == ancestor) return true;
    if (r == kRoot) return false;
  }
}

void Sorter::setWeight(RoleIndex role, double weight) {
  assert(weight > 0);
  Node& node = nodes_[role];
  if (node.weight == weight || role == kRoot) return;
  node.weight = weight;
  stale_ = true;  // its key and its own clients' group key change
}

Sorter::ClientIndex Sorter::addClient(const std::string& name, RoleIndex role) {
  ClientIndex index;
  if (!freeClients_.empty()) {
    index = freeClients_.back();
    freeClients_.pop_back();
  } else {
    index = static_cast<ClientIndex>(clients_.size());
    clients_.emplace_back();
  }
  Client& client = clients_[index];
  client.name = name;
  client.role = role;
  client.used = true;
  client.active = true;
  client.allocation = Scalars();
  client.key = 0;
  ++clientCount_;
  renumberClients();

  Node& node = nodes_[role];
  Entry entry{0, client.rank, index};
  node.clients.insert(std::upper_bound(node.clients.begin(), node.clients.end(), entry, before), entry);
  if (node.ownClients++ == 0) {
    Entry own{ownKey(node), ownRank_, kOwnClients};
    node.children.insert(std::upper_bound(node.children.begin(), node.children.end(), own, before), own);
  }
  countActive(role, +1);
  return index;
}

void Sorter::removeClient(ClientIndex index) {
  Client& client = clients_[index];
  if (!client.used) return;
  if (!client.allocation.empty()) {
    // A copy: subtract() lowers client.allocation first, and would then
    // take nothing from the role and its ancestors.
    Scalars held = client.allocation;
    subtract(index, held);
  }
  Node& node = nodes_[client.role];
  auto it = std::lower_bound(node.clients.begin(), node.clients.end(), Entry{client.key, client.rank, index}, before);
  if (it != node.clients.end() && it->index == index) node.clients.erase(it);
  if (--node.ownClients == 0) {
    auto own = std::find_if(node.children.begin(), node.children.end(),
                            [](const Entry& e) { return e.index == kOwnClients; });
    if (own != node.children.end()) node.children.erase(own);
  }
  if (client.active) countActive(client.role, -1);
  client.used = false;
  client.active = false;
  client.name.clear();
  --clientCount_;
  freeClients_.push_back(index);
}

void Sorter::setActive(ClientIndex index, bool active) {
  Client& client = clients_[index];
  if (!client.used || client.active == active) return;
  client.active = active;
  countActive(client.role, active ? +1 : -1);
}

void Sorter::countActive(RoleIndex role, int delta) {
  for (RoleIndex r = role;; r = nodes_[r].parent) {
    nodes_[r].activeClients = static_cast<uint32_t>(static_cast<int64_t>(nodes_[r].activeClients) + delta);
    if (r == kRoot) break;
  }
}

void Sorter::reposition(std::vector<Entry>& entries, uint32_t index, uint32_t rank, double oldKey, double newKey) {
  if (oldKey == newKey) return;
  auto from = std::lower_bound(entries.begin(), entries.end(), Entry{oldKey, rank, index}, before);
  if (from == entries.end() || from->index != index) {
    // Not where its old key says (cannot happen unless stale): find it.
    from = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.index == index; });
    if (from == entries.end()) return;
  }
  Entry moved{newKey, rank, index};
  // Shift the entries in between by one slot (a memmove: Entry is trivially
  // copyable) and drop the moved entry into its new place.
  if (newKey > oldKey) {
    auto to = std::upper_bound(from + 1, entries.end(), moved, before);
    std::copy(from + 1, to, from);
    *(to - 1) = moved;
  } else {
    auto to = std::upper_bound(entries.begin(), from, moved, before);
    std::copy_backward(to, from, from + 1);
    *to = moved;
  }
}

void Sorter::add(ClientIndex index, const Scalars& amount) { updateAncestors(index, amount, true); }

void Sorter::subtract(ClientIndex index, const Scalars& amount) { updateAncestors(index, amount, false); }

void Sorter::updateAncestors(ClientIndex index, const Scalars& delta, bool add) {
  auto apply = [&](Scalars& target) {
    if (add) {
      target += delta;
    } else {
      target -= delta;
    }
  };
  Client& client = clients_[index];
  Node& own = nodes_[client.role];
  double oldOwnKey = ownKey(own);
  apply(client.allocation);
  apply(own.own);
  if (stale_) {
    // The order is rebuilt before the next visit; only keep the sums.
    for (RoleIndex r = client.role;; r = nodes_[r].parent) {
      apply(nodes_[r].allocation);
      if (r == kRoot) break;
    }
    return;
  }
  double newKey = client.allocation.dominantShare(total_);
  reposition(own.clients, index, client.rank, client.key, newKey);
  client.key = newKey;
  reposition(own.children, kOwnClients, ownRank_, oldOwnKey, ownKey(own));
  for (RoleIndex r = client.role;; r = nodes_[r].parent) {
    Node& node = nodes_[r];
    double oldKey = nodeKey(node);
    apply(node.allocation);
    if (r == kRoot) break;
    reposition(nodes_[node.parent].children, r, node.rank, oldKey, nodeKey(node));
  }
}

void Sorter::renumberClients() {
  std::vector<ClientIndex> order;
  for (ClientIndex c = 0; c < clients_.size(); ++c) {
    if (clients_[c].used) order.push_back(c);
  }
  std::sort(order.begin(), order.end(),
            [&](ClientIndex a, ClientIndex b) { return clients_[a].name < clients_[b].name; });
  for (uint32_t i = 0; i < order.size(); ++i) clients_[order[i]].rank = i;
  // Renumbering keeps the order of names, so every vector stays sorted.
  for (auto& node : nodes_) {
    for (auto& entry : node.clients) entry.rank = clients_[entry.index].rank;
  }
}

void Sorter::renumberRoles() {
  std::vector<std::string> names = {"."};
  for (const auto& node : nodes_) names.push_back(node.name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  auto rankOf = [&](const std::string& name) {
    return static_cast<uint32_t>(std::lower_bound(names.begin(), names.end(), name) - names.begin());
  };
  ownRank_ = rankOf(".");
  for (auto& node : nodes_) node.rank = rankOf(node.name);
  for (auto& node : nodes_) {
    for (auto& entry : node.children) entry.rank = entry.index == kOwnClients ? ownRank_ : nodes_[entry.index].rank;
  }
}

void Sorter::setTotal(const Scalars& total) {
  if (total == total_) return;
  total_ = total;
  stale_ = true;
}

void Sorter::rebuild() {
  for (auto& client : clients_) {
    if (client.used) client.key = client.allocation.dominantShare(total_);
  }
  for (RoleIndex r = 0; r < nodes_.size(); ++r) {
    Node& node = nodes_[r];
    for (auto& entry : node.clients) entry.key = clients_[entry.index].key;
    std::sort(node.clients.begin(), node.clients.end(), before);
    for (auto& entry : node.children) {
      entry.key = entry.index == kOwnClients ? ownKey(node) : nodeKey(nodes_[entry.index]);
    }
    std::sort(node.children.begin(), node.children.end(), before);
  }
  stale_ = false;
}

}  // namespace clusternodes::master
