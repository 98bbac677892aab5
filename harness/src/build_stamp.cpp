#include "shmcheck/harness/build_stamp.hpp"

#include "build_stamp.hpp"  // generated: SHMCHECK_BUILD_STAMP

namespace shmcheck::harness {

std::string_view build_stamp() noexcept { return SHMCHECK_BUILD_STAMP; }

}  // namespace shmcheck::harness
