#include "shmcheck/core/mapping.hpp"

#include <sys/mman.h>
#include <sys/shm.h>

#include <utility>

#include "shmcheck/core/posix_call.hpp"

namespace shmcheck::core {

Mapping::Mapping(Mapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      kind_(std::exchange(other.kind_, Kind::kNone)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    kind_ = std::exchange(other.kind_, Kind::kNone);
  }
  return *this;
}

Result<Mapping> Mapping::map_shared(int fd, std::size_t size, Access access,
                                    off_t offset) noexcept {
  if (size == 0) return make_error(ErrorCode::kInvalidArgument, "mmap", "size 0");
  const int prot = access == Access::kReadWrite ? (PROT_READ | PROT_WRITE) : PROT_READ;
  auto p = posix_call_ptr("mmap", MAP_FAILED,
                          [&] { return ::mmap(nullptr, size, prot, MAP_SHARED, fd, offset); });
  if (!p) return std::move(p).error();
  return Mapping(*p, size, Kind::kMmap);
}

Result<Mapping> Mapping::attach_sysv(int shmid, std::size_t size, Access access) noexcept {
  if (size == 0) return make_error(ErrorCode::kInvalidArgument, "shmat", "size 0");
  const int flags = access == Access::kReadOnly ? SHM_RDONLY : 0;
  // shmat reports failure as (void*)-1.
  void* const failed =
      reinterpret_cast<void*>(-1);  // NOLINT(performance-no-int-to-ptr): shmat's sentinel
  auto p = posix_call_ptr("shmat", failed, [&] { return ::shmat(shmid, nullptr, flags); });
  if (!p) return std::move(p).error();
  return Mapping(*p, size, Kind::kSysV);
}

void Mapping::reset() noexcept { (void)unmap(); }

Result<void> Mapping::unmap() noexcept {
  void* const data = std::exchange(data_, nullptr);
  const std::size_t size = std::exchange(size_, 0);
  const Kind kind = std::exchange(kind_, Kind::kNone);
  switch (kind) {
    case Kind::kNone:
      return {};
    case Kind::kMmap:
      SHMCHECK_TRY(posix_call("munmap", [&] { return ::munmap(data, size); }));
      return {};
    case Kind::kSysV:
      SHMCHECK_TRY(posix_call("shmdt", [&] { return ::shmdt(data); }));
      return {};
  }
  return {};
}

}  // namespace shmcheck::core
