#!/usr/bin/env bash
# Linker for the mingw-w64 build of ci/cross/wine.sh: mingw's gcc, plus the delay-load
# import library of WinFsp (SECVOL_WINFSP_LIB, made by wine.sh) and libmingwex after it
# (it holds __delayLoadHelper2, which needs kernel32: static libraries resolve left to
# right).
exec x86_64-w64-mingw32-gcc "$@" -L"$SECVOL_WINFSP_LIB" -lwinfsp-x64 -lmingwex -lkernel32
