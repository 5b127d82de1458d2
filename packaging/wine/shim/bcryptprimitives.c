// Test-only stand-in for Windows' bcryptprimitives.dll, which Wine 8 lacks.
// Go >= 1.22 takes its randomness from ProcessPrng there and dies in
// runtime.osinit without it. This shim answers ProcessPrng from
// RtlGenRandom (advapi32's SystemFunction036), which Wine has. It is built
// and copied into a throwaway WINEPREFIX by packaging/wine/test.sh only;
// nothing of it ships.
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    // RtlGenRandom takes a ULONG: fill large requests in chunks.
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
