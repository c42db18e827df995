// Reservations frameworks make with RESERVE and UNRESERVE operations: kept
// per agent in the registry, applied to what the agent advertises when it
// (re-)registers, and moved in and out of the allocator's view.
#pragma once

#include <string>

#include "master/context.hpp"

namespace clusternodes::master {

// The same resources, unreserved.
Resources asUnreserved(const Resources& resources);

// Turns the unreserved resources the registry says were reserved on the
// agent into reserved ones in what it advertises. An agent that advertises
// too little for them keeps what it advertises (and a warning is logged).
void applyReservations(const Registry& registry, AgentEntry& agent);

// RESERVE (or UNRESERVE) `resources` out of the offers' `remaining`
// resources, for the offers' `role`. Written to the registry before it is
// applied; a refused or unwritten one changes nothing and says why.
Result<void> reserveOrUnreserve(MasterContext& ctx, FrameworkEntry& framework, AgentEntry& agent,
                                const std::string& role, Resources& remaining, const Resources& resources,
                                bool reserve);

}  // namespace clusternodes::master
