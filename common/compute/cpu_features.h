// What this CPU can run, asked once per process. SIMD kernels are compiled for several ISAs
// (target attributes, target_clones.h) and chosen at run time with these answers.
#pragma once

namespace tartan::compute {

// AVX2 and FMA (the pair every AVX2 kernel here uses).
bool HasAvx2();
// AVX-512 Foundation.
bool HasAvx512f();
// AVX512_BF16 (CPUID.(EAX=7,ECX=1):EAX[5]): native bf16 dot products.
bool HasAvx512Bf16();
// AMX-BF16 (CPUID.(EAX=7,ECX=0):EDX[22]): bf16 tile matrix multiply.
bool HasAmxBf16();

}  // namespace tartan::compute
