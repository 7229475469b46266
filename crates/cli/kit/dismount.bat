@echo off
rem Dismount Secure Drive (Windows).
rem
rem Double-click it when you are done. secvol writes every change into @CONTAINER@ and closes
rem it; the message "It is now safe to remove the drive" appears only once it is closed. If a
rem program still has a file open on drive @DRIVE@:, the message names that program: close it,
rem then double-click this again. Made by 'secvol kit' @VERSION@; it finds everything relative
rem to its own folder (%~dp0).

setlocal
set "KIT=%~dp0"
set "CONTAINER=%KIT%@DATA_DIR@\@CONTAINER@"

set "ARCH=x86_64"
if /i "%PROCESSOR_ARCHITECTURE%"=="ARM64" if exist "%KIT%secvol\windows-aarch64\secvol.exe" set "ARCH=aarch64"
set "SECVOL=%KIT%secvol\windows-%ARCH%\secvol.exe"

if not exist "%SECVOL%" (
    call :say "secvol cannot be started from this USB key. Do not remove the key yet: the container may still be open."
    exit /b 1
)

rem secvol says "safe to remove" only once the container is closed, or names the program that
rem keeps it busy.
"%SECVOL%" unmount "%CONTAINER%" --gui
exit /b %errorlevel%

:say
powershell.exe -NoProfile -NonInteractive -Command "Add-Type -AssemblyName System.Windows.Forms; [void][System.Windows.Forms.MessageBox]::Show('%~1', 'Secure Drive', 'OK', 'Error')"
echo %~1 1>&2
exit /b 0
