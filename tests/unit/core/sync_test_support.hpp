// Helpers shared by the mutex and semaphore tests: memory shared across fork, and a
// way to know that a child is asleep in the kernel (blocked on the lock or the
// semaphore) rather than merely about to get there.
#pragma once

#include <sys/mman.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace shmcheck::core::test {

// MAP_SHARED|MAP_ANONYMOUS pages, zero-filled, shared with every child forked while
// it lives; unmapped by the destructor.
class SharedPages {
 public:
  explicit SharedPages(std::size_t bytes)
      : size_(bytes),
        data_(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) {
    if (data_ == MAP_FAILED) {
      std::perror("mmap");
      std::abort();
    }
  }
  ~SharedPages() { ::munmap(data_, size_); }
  SharedPages(const SharedPages&) = delete;
  SharedPages& operator=(const SharedPages&) = delete;

  [[nodiscard]] void* data() const { return data_; }
  template <class T>
  [[nodiscard]] T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  std::size_t size_;
  void* data_;
};

// The state letter of /proc/<pid>/stat ('R', 'S', 'D', 'Z', ...), or '?' if unreadable.
inline char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return '?';
  const auto paren = line.rfind(')');  // comm may contain spaces and ')'
  if (paren == std::string::npos || paren + 2 >= line.size()) return '?';
  return line[paren + 2];
}

}  // namespace shmcheck::core::test
