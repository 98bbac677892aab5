#include "shmcheck/harness/spec.hpp"

#include <array>
#include <csignal>
#include <utility>

namespace shmcheck::harness {
namespace {

template <class E, std::size_t N>
std::optional<E> lookup(const std::array<std::pair<std::string_view, E>, N>& table,
                        std::string_view text) noexcept {
  for (const auto& [name, value] : table) {
    if (name == text) return value;
  }
  return std::nullopt;
}

template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<std::string_view, E>, N>& table,
                         E value) noexcept {
  for (const auto& [name, v] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

constexpr std::array<std::pair<std::string_view, ObjectType>, 5> kObjectTypes{{
    {"segment", ObjectType::kSegment},
    {"mutex", ObjectType::kMutex},
    {"semaphore", ObjectType::kSemaphore},
    {"spsc_ring", ObjectType::kSpscRing},
    {"mpmc_ring", ObjectType::kMpmcRing},
}};
constexpr std::array<std::pair<std::string_view, SegmentBacking>, 3> kBackings{{
    {"posix", SegmentBacking::kPosix},
    {"sysv", SegmentBacking::kSysV},
    {"memfd", SegmentBacking::kMemfd},
}};
constexpr std::array<std::pair<std::string_view, SemFlavor>, 3> kFlavors{{
    {"posix_unnamed", SemFlavor::kPosixUnnamed},
    {"posix_named", SemFlavor::kPosixNamed},
    {"sysv", SemFlavor::kSysV},
}};
constexpr std::array<std::pair<std::string_view, Role>, 7> kRoles{{
    {"producer", Role::kProducer},
    {"consumer", Role::kConsumer},
    {"locker", Role::kLocker},
    {"poster", Role::kPoster},
    {"waiter", Role::kWaiter},
    {"writer", Role::kWriter},
    {"reader", Role::kReader},
}};
constexpr std::array<std::pair<std::string_view, FaultKind>, 4> kFaultKinds{{
    {"kill_at_failpoint", FaultKind::kKillAtFailpoint},
    {"kill_random", FaultKind::kKillRandom},
    {"pause", FaultKind::kPause},
    {"exit", FaultKind::kExit},
}};
constexpr std::array<std::pair<std::string_view, Delivery>, 3> kDeliveries{{
    {"at_most_once", Delivery::kAtMostOnce},
    {"at_least_once", Delivery::kAtLeastOnce},
    {"exactly_once", Delivery::kExactlyOnce},
}};
constexpr std::array<std::pair<std::string_view, int>, 5> kSignals{{
    {"SIGKILL", SIGKILL},
    {"SIGTERM", SIGTERM},
    {"SIGABRT", SIGABRT},
    {"SIGSEGV", SIGSEGV},
    {"SIGBUS", SIGBUS},
}};

}  // namespace

bool Comparison::holds(double actual) const noexcept {
  switch (op) {
    case kLess:
      return actual < value;
    case kLessEq:
      return actual <= value;
    case kGreater:
      return actual > value;
    case kGreaterEq:
      return actual >= value;
  }
  return false;
}

const ObjectSpec* Spec::find_object(std::string_view object_name) const {
  for (const auto& object : objects) {
    if (object.name == object_name) return &object;
  }
  return nullptr;
}

std::uint32_t Spec::total_workers() const {
  std::uint32_t total = 0;
  for (const auto& process : processes) total += process.count;
  return total;
}

std::string_view to_string(ObjectType type) noexcept { return name_of(kObjectTypes, type); }
std::string_view to_string(SegmentBacking backing) noexcept { return name_of(kBackings, backing); }
std::string_view to_string(SemFlavor flavor) noexcept { return name_of(kFlavors, flavor); }
std::string_view to_string(Role role) noexcept { return name_of(kRoles, role); }
std::string_view to_string(FaultKind kind) noexcept { return name_of(kFaultKinds, kind); }
std::string_view to_string(Delivery delivery) noexcept { return name_of(kDeliveries, delivery); }

std::optional<ObjectType> object_type_from_string(std::string_view text) noexcept {
  return lookup(kObjectTypes, text);
}
std::optional<SegmentBacking> backing_from_string(std::string_view text) noexcept {
  return lookup(kBackings, text);
}
std::optional<SemFlavor> sem_flavor_from_string(std::string_view text) noexcept {
  return lookup(kFlavors, text);
}
std::optional<Role> role_from_string(std::string_view text) noexcept {
  return lookup(kRoles, text);
}
std::optional<Delivery> delivery_from_string(std::string_view text) noexcept {
  return lookup(kDeliveries, text);
}
std::optional<int> fault_signal_from_string(std::string_view text) noexcept {
  return lookup(kSignals, text);
}
std::string_view fault_signal_name(int signal) noexcept { return name_of(kSignals, signal); }

bool role_accepts(Role role, ObjectType type) noexcept {
  switch (role) {
    case Role::kProducer:
    case Role::kConsumer:
      return type == ObjectType::kSpscRing || type == ObjectType::kMpmcRing;
    case Role::kLocker:
      return type == ObjectType::kMutex;
    case Role::kPoster:
    case Role::kWaiter:
      return type == ObjectType::kSemaphore;
    case Role::kWriter:
    case Role::kReader:
      return type == ObjectType::kSegment;
  }
  return false;
}

}  // namespace shmcheck::harness
