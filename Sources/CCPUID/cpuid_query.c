// See include/cpuid_query.h. <cpuid.h> from the compiler checks each leaf against the maximum CPUID reports.
#include "cpuid_query.h"

#if defined(__x86_64__)
#include <cpuid.h>

int cpuid_query(unsigned int leaf, unsigned int subleaf, cpuid_registers *out) {
    if (__get_cpuid_count(leaf, subleaf, &out->eax, &out->ebx, &out->ecx, &out->edx)) return 1;
    out->eax = out->ebx = out->ecx = out->edx = 0;
    return 0;
}

unsigned long long cpuid_xcr0(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE)) return 0;
    unsigned int lo, hi;
    // XGETBV as bytes, so the file needs no -mxsave.
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

#else

int cpuid_query(unsigned int leaf, unsigned int subleaf, cpuid_registers *out) {
    (void)leaf;
    (void)subleaf;
    out->eax = out->ebx = out->ecx = out->edx = 0;
    return 0;
}

unsigned long long cpuid_xcr0(void) { return 0; }

#endif
