/*
 * A stand-in for Windows' bcryptprimitives.dll, for running secvol's Windows builds under
 * Wine in CI (never shipped, never used on Windows).
 *
 * Rust's standard library gets random bytes (HashMap seeds; getrandom uses it too) from
 * ProcessPrng in bcryptprimitives.dll, which Windows 10 and later have and Debian's Wine 8
 * lacks. This DLL exports ProcessPrng and fills the buffer from RtlGenRandom
 * (advapi32's SystemFunction036), which Wine implements with the host's random source.
 * Placed beside the .exe, it is loaded instead of the missing system DLL.
 */
#include <windows.h>

/* advapi32!SystemFunction036, documented as RtlGenRandom. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
