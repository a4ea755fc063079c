// The x86 CPUID and XGETBV instructions, raw: which CPU this is and which register state the OS saves.
// Interpreting the bits (vendor, family/model, features) is LinearAlgebra's CPUIdentity, in Swift, where it is
// unit-tested. On other architectures both functions report nothing.
#ifndef RETRIEVE_CPUID_QUERY_H
#define RETRIEVE_CPUID_QUERY_H

#ifdef __cplusplus
extern "C" {
#endif

/// The four registers one CPUID leaf returns.
typedef struct {
    unsigned int eax, ebx, ecx, edx;
} cpuid_registers;

/// Runs CPUID for `leaf` / `subleaf` into `out`. Returns 1, or 0 (and zeroes `out`) when the leaf is above the
/// CPU's maximum for its range (basic 0x0…, extended 0x8000_0000…) or this is not an x86-64 build.
int cpuid_query(unsigned int leaf, unsigned int subleaf, cpuid_registers *out);

/// XCR0, the register-state components the OS enables (XGETBV with ECX = 0); 0 when CPUID.1:ECX.OSXSAVE is
/// clear (then XGETBV would fault) or this is not an x86-64 build.
unsigned long long cpuid_xcr0(void);

#ifdef __cplusplus
}
#endif

#endif
