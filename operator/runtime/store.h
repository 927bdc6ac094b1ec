// Store<T>: the informer's in-memory cache of objects of one kind, keyed by
// "namespace/name" ("name" for cluster-scoped objects), with indexes.
//
// Objects are shared and immutable (std::shared_ptr<const T>): readers keep
// what they got even after the informer replaced it. An index maps each
// object to zero or more string values through an IndexFunc; ByIndex(name,
// value) answers every object with that value. The "namespace" index
// (kNamespaceIndex) always exists.
//
// Thread-safety: all methods are safe for concurrent use (a shared_mutex:
// many readers, one writer). Writers are the informer; everyone else reads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/meta.h"
#include "operator/base/mutex.h"
#include "operator/base/status.h"

namespace lballoc::runtime {

template <typename T>
using ObjectPtr = std::shared_ptr<const T>;

template <typename T>
using IndexFunc = std::function<std::vector<std::string>(const T&)>;

inline constexpr char kNamespaceIndex[] = "namespace";

// "namespace/name", or "name" when the namespace is empty.
inline std::string ObjectKey(std::string_view ns, std::string_view name) {
  if (ns.empty()) return std::string(name);
  std::string key;
  key.reserve(ns.size() + 1 + name.size());
  key.append(ns).append("/").append(name);
  return key;
}
// `meta` is an api::ObjectMeta or any metadata with namespace_ and name (a compact cached type's,
// e.g. controllers::CachedService).
template <typename Meta>
std::string ObjectKeyOf(const Meta& meta) {
  return ObjectKey(meta.namespace_, meta.name);
}

template <typename T>
class Store {
 public:
  Store() {
    indexes_[kNamespaceIndex].func = [](const T& obj) {
      return std::vector<std::string>{obj.metadata.namespace_};
    };
  }
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // nullptr when absent.
  ObjectPtr<T> Get(std::string_view key) const {
    ReaderMutexLock lock(&mu_);
    auto it = items_.find(key);
    return it == items_.end() ? nullptr : it->second;
  }
  ObjectPtr<T> Get(std::string_view ns, std::string_view name) const {
    return Get(ObjectKey(ns, name));
  }
  // Ordered by key.
  std::vector<ObjectPtr<T>> List() const {
    ReaderMutexLock lock(&mu_);
    std::vector<ObjectPtr<T>> out;
    out.reserve(items_.size());
    for (const auto& [key, obj] : items_) out.push_back(obj);
    return out;
  }
  std::vector<std::string> ListKeys() const {
    ReaderMutexLock lock(&mu_);
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const auto& [key, obj] : items_) out.push_back(key);
    return out;
  }
  size_t size() const {
    ReaderMutexLock lock(&mu_);
    return items_.size();
  }
  // Objects whose index `index` yields `value`, ordered by key. NotFound-free:
  // an unknown index or value answers nothing.
  std::vector<ObjectPtr<T>> ByIndex(std::string_view index, std::string_view value) const {
    ReaderMutexLock lock(&mu_);
    std::vector<ObjectPtr<T>> out;
    auto idx = indexes_.find(std::string(index));
    if (idx == indexes_.end()) return out;
    auto values = idx->second.values.find(value);
    if (values == idx->second.values.end()) return out;
    for (std::string_view key : values->second) out.push_back(items_.find(key)->second);
    return out;
  }
  // The values present in `index`, sorted.
  std::vector<std::string> IndexValues(std::string_view index) const {
    ReaderMutexLock lock(&mu_);
    std::vector<std::string> out;
    auto idx = indexes_.find(std::string(index));
    if (idx == indexes_.end()) return out;
    for (const auto& [value, keys] : idx->second.values) out.push_back(value);
    return out;
  }

  // Adds an index; existing objects are indexed at once. AlreadyExists for a taken name.
  Status AddIndex(const std::string& name, IndexFunc<T> func) {
    WriterMutexLock lock(&mu_);
    if (indexes_.count(name) > 0) return AlreadyExistsError("index \"" + name + "\" exists");
    Index& index = indexes_[name];
    index.func = std::move(func);
    for (const auto& [key, obj] : items_) AddToIndex(index, key, *obj);
    return Status();
  }

  // Writer side. Inserts or replaces; returns the previous object (nullptr if new).
  ObjectPtr<T> Upsert(ObjectPtr<T> obj) {
    std::string key = ObjectKeyOf(obj->metadata);
    WriterMutexLock lock(&mu_);
    ObjectPtr<T> old;
    auto it = items_.find(key);
    if (it != items_.end()) {
      old = it->second;
      for (auto& [name, index] : indexes_) RemoveFromIndex(index, it->first, *old);
      it->second = obj;
    } else {
      it = items_.emplace(std::move(key), obj).first;
    }
    // Indexed under the map's own key, which the index entries view.
    for (auto& [name, index] : indexes_) AddToIndex(index, it->first, *obj);
    return old;
  }
  // Removes `key`; returns what was there (nullptr if nothing).
  ObjectPtr<T> Erase(std::string_view key) {
    WriterMutexLock lock(&mu_);
    auto it = items_.find(key);
    if (it == items_.end()) return nullptr;
    ObjectPtr<T> old = it->second;
    for (auto& [name, index] : indexes_) RemoveFromIndex(index, it->first, *old);
    items_.erase(it);
    return old;
  }

 private:
  struct Index {
    IndexFunc<T> func;
    // value -> keys. The keys view the keys of items_ (a std::map's keys never move while
    // their element lives, and an object leaves every index before it leaves items_): a copy
    // per index would cost a string per object and index (at 100,000 Services and the
    // operator's three indexes, about 14 MB; BENCHMARKS.md, "Operator memory").
    std::map<std::string, std::set<std::string_view>, std::less<>> values;
  };

  // `key` must be the key of the object's element of items_ (it is viewed, not copied).
  static void AddToIndex(Index& index, const std::string& key, const T& obj) {
    for (std::string& v : index.func(obj)) index.values[std::move(v)].insert(key);
  }
  static void RemoveFromIndex(Index& index, const std::string& key, const T& obj) {
    for (const std::string& v : index.func(obj)) {
      auto it = index.values.find(v);
      if (it == index.values.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) index.values.erase(it);
    }
  }

  mutable SharedMutex mu_;
  std::map<std::string, ObjectPtr<T>, std::less<>> items_ GUARDED_BY(mu_);
  std::map<std::string, Index> indexes_ GUARDED_BY(mu_);
};

}  // namespace lballoc::runtime
