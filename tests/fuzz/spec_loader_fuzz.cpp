// libFuzzer target for the spec loader: any bytes must give either a Spec or
// errors (never both, never neither), never a crash, hang or sanitizer report,
// and a loaded Spec must satisfy the loader's own promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shmcheck/harness/spec_loader.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void check_spec(const shmcheck::harness::Spec& spec) {
  using namespace shmcheck::harness;
  check(!spec.name.empty() && spec.name.size() <= 48);
  check(!spec.objects.empty() && spec.objects.size() <= kMaxObjects);
  check(!spec.processes.empty() && spec.total_workers() <= kMaxWorkers);
  check(spec.faults.size() <= kMaxFaults);
  check(spec.timeout.count() > 0);
  for (const auto& o : spec.objects) {
    check(o.capacity >= 2 && (o.capacity & (o.capacity - 1)) == 0);
    check(o.message_size >= 16 && o.message_size <= 65536);
    check(o.mark.line >= 1 && o.mark.column >= 1);
  }
  for (const auto& p : spec.processes) {
    const ObjectSpec* object = spec.find_object(p.uses);
    check(object != nullptr && role_accepts(p.role, object->type));
    check(p.ops.has_value() || spec.duration.has_value());
  }
  for (const auto& f : spec.faults) {
    check(f.target == "any" || role_from_string(f.target).has_value());
    check(f.jitter <= f.every);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto result = shmcheck::harness::load_spec_string(text, "fuzz.yaml");
  check(result.spec.has_value() == result.errors.empty());
  for (const auto& error : result.errors) {
    check(!error.message.empty());
    for (const char c : error.to_string()) {
      const auto byte = static_cast<unsigned char>(c);
      check(byte >= 0x20 && byte != 0x7f);  // control bytes are always escaped
    }
  }
  if (result.spec) check_spec(*result.spec);
  return 0;
}
