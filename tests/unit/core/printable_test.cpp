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

// A name may hold a backslash and the characters of an escape: printed as it was, the
// name a\x0ab (6 bytes) read as the name a<newline>b did, and one could pose as the
// other in the audit table. printable_name doubles the backslash; printable keeps it, so
// that applied twice (a message made of printable parts) it changes nothing more.
TEST(Printable, PrintableNameDoublesTheBackslashSoNoNameReadsAsAnEscape) {
  EXPECT_EQ(printable_name("a\\x0ab"), "a\\\\x0ab");
  EXPECT_EQ(printable_name("a\nb"), "a\\x0ab");
  EXPECT_NE(printable_name("a\\x0ab"), printable_name("a\nb"));
  EXPECT_EQ(printable_name("C:\\dir\x1b"), "C:\\\\dir\\x1b");
  EXPECT_EQ(printable("C:\\dir\x1b"), "C:\\dir\\x1b");
  EXPECT_EQ(printable(printable("a\nb\\c\xff")), printable("a\nb\\c\xff"));
}

// Valid UTF-8 that steers a terminal or the layout without showing is escaped too: a C1
// CSI (U+009B) recoloured the audit table as ESC [ would, U+0085 broke its line, and
// U+202E showed a name backwards. Letters around them stay.
TEST(Printable, EscapesCharactersThatSteerTheDisplay) {
  EXPECT_EQ(printable("at-c1-\xc2\x9b"
                      "31mX"),
            "at-c1-\\xc2\\x9b31mX");
  EXPECT_EQ(printable("next\xc2\x85line"), "next\\xc2\\x85line");
  EXPECT_EQ(printable("evil\xe2\x80\xaegpj.exe"), "evil\\xe2\\x80\\xaegpj.exe");  // U+202E
  EXPECT_EQ(printable("iso\xe2\x81\xa6x\xe2\x81\xa9"),
            "iso\\xe2\\x81\\xa6x\\xe2\\x81\\xa9");                  // U+2066, U+2069
  EXPECT_EQ(printable("ls\xe2\x80\xa8ps"), "ls\\xe2\\x80\\xa8ps");  // U+2028
  EXPECT_EQ(printable("\xc2\xa0\xc2\xa9"), "\xc2\xa0\xc2\xa9");     // U+00A0, U+00A9: shown
}

TEST(Printable, Utf8SequenceLengthNamesTheWholeSequenceOrZero) {
  EXPECT_EQ(utf8_sequence_length("a", 0), 1U);
  EXPECT_EQ(utf8_sequence_length("\xc3\xa9", 0), 2U);
  EXPECT_EQ(utf8_sequence_length("\xe2\x82\xac", 0), 3U);
  EXPECT_EQ(utf8_sequence_length("\xf0\x9f\x98\x80", 0), 4U);
  EXPECT_EQ(utf8_sequence_length("\xf5\x80\x80\x80", 0), 0U);  // past U+10FFFF
  EXPECT_EQ(utf8_sequence_length("\xe0\x80\xaf", 0), 0U);      // overlong '/'
  EXPECT_EQ(utf8_sequence_length("\xed\xa0\x80", 0), 0U);      // a UTF-16 surrogate
  EXPECT_EQ(utf8_sequence_length("\xf0\x8f\xbf\xbf", 0), 0U);  // overlong U+FFFF
  EXPECT_EQ(utf8_sequence_length("\xf4\x90\x80\x80", 0), 0U);  // U+110000
  EXPECT_EQ(utf8_sequence_length("\xf4\x8f\xbf\xbf", 0), 4U);  // U+10FFFF
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
