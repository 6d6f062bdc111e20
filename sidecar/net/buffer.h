// Byte buffers lent from a per-thread pool of fixed-size blocks. A connection holds a block
// only while it has unprocessed or unsent bytes, so an idle keep-alive connection costs no
// buffer memory at all.
//
//   Buffer in;
//   std::span<char> space = in.Space(pool);   // borrows a block when it has none
//   ssize_t n = read(fd, space.data(), space.size());
//   in.Commit(n);
//   ... in.view() ...
//   in.Consume(used, pool);                    // returns the block once empty
#ifndef DROVER_SIDECAR_NET_BUFFER_H_
#define DROVER_SIDECAR_NET_BUFFER_H_

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace drover::net {

class BufferPool {
 public:
  BufferPool(size_t block_size, size_t max_free) : block_size_(block_size), max_free_(max_free) {}
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool() {
    for (char* block : free_) delete[] block;
  }

  size_t block_size() const { return block_size_; }

  char* Acquire() {
    if (free_.empty()) return new char[block_size_];
    char* block = free_.back();
    free_.pop_back();
    return block;
  }
  void Release(char* block) {
    if (free_.size() < max_free_) {
      free_.push_back(block);
    } else {
      delete[] block;
    }
  }

 private:
  size_t block_size_;
  size_t max_free_;
  std::vector<char*> free_;
};

class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { delete[] data_; }  // owners return blocks with Reset(pool) first when they can

  bool empty() const { return begin_ == end_; }
  size_t size() const { return end_ - begin_; }
  bool full() const { return data_ != nullptr && begin_ == 0 && end_ == capacity_; }
  std::string_view view() const { return {data_ + begin_, end_ - begin_}; }

  // Free space at the end, compacting or borrowing a block as needed. Empty when full.
  std::span<char> Space(BufferPool& pool) {
    if (data_ == nullptr) {
      data_ = pool.Acquire();
      capacity_ = pool.block_size();
      begin_ = end_ = 0;
    } else if (end_ == capacity_ && begin_ > 0) {
      std::memmove(data_, data_ + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    return {data_ + end_, capacity_ - end_};
  }
  void Commit(size_t n) { end_ += n; }

  // Appends as much of `bytes` as fits; returns how much did.
  size_t Append(std::string_view bytes, BufferPool& pool) {
    std::span<char> space = Space(pool);
    size_t n = bytes.size() < space.size() ? bytes.size() : space.size();
    std::memcpy(space.data(), bytes.data(), n);
    end_ += n;
    return n;
  }

  void Consume(size_t n, BufferPool& pool) {
    begin_ += n;
    if (begin_ == end_) Reset(pool);
  }
  void Reset(BufferPool& pool) {
    if (data_ != nullptr) pool.Release(data_);
    data_ = nullptr;
    begin_ = end_ = capacity_ = 0;
  }

 private:
  char* data_ = nullptr;
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t capacity_ = 0;
};

}  // namespace drover::net

#endif  // DROVER_SIDECAR_NET_BUFFER_H_
