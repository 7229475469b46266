@echo off
rem Mount Secure Drive (Windows).
rem
rem Double-click it, type the password in the box that appears, and the files inside
rem @CONTAINER@ open as drive @DRIVE@:. Made by 'secvol kit' @VERSION@; it finds everything
rem relative to its own folder (%~dp0), whatever letter Windows gives the USB key today.
rem Needs WinFsp (installed once by an administrator).
rem
rem It writes no file of yours anywhere, and opens the drive only once secvol has confirmed
rem the mount. Every exit code is checked; secvol shows what went wrong in a message box.

setlocal
set "KIT=%~dp0"
set "CONTAINER=%KIT%@DATA_DIR@\@CONTAINER@"
set "DRIVE=@DRIVE@:"

set "ARCH=x86_64"
if /i "%PROCESSOR_ARCHITECTURE%"=="ARM64" if exist "%KIT%secvol\windows-aarch64\secvol.exe" set "ARCH=aarch64"
set "SECVOL=%KIT%secvol\windows-%ARCH%\secvol.exe"

if not exist "%SECVOL%" (
    call :say "This USB key has no secvol program for Windows (secvol\windows-%ARCH%\secvol.exe). Ask whoever set up the key to add it."
    exit /b 1
)
if not exist "%CONTAINER%" (
    call :say "The container @DATA_DIR@\@CONTAINER@ is not on this USB key. Nothing was mounted."
    exit /b 1
)

rem secvol asks for the password in a box, mounts, and says how it went.
"%SECVOL%" mount "%CONTAINER%" %DRIVE% --gui
if errorlevel 1 exit /b %errorlevel%

rem Confirm the mount before the drive is opened.
if not exist %DRIVE%\ (
    call :say "secvol said the container was mounted, but drive %DRIVE% is not there. Do not save anything until it is."
    exit /b 1
)
start "" explorer.exe %DRIVE%\
exit /b 0

:say
powershell.exe -NoProfile -NonInteractive -Command "Add-Type -AssemblyName System.Windows.Forms; [void][System.Windows.Forms.MessageBox]::Show('%~1', 'Secure Drive', 'OK', 'Error')"
echo %~1 1>&2
exit /b 0
