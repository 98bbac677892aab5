// Mapping: one shared memory mapping in this process's address space, owned.
//
// Move-only RAII handle over either mmap(MAP_SHARED)/munmap of a file descriptor
// or shmat/shmdt of a System V segment. The memory it maps is shared between
// processes; the Mapping object itself is per process. Whoever holds the Mapping
// owns the address range and unmaps (or detaches) it on destruction or reset();
// unmapping never removes the object behind it (that is the Segment's creator's job).
//
// Memory ordering: none of its own. Mapping and unmapping are syscalls; what other
// processes see of the bytes is governed by the atomics the users place in them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "shmcheck/core/result.hpp"

namespace shmcheck::core {

enum class Access : std::uint8_t { kReadOnly, kReadWrite };

class Mapping {
 public:
  enum class Kind : std::uint8_t { kNone, kMmap, kSysV };

  Mapping() noexcept = default;
  ~Mapping() { reset(); }

  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;

  // mmap(nullptr, size, prot, MAP_SHARED, fd, offset). size must be > 0.
  [[nodiscard]] static Result<Mapping> map_shared(int fd, std::size_t size, Access access,
                                                  off_t offset = 0) noexcept;
  // shmat(shmid, nullptr, read-only ? SHM_RDONLY : 0). size is the segment's size
  // (shm_segsz from IPC_STAT); shmat always maps the whole segment.
  [[nodiscard]] static Result<Mapping> attach_sysv(int shmid, std::size_t size,
                                                   Access access) noexcept;

  [[nodiscard]] void* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] bool valid() const noexcept { return kind_ != Kind::kNone; }
  explicit operator bool() const noexcept { return valid(); }

  // Unmaps (or detaches) now, ignoring errors; the handle becomes empty.
  void reset() noexcept;
  // Unmaps (or detaches) now and reports an error; the handle is empty afterwards.
  [[nodiscard]] Result<void> unmap() noexcept;

 private:
  Mapping(void* data, std::size_t size, Kind kind) noexcept
      : data_(data), size_(size), kind_(kind) {}

  void* data_ = nullptr;
  std::size_t size_ = 0;
  Kind kind_ = Kind::kNone;
};

}  // namespace shmcheck::core
