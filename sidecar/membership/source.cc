#include "sidecar/membership/source.h"

namespace drover::membership {

std::string_view SlotStateName(SidecarReport::Slot::State state) {
  using State = SidecarReport::Slot::State;
  switch (state) {
    case State::kStarting:
      return "starting";
    case State::kReady:
      return "ready";
    case State::kBackoff:
      return "backoff";
    case State::kFailed:
      return "failed";
    case State::kStopped:
      return "stopped";
    case State::kExternal:
      return "external";
  }
  return "unknown";
}

std::string_view ReloadPhaseName(SidecarReport::Reload::Phase phase) {
  using Phase = SidecarReport::Reload::Phase;
  switch (phase) {
    case Phase::kNone:
      return "none";
    case Phase::kRunning:
      return "running";
    case Phase::kSucceeded:
      return "succeeded";
    case Phase::kFailed:
      return "failed";
  }
  return "unknown";
}

}  // namespace drover::membership
