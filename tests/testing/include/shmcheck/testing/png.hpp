// Just enough PNG decoding (8-bit RGB/RGBA, non-interlaced: what Chromium's
// --screenshot writes) to tell a rendered page from a blank one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace shmcheck::testing {

struct PngStats {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  double non_background_fraction = 0;  // pixels that differ from the top-left pixel
  std::size_t distinct_colors = 0;     // capped at 4096
};

// nullopt when the file is missing, not a PNG, or in a format this does not read.
std::optional<PngStats> png_stats(const std::string& path);

}  // namespace shmcheck::testing
