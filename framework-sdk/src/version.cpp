#include "clusternodes/version.hpp"

namespace clusternodes {

const char* sdkVersion() { return CLUSTERNODES_VERSION_STRING; }

}  // namespace clusternodes
