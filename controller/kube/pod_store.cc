#include "controller/kube/pod_store.h"

#include <utility>

namespace drover::kube {

void PodStore::Replace(std::vector<Pod> pods, std::string resource_version) {
  absl::btree_map<std::string, Pod> next;
  for (Pod& pod : pods) {
    std::string key = pod.Key();
    next.insert_or_assign(std::move(key), std::move(pod));
  }
  bool changed;
  {
    absl::MutexLock lock(&mu_);
    changed = !synced_ || next != pods_;
    pods_ = std::move(next);
    resource_version_ = std::move(resource_version);
    synced_ = true;
  }
  if (changed) Changed();
}

void PodStore::Upsert(Pod pod) {
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    std::string key = pod.Key();
    auto it = pods_.find(key);
    if (it == pods_.end()) {
      pods_.emplace(std::move(key), std::move(pod));
      changed = true;
    } else if (!(it->second == pod)) {
      it->second = std::move(pod);
      changed = true;
    }
  }
  if (changed) Changed();
}

void PodStore::Delete(const Pod& pod) {
  bool changed;
  {
    absl::MutexLock lock(&mu_);
    changed = pods_.erase(pod.Key()) > 0;
  }
  if (changed) Changed();
}

std::vector<Pod> PodStore::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<Pod> out;
  out.reserve(pods_.size());
  for (const auto& [key, pod] : pods_) out.push_back(pod);
  return out;
}

std::optional<Pod> PodStore::Get(std::string_view key) const {
  absl::MutexLock lock(&mu_);
  auto it = pods_.find(std::string(key));
  if (it == pods_.end()) return std::nullopt;
  return it->second;
}

size_t PodStore::size() const {
  absl::MutexLock lock(&mu_);
  return pods_.size();
}

bool PodStore::HasSynced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

std::string PodStore::resource_version() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

void PodStore::SetOnChange(std::function<void()> on_change) {
  absl::MutexLock lock(&callback_mu_);
  on_change_ = std::move(on_change);
}

void PodStore::Changed() const {
  std::function<void()> callback;
  {
    absl::MutexLock lock(&callback_mu_);
    callback = on_change_;
  }
  if (callback) callback();
}

}  // namespace drover::kube
