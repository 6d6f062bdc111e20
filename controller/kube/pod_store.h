// The reflector's cache of pods, keyed by "namespace/name", with client-go's store semantics:
// Replace after a (re)list (pods missing from the new list are deleted), Upsert and Delete for
// watch events. Readers get copies; a change callback tells the consumer to re-read.
//
//   PodStore store;
//   store.SetOnChange([&] { table_dirty.Notify(); });  // runs outside the store's lock
//   Reflector reflector(client, &store, options);
//   reflector.Start();
//   ... once store.HasSynced():
//   for (const Pod& pod : store.List()) ...            // sorted by key
//
// Thread-safe.
#ifndef DROVER_CONTROLLER_KUBE_POD_STORE_H_
#define DROVER_CONTROLLER_KUBE_POD_STORE_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/synchronization/mutex.h"
#include "controller/kube/pod.h"

namespace drover::kube {

class PodStore {
 public:
  PodStore() = default;
  PodStore(const PodStore&) = delete;
  PodStore& operator=(const PodStore&) = delete;

  // The whole content becomes `pods` (a later pod with the same key wins). The first Replace
  // marks the store synced and always counts as a change, even when empty: the consumer
  // waits for it.
  void Replace(std::vector<Pod> pods, std::string resource_version);
  void Upsert(Pod pod);
  // By key; deleting an absent pod is not a change.
  void Delete(const Pod& pod);

  std::vector<Pod> List() const;  // sorted by key
  std::optional<Pod> Get(std::string_view key) const;
  size_t size() const;
  bool HasSynced() const;
  // The resourceVersion of the last Replace.
  std::string resource_version() const;

  // Called after every change that altered the content, outside the lock, on the thread that
  // made the change (the reflector's). Replaces any previous callback.
  void SetOnChange(std::function<void()> on_change);

 private:
  void Changed() const;

  mutable absl::Mutex mu_;
  absl::btree_map<std::string, Pod> pods_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;

  mutable absl::Mutex callback_mu_;
  std::function<void()> on_change_ ABSL_GUARDED_BY(callback_mu_);
};

}  // namespace drover::kube

#endif  // DROVER_CONTROLLER_KUBE_POD_STORE_H_
