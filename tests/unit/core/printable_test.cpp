#include "shmcheck/core/printable.hpp"

#include <gtest/gtest.h>

#include <string>

namespace shmcheck::core {
namespace {

TEST(Printable, EscapesControlBytesAndInvalidUtf8AndKeepsValidUtf8) {
  EXPECT_EQ(printable("plain /dev/shm/name"), "plain /dev/shm/name");
  EXPECT_EQ(printable("a\x1b[31mb"), "a\\x1b[31mb");
  EXPECT_EQ(printable("tab\tnl\ncr\rdel\x7f"), "tab\\x09nl\\x0acr\\x0ddel\\x7f");
  EXPECT_EQ(printable(std::string("nul\0end", 7)), "nul\\x00end");
  EXPECT_EQ(printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");          // overlong '/'
  EXPECT_EQ(printable("cut \xe2\x82"), "cut \\xe2\\x82");  // truncated sequence
  EXPECT_EQ(printable("\x80x"), "\\x80x");                 // stray continuation byte
  EXPECT_EQ(printable(""), "");
}

TEST(Printable, Utf8SequenceLengthNamesTheWholeSequenceOrZero) {
  EXPECT_EQ(utf8_sequence_length("a", 0), 1U);
  EXPECT_EQ(utf8_sequence_length("\xc3\xa9", 0), 2U);
  EXPECT_EQ(utf8_sequence_length("\xe2\x82\xac", 0), 3U);
  EXPECT_EQ(utf8_sequence_length("\xf0\x9f\x98\x80", 0), 4U);
  EXPECT_EQ(utf8_sequence_length("\xf5\x80\x80\x80", 0), 0U);  // past U+10FFFF
  EXPECT_EQ(utf8_sequence_length("\xc3", 0), 0U);
  EXPECT_EQ(utf8_sequence_length("x\xc3\x28", 1), 0U);
}

// Characters, not bytes: "é" is two bytes and one column.
TEST(Utf8Characters, CountsTheBytesThatStartACharacter) {
  EXPECT_EQ(utf8_characters(""), 0U);
  EXPECT_EQ(utf8_characters("p50 4.1 us"), 10U);
  EXPECT_EQ(utf8_characters("\xc3\xa9t\xc3\xa9"), 3U);
  EXPECT_EQ(utf8_characters("\xe2\x89\xa4"
                            "1 us"),
            5U);  // "≤1 us"
}

}  // namespace
}  // namespace shmcheck::core
