// A k-way merge of sorted runs, shared by the reference frameworks' shuffles
// (MapReduce's reducers, the Spark-style executors): next() yields every
// element of every run in `Less` order; equal elements come out run by run,
// in the order of the runs.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace clusternodes::examples {

template <typename Item, typename Less>
class KWayMerge {
 public:
  explicit KWayMerge(std::vector<std::vector<Item>> runs, Less less = Less{})
      : runs_(std::move(runs)), less_(std::move(less)) {
    for (size_t r = 0; r < runs_.size(); ++r) {
      if (runs_[r].empty()) continue;
      heap_.push_back({r, 0});
      siftUp(heap_.size() - 1);
    }
  }

  // The next element; false when every run is exhausted.
  bool next(Item& item) {
    if (heap_.empty()) return false;
    Head& top = heap_[0];
    item = runs_[top.run][top.index];
    if (++top.index >= runs_[top.run].size()) {
      heap_[0] = heap_.back();
      heap_.pop_back();
    }
    if (!heap_.empty()) siftDown(0);
    return true;
  }

 private:
  struct Head {
    size_t run;
    size_t index;
  };

  // Whether `a`'s element comes out before `b`'s.
  bool before(const Head& a, const Head& b) const {
    const Item& x = runs_[a.run][a.index];
    const Item& y = runs_[b.run][b.index];
    if (less_(x, y)) return true;
    if (less_(y, x)) return false;
    return a.run < b.run;
  }

  void siftUp(size_t i) {
    while (i > 0) {
      size_t parent = (i - 1) / 2;
      if (!before(heap_[i], heap_[parent])) break;
      std::swap(heap_[i], heap_[parent]);
      i = parent;
    }
  }

  void siftDown(size_t i) {
    for (;;) {
      size_t first = i;
      size_t left = 2 * i + 1;
      size_t right = left + 1;
      if (left < heap_.size() && before(heap_[left], heap_[first])) first = left;
      if (right < heap_.size() && before(heap_[right], heap_[first])) first = right;
      if (first == i) return;
      std::swap(heap_[i], heap_[first]);
      i = first;
    }
  }

  std::vector<std::vector<Item>> runs_;
  Less less_;
  std::vector<Head> heap_;
};

}  // namespace clusternodes::examples
