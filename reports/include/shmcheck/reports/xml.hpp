// XML/HTML text escaping shared by the JUnit, HTML and SVG writers.
//
// Escapes the five markup characters and replaces bytes XML 1.0 cannot carry
// (control characters other than tab/newline/CR, invalid UTF-8) with a visible
// escape, so a worker's garbage output can never make a report unreadable.
#pragma once

#include <string>
#include <string_view>

namespace shmcheck::reports {

// For element text and attribute values (quotes escaped too).
[[nodiscard]] std::string xml_escape(std::string_view text);

}  // namespace shmcheck::reports
