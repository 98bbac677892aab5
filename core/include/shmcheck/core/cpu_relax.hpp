// The spin-wait hint: tells the CPU this is a busy-wait loop (x86 PAUSE, AArch64 YIELD),
// which saves power and the pipeline flush on leaving the loop, and lets a sibling
// hyperthread run.
#pragma once

#include <atomic>

namespace shmcheck::core {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace shmcheck::core
