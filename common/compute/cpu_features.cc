#include "common/compute/cpu_features.h"

#include <cpuid.h>

namespace tartan::compute {
namespace {

// CPUID leaf 7 sub-leaf `subleaf`; false when the CPU has no leaf 7.
bool Leaf7(unsigned subleaf, unsigned* eax, unsigned* ebx, unsigned* ecx, unsigned* edx) {
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, subleaf, *eax, *ebx, *ecx, *edx);
  return true;
}

}  // namespace

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

bool HasAvx512f() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

bool HasAvx512Bf16() {
  static const bool has = [] {
    unsigned eax, ebx, ecx, edx;
    return Leaf7(1, &eax, &ebx, &ecx, &edx) && ((eax >> 5) & 1u);
  }();
  return has;
}

bool HasAmxBf16() {
  static const bool has = [] {
    unsigned eax, ebx, ecx, edx;
    return Leaf7(0, &eax, &ebx, &ecx, &edx) && ((edx >> 22) & 1u);
  }();
  return has;
}

}  // namespace tartan::compute
