// Aligned text tables for people, in kubectl's shape: upper-case headers, left-aligned columns
// three spaces apart, no borders, no trailing spaces; plus the human units those tables show.
//
//   Table table({"MEMBER", "STATE", "RSS"});
//   table.AddRow({"web-abc", "READY", HumanBytes(rss)});
//   std::fputs(table.Render().c_str(), stdout);
#ifndef DROVER_DROVERCTL_TABLE_H_
#define DROVER_DROVERCTL_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace drover::ctl {

class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // A row with one cell per header: missing cells are left empty, extra ones dropped, so a
  // caller's mistake shows as a blank cell rather than a crash.
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }

  // The header line and one line per row, each ending in '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width in columns: UTF-8 code points, since pod names are ASCII but error messages
// and group names need not be.
size_t DisplayWidth(std::string_view text);

// 0B, 512B, 1.5KiB, 9.8MiB, 312MiB, 1.5GiB: binary units as `kubectl top` and pm2 report RSS,
// one decimal below 10 and none above, never "1024KiB".
std::string HumanBytes(uint64_t bytes);

// 12345 -> 12345, 1234567 -> 1.2M: counters of requests grow past any column width.
std::string HumanCount(uint64_t count);

// The first 8 hex digits of a 16-digit member-table version ("-" when empty): enough to tell
// versions apart at a glance, as git's short hashes are.
std::string ShortVersion(std::string_view version);

}  // namespace drover::ctl

#endif  // DROVER_DROVERCTL_TABLE_H_
