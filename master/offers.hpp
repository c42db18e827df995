// The offer book: the offers the master has made and not yet seen used,
// declined or taken back. It sends offers the allocator decided on, rescinds
// them (an agent went away, a framework disconnected, --offer-timeout
// passed) and gives the resources of declined ones back to the allocator.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "master/context.hpp"

namespace clusternodes::master {

class OfferBook {
 public:
  explicit OfferBook(MasterContext& context) : ctx_(context) {}

  // The allocator's decision for one framework: one offer per allocation,
  // in one ResourceOffers message. A framework that is gone or disconnected
  // gets nothing; the resources go back to the allocator.
  void send(const FrameworkID& frameworkId, std::vector<Allocation> allocations);

  // Forgets an offer that was used or declined (no message, no resources
  // back to the allocator: the caller decides where they go).
  void remove(const OfferID& id);

  // Takes an offer back: the framework hears RescindOffer if connected, and
  // when `recover` the resources go back to the allocator (otherwise the
  // caller removes them, with their agent or framework).
  void rescind(const OfferID& id, bool recover);
  void rescindAll(const std::set<OfferID>& ids, bool recover);

  // Rescinds the offers older than --offer-timeout (none when zero).
  void expire();

  // DECLINE: the framework's offers among `ids` are forgotten and their
  // resources go back, filtered for `refuseSeconds` when positive.
  void decline(const FrameworkEntry& framework, const std::vector<OfferID>& ids, double refuseSeconds);

  // The offers an ACCEPT names, taken out of the book: they are used up by
  // the ACCEPT whatever it holds. `error` says why some could not be used
  // (unknown, another framework's, another agent's); `offers` holds those
  // that could, all on one agent.
  struct Taken {
    std::vector<OfferEntry> offers;
    std::string error;
    Resources resources;  // of all `offers`
  };
  Taken take(const FrameworkEntry& framework, const std::vector<OfferID>& ids);

 private:
  MasterContext& ctx_;
  uint64_t nextOffer_ = 0;
};

}  // namespace clusternodes::master
