// The build stamp: 16 hex digits of a digest of the core, probes and harness sources a
// binary was built from (cmake/BuildStamp.cmake). `shmcheck --build-stamp` and
// `shmcheck-worker --build-stamp` print it. A run starts its workers from the
// shmcheck-worker beside it only when that one prints this binary's stamp: a worker
// left from another build (a copied or half-installed `shmcheck`) could share the
// control segment's layout version yet behave differently.
#pragma once

#include <string_view>

namespace shmcheck::harness {

[[nodiscard]] std::string_view build_stamp() noexcept;

}  // namespace shmcheck::harness
