// core::Error's two renderings: message() for logs, brief() for people.
#include "shmcheck/core/result.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace {

using shmcheck::core::ErrorCode;
using shmcheck::core::make_error;

TEST(Error, BriefNamesTheCallDetailAndCauseWithoutTheSourceLocation) {
  const auto e = make_error(ErrorCode::kPermission, "openat", "/proc/1/fd", EACCES);
  EXPECT_EQ(e.brief(), "openat (/proc/1/fd): Permission denied");
  EXPECT_NE(e.message().find("result_test.cpp:"), std::string::npos) << e.message();
}

TEST(Error, BriefWithoutErrnoOrDetailUsesTheCodesName) {
  const auto e = make_error(ErrorCode::kCorrupt, "read_manifest");
  EXPECT_EQ(e.brief(),
            std::string("read_manifest: ") + shmcheck::core::to_string(ErrorCode::kCorrupt));
}

TEST(Error, BriefOfAnErrnolessOtherErrorIsTheCallAndItsDetail) {
  const auto e =
      make_error(ErrorCode::kOther, "push to gateway", "http://gw:9091 answered HTTP 500");
  EXPECT_EQ(e.brief(), "push to gateway: http://gw:9091 answered HTTP 500");
  const auto bare = make_error(ErrorCode::kOther, "read_manifest");
  EXPECT_EQ(bare.brief(),
            std::string("read_manifest: ") + shmcheck::core::to_string(ErrorCode::kOther));
}

}  // namespace
