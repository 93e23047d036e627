// OpenBLAS's thread count, in one place. OpenBLAS keeps ONE process-wide count that every
// cblas_* call uses, so code that fans GEMMs out over its own threads sets it to 1 meanwhile
// (ScopedBlasThreads) and code that runs one large GEMM may raise it.
#pragma once

namespace tartan::compute {

// OpenBLAS's current thread count.
int BlasThreads();
// Sets the count (values below 1 mean 1); does nothing when it already is num_threads, so
// concurrent callers that agree on the count never change it under each other.
void SetBlasThreads(int num_threads);

// Sets the count for the guard's lifetime and restores the previous one on destruction.
class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int num_threads);
  ~ScopedBlasThreads();
  ScopedBlasThreads(const ScopedBlasThreads&) = delete;
  ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;

 private:
  int previous_;
};

}  // namespace tartan::compute
