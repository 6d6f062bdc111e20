#include "droverctl/table.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace drover::ctl {

namespace {

// kubectl's tabwriter padding.
constexpr size_t kColumnGap = 3;

// One decimal below 10 units, none from 10 on; `scaled` is already in `unit`s.
std::string FormatScaled(double scaled, std::string_view unit) {
  if (scaled < 9.95) return absl::StrFormat("%.1f%s", scaled, unit);
  return absl::StrFormat("%.0f%s", scaled, unit);
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> widths(headers_.size(), 0);
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = DisplayWidth(headers_[c]);
  for (const std::vector<std::string>& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  std::string out;
  auto append_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      line += cells[c];
      if (c + 1 < cells.size()) {
        line.append(widths[c] - DisplayWidth(cells[c]) + kColumnGap, ' ');
      }
    }
    // An empty last cell would otherwise leave the padding of the cell before it.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  append_line(headers_);
  for (const std::vector<std::string>& row : rows_) append_line(row);
  return out;
}

size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  for (char ch : text) {
    // Continuation bytes (10xxxxxx) belong to the code point before them.
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  static constexpr std::array<std::string_view, 6> kUnits = {"KiB", "MiB", "GiB",
                                                             "TiB", "PiB", "EiB"};
  double scaled = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  // Promote while the printed value would read 1024 or more (1023.7KiB prints as 1024KiB).
  while (unit + 1 < kUnits.size() && std::round(scaled) >= 1024.0) {
    scaled /= 1024.0;
    ++unit;
  }
  return FormatScaled(scaled, kUnits[unit]);
}

std::string HumanCount(uint64_t count) {
  if (count < 1000000) return absl::StrCat(count);
  static constexpr std::array<std::string_view, 5> kUnits = {"M", "G", "T", "P", "E"};
  double scaled = static_cast<double>(count) / 1e6;
  size_t unit = 0;
  while (unit + 1 < kUnits.size() && std::round(scaled) >= 1000.0) {
    scaled /= 1000.0;
    ++unit;
  }
  return FormatScaled(scaled, kUnits[unit]);
}

std::string ShortVersion(std::string_view version) {
  if (version.empty()) return "-";
  return std::string(version.substr(0, 8));
}

}  // namespace drover::ctl
