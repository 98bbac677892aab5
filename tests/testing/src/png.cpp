#include "shmcheck/testing/png.hpp"

#include <zlib.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <vector>

namespace shmcheck::testing {
namespace {

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24U) | (std::uint32_t{p[1]} << 16U) | (std::uint32_t{p[2]} << 8U) |
         p[3];
}

int paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a);
  const int pb = std::abs(p - b);
  const int pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

}  // namespace

std::optional<PngStats> png_stats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::vector<unsigned char> file((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  static constexpr std::array<unsigned char, 8> kSig = {0x89, 'P',  'N',  'G',
                                                        '\r', '\n', 0x1a, '\n'};
  if (file.size() < 8 || std::memcmp(file.data(), kSig.data(), 8) != 0) return std::nullopt;
  PngStats st;
  int color_type = -1;
  std::vector<unsigned char> idat;
  for (std::size_t pos = 8; pos + 12 <= file.size();) {
    const std::uint32_t len = be32(&file[pos]);
    if (pos + 12 + len > file.size()) return std::nullopt;
    const std::string type(reinterpret_cast<const char*>(&file[pos + 4]), 4);  // NOLINT: byte view
    const unsigned char* data = &file[pos + 8];
    if (type == "IHDR") {
      st.width = be32(data);
      st.height = be32(data + 4);
      if (data[8] != 8 || data[12] != 0) return std::nullopt;  // 8-bit, non-interlaced only
      color_type = data[9];
    } else if (type == "IDAT") {
      idat.insert(idat.end(), data, data + len);
    }
    pos += 12 + len;
  }
  const std::size_t channels = color_type == 2 ? 3 : color_type == 6 ? 4 : 0;
  if (channels == 0 || st.width == 0 || st.height == 0) return std::nullopt;
  const std::size_t stride = st.width * channels;
  std::vector<unsigned char> raw((stride + 1) * st.height);
  uLongf raw_len = raw.size();
  if (::uncompress(raw.data(), &raw_len, idat.data(), idat.size()) != Z_OK ||
      raw_len != raw.size()) {
    return std::nullopt;
  }
  std::vector<unsigned char> prev(stride, 0);
  std::vector<unsigned char> cur(stride);
  std::array<unsigned char, 4> background{};
  std::set<std::uint32_t> colors;
  std::size_t differing = 0;
  for (std::uint32_t y = 0; y < st.height; ++y) {
    const unsigned char filter = raw[y * (stride + 1)];
    const unsigned char* line = &raw[y * (stride + 1) + 1];
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= channels ? cur[x - channels] : 0;
      const int b = prev[x];
      const int c = x >= channels ? prev[x - channels] : 0;
      int v = line[x];
      switch (filter) {
        case 0:
          break;
        case 1:
          v += a;
          break;
        case 2:
          v += b;
          break;
        case 3:
          v += (a + b) / 2;
          break;
        case 4:
          v += paeth(a, b, c);
          break;
        default:
          return std::nullopt;
      }
      cur[x] = static_cast<unsigned char>(v & 0xFF);
    }
    for (std::uint32_t x = 0; x < st.width; ++x) {
      const unsigned char* px = &cur[x * channels];
      if (y == 0 && x == 0) std::memcpy(background.data(), px, channels);
      if (std::memcmp(px, background.data(), channels) != 0) ++differing;
      if (colors.size() < 4096) {
        colors.insert((std::uint32_t{px[0]} << 16U) | (std::uint32_t{px[1]} << 8U) | px[2]);
      }
    }
    std::swap(prev, cur);
  }
  st.distinct_colors = colors.size();
  st.non_background_fraction = static_cast<double>(differing) /
                               (static_cast<double>(st.width) * static_cast<double>(st.height));
  return st;
}

}  // namespace shmcheck::testing
