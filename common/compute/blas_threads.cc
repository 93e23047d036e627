#include "common/compute/blas_threads.h"

// OpenBLAS extensions (the project links OpenBLAS, see the top-level CMakeLists.txt). Declared
// here rather than taken from <cblas.h>, which on Debian may be another BLAS's header.
extern "C" void openblas_set_num_threads(int);
extern "C" int openblas_get_num_threads(void);

namespace tartan::compute {

int BlasThreads() { return openblas_get_num_threads(); }

void SetBlasThreads(int num_threads) {
  if (num_threads < 1) num_threads = 1;
  if (openblas_get_num_threads() != num_threads) openblas_set_num_threads(num_threads);
}

ScopedBlasThreads::ScopedBlasThreads(int num_threads) : previous_(BlasThreads()) {
  SetBlasThreads(num_threads);
}

ScopedBlasThreads::~ScopedBlasThreads() { SetBlasThreads(previous_); }

}  // namespace tartan::compute
