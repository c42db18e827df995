#include "master/offers.hpp"

namespace clusternodes::master {

void OfferBook::send(const FrameworkID& frameworkId, std::vector<Allocation> allocations) {
  auto& state = ctx_.state;
  auto fw = state.frameworks.find(frameworkId);
  if (fw == state.frameworks.end() || !fw->second.connected || fw->second.awaitingSubscribed) {
    for (const auto& a : allocations) {
      ctx_.allocator.recoverResources(frameworkId, a.agentId, a.resources, std::nullopt, a.role);
    }
    return;
  }
  capnp::MallocMessageBuilder message;
  auto list = message.initRoot<wire::Envelope>().initResourceOffers().initOffers(
      static_cast<unsigned>(allocations.size()));
  unsigned i = 0;
  for (auto& allocation : allocations) {
    auto& agent = state.agents.at(allocation.agentId);
    OfferEntry offer;
    offer.id.value = state.masterId + "-O" + std::to_string(nextOffer_++);
    offer.frameworkId = frameworkId;
    offer.agentId = allocation.agentId;
    offer.role = allocation.role;
    offer.resources = allocation.resources;
    offer.createdAt = ctx_.now();
    Offer value{offer.id,        frameworkId, offer.agentId, agent.info.hostname, offer.resources,
                agent.info.attributes, offer.role};
    wire::toWire(value, list[i++]);
    agent.offers.insert(offer.id);
    fw->second.offers.insert(offer.id);
    state.offers.emplace(offer.id, std::move(offer));
    ++state.metrics.offersSent;
  }
  ctx_.send(fw->second.peer, message);
}

void OfferBook::remove(const OfferID& id) {
  auto& state = ctx_.state;
  auto it = state.offers.find(id);
  if (it == state.offers.end()) return;
  if (auto agent = state.agents.find(it->second.agentId); agent != state.agents.end()) {
    agent->second.offers.erase(id);
  }
  if (auto fw = state.frameworks.find(it->second.frameworkId); fw != state.frameworks.end()) {
    fw->second.offers.erase(id);
  }
  state.offers.erase(it);
}

void OfferBook::rescind(const OfferID& id, bool recover) {
  auto& state = ctx_.state;
  auto it = state.offers.find(id);
  if (it == state.offers.end()) return;
  auto offer = it->second;
  remove(id);
  ++state.metrics.offersRescinded;
  ctx_.events.record({.type = EventType::kOfferRescinded, .agentId = offer.agentId.value,
                      .frameworkId = offer.frameworkId.value,
                      .message = "offer " + id.value + " of " + offer.resources.toString()});
  auto fw = state.frameworks.find(offer.frameworkId);
  if (fw != state.frameworks.end() && fw->second.connected) {
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::Envelope>().initRescindOffer().setOfferId(id.value);
    ctx_.send(fw->second.peer, message);
  }
  if (recover) {
    ctx_.allocator.recoverResources(offer.frameworkId, offer.agentId, offer.resources, std::nullopt, offer.role);
    ctx_.requestAllocation();
  }
}

void OfferBook::rescindAll(const std::set<OfferID>& ids, bool recover) {
  // A copy: rescinding erases from the set the caller may have passed.
  for (const auto& id : std::set<OfferID>(ids)) rescind(id, recover);
}

void OfferBook::expire() {
  if (ctx_.flags.offerTimeout <= std::chrono::nanoseconds::zero()) return;
  double limit = toSeconds(ctx_.flags.offerTimeout);
  double now = ctx_.now();
  std::vector<OfferID> expired;
  for (const auto& [id, offer] : ctx_.state.offers) {
    if (now - offer.createdAt >= limit) expired.push_back(id);
  }
  for (const auto& id : expired) rescind(id, true);
}

void OfferBook::decline(const FrameworkEntry& framework, const std::vector<OfferID>& ids, double refuseSeconds) {
  for (const auto& id : ids) {
    auto it = ctx_.state.offers.find(id);
    if (it == ctx_.state.offers.end() || it->second.frameworkId != framework.id) continue;
    auto offer = it->second;
    remove(offer.id);
    ++ctx_.state.metrics.offersDeclined;
    std::optional<Filters> filters;
    if (refuseSeconds > 0) filters = Filters{refuseSeconds};
    ctx_.allocator.recoverResources(framework.id, offer.agentId, offer.resources, filters, offer.role);
  }
  ctx_.requestAllocation();
}

OfferBook::Taken OfferBook::take(const FrameworkEntry& framework, const std::vector<OfferID>& ids) {
  Taken taken;
  for (const auto& id : ids) {
    auto it = ctx_.state.offers.find(id);
    if (it == ctx_.state.offers.end()) {
      taken.error = "offer " + id.value + " is no longer valid";
      continue;
    }
    if (it->second.frameworkId != framework.id) {
      taken.error = "offer " + id.value + " belongs to another framework";
      continue;
    }
    if (!taken.offers.empty() && taken.offers.front().agentId != it->second.agentId) {
      taken.error = "offers span more than one agent";
      continue;
    }
    taken.offers.push_back(it->second);
  }
  if (taken.offers.empty() && taken.error.empty()) taken.error = "no offers given";
  for (const auto& offer : taken.offers) {
    taken.resources += offer.resources;
    remove(offer.id);
  }
  ctx_.state.metrics.offersAccepted += taken.offers.size();
  return taken;
}

}  // namespace clusternodes::master
