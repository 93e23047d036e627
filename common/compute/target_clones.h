// TARTAN_TARGET_CLONES_AVX2 before a function definition: GCC compiles the function twice
// (AVX2 and the baseline ISA) and picks one at load time (ifunc), so loops the compiler
// vectorises well run at AVX2 width in portable (non -march=native) builds.
#pragma once

// Sanitizer runtimes are not initialised when ifunc resolvers run, so sanitized builds use the
// baseline only.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TARTAN_TARGET_CLONES_AVX2
#else
#define TARTAN_TARGET_CLONES_AVX2 __attribute__((target_clones("avx2", "default")))
#endif
