// main() for test binaries that want every test checked for IPC leaks: link
// shmcheck::gtest_main instead of GTest::gtest_main.
#include <gtest/gtest.h>

#include "shmcheck/gtest/leak_listener.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  shmcheck::gtest::install_leak_listener();
  return RUN_ALL_TESTS();
}
