//! The few operating-system facts and calls the CLI needs that std does not offer: who we
//! are, tying a helper process's life to ours, and on Windows the events and process handles
//! of the mount daemon.
//!
//! This is the only module of the CLI with `unsafe` (libc and Win32 calls).

#![allow(unsafe_code)]

use secvol_fs::Ctx;

/// The calling user and group: owner of new files written by the offline commands and of
/// the root directory of a new container.
#[cfg(unix)]
pub fn current_ctx() -> Ctx {
    // SAFETY: getuid and getgid have no preconditions and cannot fail (POSIX).
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    Ctx { uid, gid }
}

/// Have the child started by `command` killed when this process dies (Linux), so that a
/// helper such as a `gdbus monitor` does not outlive a mount daemon that was killed.
#[cfg(unix)]
pub fn end_with_parent(command: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec and only calls prctl,
        // which is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// The owner of new files written by the offline commands and of the root directory of a new
/// container. Windows has no numeric user ids: files made there belong to the fixed owner
/// that docs/platforms.md describes.
#[cfg(not(unix))]
pub fn current_ctx() -> Ctx {
    secvol_fs::WINDOWS_OWNER
}

/// Windows process and event calls for the mount daemon (`commands/mount_windows.rs`).
#[cfg(windows)]
pub mod windows {
    use std::sync::OnceLock;

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, STILL_ACTIVE, WAIT_OBJECT_0};
    use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
    use windows_sys::Win32::System::Threading::{
        CreateEventW, EVENT_MODIFY_STATE, GetExitCodeProcess, INFINITE, OpenEventW, OpenProcess,
        PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE, SetEvent, WaitForSingleObject,
    };

    /// The name of the event that asks the daemon `pid` to unmount (per logon session).
    fn event_name(pid: u32) -> Vec<u16> {
        format!("Local\\secvol-unmount-{pid}")
            .encode_utf16()
            .chain(std::iter::once(0))
            .collect()
    }

    /// The daemon's unmount event, once created (also signalled by Ctrl-C and closing the
    /// console in the foreground).
    static UNMOUNT_EVENT: OnceLock<usize> = OnceLock::new();

    unsafe extern "system" fn console_handler(_ctrl_type: u32) -> i32 {
        if let Some(&event) = UNMOUNT_EVENT.get() {
            // SAFETY: the event handle lives until the process exits.
            unsafe { SetEvent(event as HANDLE) };
        }
        1
    }

    /// Create this daemon's unmount event and route Ctrl-C / console close to it.
    pub fn create_unmount_event() -> std::io::Result<()> {
        let name = event_name(std::process::id());
        // SAFETY: `name` is NUL-terminated and outlives the call; no security attributes.
        let event = unsafe { CreateEventW(std::ptr::null(), 1, 0, name.as_ptr()) };
        if event.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let _ = UNMOUNT_EVENT.set(event as usize);
        // SAFETY: the handler only signals the event, which is valid for the process life.
        unsafe { SetConsoleCtrlHandler(Some(console_handler), 1) };
        Ok(())
    }

    /// Block until someone signals this daemon's unmount event.
    pub fn wait_for_unmount_request() {
        if let Some(&event) = UNMOUNT_EVENT.get() {
            // SAFETY: a valid event handle; INFINITE waits until it is signalled.
            unsafe { WaitForSingleObject(event as HANDLE, INFINITE) };
        }
    }

    /// Ask the daemon `pid` to unmount; false if it has no such event (gone, or not ours).
    pub fn request_unmount(pid: u32) -> bool {
        let name = event_name(pid);
        // SAFETY: `name` is NUL-terminated; the handle is closed below.
        let event = unsafe { OpenEventW(EVENT_MODIFY_STATE, 0, name.as_ptr()) };
        if event.is_null() {
            return false;
        }
        // SAFETY: a valid event handle from OpenEventW, closed once.
        unsafe {
            let signalled = SetEvent(event) != 0;
            CloseHandle(event);
            signalled
        }
    }

    fn open_process(pid: u32) -> Option<HANDLE> {
        // SAFETY: OpenProcess has no memory preconditions; the handle is closed by callers.
        let process = unsafe {
            OpenProcess(
                PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
                0,
                pid,
            )
        };
        (!process.is_null()).then_some(process)
    }

    /// Whether process `pid` is still running.
    pub fn is_alive(pid: u32) -> bool {
        let Some(process) = open_process(pid) else {
            return false;
        };
        let mut code = 0u32;
        // SAFETY: a valid process handle and a valid out pointer; the handle is closed once.
        unsafe {
            let ok = GetExitCodeProcess(process, &mut code) != 0;
            CloseHandle(process);
            ok && code == STILL_ACTIVE as u32
        }
    }

    /// Wait up to `timeout_ms` for process `pid` to end; true if it did (or never existed).
    pub fn wait_for_exit(pid: u32, timeout_ms: u32) -> bool {
        let Some(process) = open_process(pid) else {
            return true;
        };
        // SAFETY: a valid process handle, closed once.
        unsafe {
            let ended = WaitForSingleObject(process, timeout_ms) == WAIT_OBJECT_0;
            CloseHandle(process);
            ended
        }
    }
}
