// Where the member table comes from. A membership source (the --peers file today, the
// controller's gRPC push next) learns tables and hands each one to the sidecar through
// SourceContext::apply, the one path every source shares: the sidecar validates the table,
// swaps the snapshot the event-loop threads read, and records the source, version and time
// for /status and metrics. A source never touches the data path itself.
//
//   class MySource : public MembershipSource {
//    public:
//     std::string_view name() const override { return "mine"; }
//     absl::Status Start(SourceContext context) override {
//       context_ = std::move(context);
//       // on every table learned, on any thread:
//       //   absl::Status s = context_.apply(table);   // refused: the previous table stays
//       return absl::OkStatus();
//     }
//     void Stop() override { ... join threads; no apply() after this returns ... }
//   };
//
//   auto sidecar = Sidecar::Create(options, std::make_unique<MySource>());
//
// Start() is called once, before the sidecar serves; Stop() once, before the sidecar (and the
// context's callbacks) go away. Every callback of the context may be called from any thread
// between the two.
#ifndef DROVER_SIDECAR_MEMBERSHIP_SOURCE_H_
#define DROVER_SIDECAR_MEMBERSHIP_SOURCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "prometheus/registry.h"
#include "sidecar/sticky/members.h"

namespace drover::membership {

// What a membership source reports about this sidecar, for its upstream (the controller client
// turns it into its proto Report). A plain snapshot: copying it holds no lock.
struct SidecarReport {
  struct Slot {
    // kBackoff: crashed, waiting to be respawned; kExternal: a --backends backend that this
    // sidecar does not run (proxy-only mode), whose pid, restarts and memory are unknown (0).
    enum class State : uint8_t { kStarting, kReady, kBackoff, kFailed, kStopped, kExternal };
    int slot = 0;
    State state = State::kStarting;
    int pid = 0;
    uint64_t restarts = 0;
    uint64_t rss_bytes = 0;
    uint32_t outstanding = 0;  // requests in flight on the slot, over every event-loop thread
  };
  std::vector<Slot> slots;
  uint64_t requests_total = 0;  // responses sent since start, local errors included
  uint32_t open_connections = 0;
  bool ready = false;  // what /readyz answers: not draining, and a slot (or backend) is up
  struct Reload {
    std::string command_id;  // the id given to reload_workers; empty for SIGHUP or POST /reload
    enum class Phase : uint8_t { kNone, kRunning, kSucceeded, kFailed } phase = Phase::kNone;
    uint32_t slots_done = 0;
    uint32_t slots_total = 0;
    std::string error;  // kFailed: which slot failed and why
  } reload;             // the running reload, else the last one
};

std::string_view SlotStateName(SidecarReport::Slot::State state);
std::string_view ReloadPhaseName(SidecarReport::Reload::Phase phase);

struct SourceContext {
  // Applies a table to the data path through the same path for every source; an error means
  // the table was refused and the previous one stays (the controller client NACKs with it).
  std::function<absl::Status(std::shared_ptr<const sticky::MemberTable>)> apply;
  // This sidecar's state; callable from any thread, cheap enough for a report every second.
  std::function<SidecarReport()> report;
  // Starts a rolling reload of the workers tagged with `command_id` (its progress shows in
  // report().reload). FailedPrecondition in proxy-only mode or while a reload is running.
  std::function<absl::Status(std::string command_id)> reload_workers;
  // For the source's own metrics (families named drover_membership_*); outlives the source.
  prometheus::Registry* registry = nullptr;
};

class MembershipSource {
 public:
  virtual ~MembershipSource() = default;
  // "file" or "controller": shown in /status and logs.
  virtual std::string_view name() const = 0;
  // Called once before the sidecar serves. An error is fatal at start: the sidecar prints it
  // (so it should name the flag that configured the source) and exits 2.
  virtual absl::Status Start(SourceContext context) = 0;
  // Stops and joins whatever the source runs; no context callback is called after it returns.
  // Idempotent.
  virtual void Stop() = 0;
};

}  // namespace drover::membership

#endif  // DROVER_SIDECAR_MEMBERSHIP_SOURCE_H_
