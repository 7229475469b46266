//! The one security descriptor every file and directory of a mounted container shows:
//! owned by the user who mounted it, full access for that user, SYSTEM and the
//! Administrators group (Windows Backup and File History run as those), nobody else.
//! Containers store no Windows ACLs (docs/platforms.md).

#![allow(unsafe_code)]

use std::ptr;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
use windows_sys::Win32::Security::{GetTokenInformation, TOKEN_QUERY, TOKEN_USER, TokenUser};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
use winfsp_wrs::{SecurityDescriptor, U16CString};

/// The SDDL of the descriptor for the user with string SID `sid`: owner and group that user,
/// a protected DACL granting full access (inherited by everything below) to that user,
/// SYSTEM (SY) and the Administrators (BA).
pub(crate) fn owner_only_sddl(sid: &str) -> String {
    format!("O:{sid}G:{sid}D:P(A;OICI;FA;;;{sid})(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
}

/// The string SID of the user running this process.
fn current_user_sid() -> Result<String, String> {
    let mut token: HANDLE = 0;
    // SAFETY: GetCurrentProcess returns a pseudo-handle; OpenProcessToken writes a new
    // handle into `token`, which we close below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err("cannot open this process's token".into());
    }
    let mut needed = 0u32;
    // SAFETY: a size query (null buffer, length 0) only writes `needed`.
    unsafe { GetTokenInformation(token, TokenUser, ptr::null_mut(), 0, &mut needed) };
    // u64 elements keep the buffer aligned for TOKEN_USER.
    let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(1)];
    // SAFETY: the buffer holds at least `needed` bytes; GetTokenInformation writes at most
    // that many.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            needed,
            &mut needed,
        )
    };
    // SAFETY: `token` is the handle OpenProcessToken gave us, closed once.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err("cannot read this process's user".into());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points inside it.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    let mut text: *mut u16 = ptr::null_mut();
    // SAFETY: `sid` is valid while `buffer` lives; the call allocates `text` with LocalAlloc.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err("cannot format this process's user SID".into());
    }
    // SAFETY: `text` is a NUL-terminated string from ConvertSidToStringSidW, freed once
    // after it is copied.
    let sid_text = unsafe { U16CString::from_ptr_str(text) }.to_string_lossy();
    // SAFETY: see above.
    unsafe { LocalFree(text.cast()) };
    Ok(sid_text)
}

/// The owner-only descriptor for the user running this process.
pub(crate) fn owner_only_descriptor() -> Result<SecurityDescriptor, String> {
    let sddl = owner_only_sddl(&current_user_sid()?);
    let wide = U16CString::from_str(&sddl).map_err(|e| e.to_string())?;
    SecurityDescriptor::from_wstr(&wide)
}
