//! Secret key material: boxed, memory-locked where the OS allows, zeroized on drop, never
//! printed.
//!
//! Keys are created in place inside their box (random bytes or a KDF output written straight
//! into it) so no copy is left on the stack of a caller. Passwords are `secrecy::SecretString`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroize;

/// Length of every symmetric key in secvol: 256 bits, nothing shorter.
pub const KEY_LEN: usize = 32;

/// A 256-bit secret key (master key, KEK or derived subkey).
pub struct SecretKey(Box<[u8; KEY_LEN]>);

impl SecretKey {
    /// A fresh key from the operating system's random number generator.
    pub fn random() -> Self {
        let mut key = Self::zeroed();
        getrandom::fill(key.0.as_mut_slice()).expect("the OS random number generator failed");
        key
    }

    /// A key whose bytes the caller fills in place (KDF output, unwrapped key).
    pub(crate) fn zeroed() -> Self {
        let key = Self(Box::new([0u8; KEY_LEN]));
        lock_memory(key.0.as_ptr(), KEY_LEN);
        key
    }

    /// Build a key from bytes; the source is zeroized.
    pub fn from_bytes(bytes: &mut [u8; KEY_LEN]) -> Self {
        let mut key = Self::zeroed();
        key.0.copy_from_slice(bytes);
        bytes.zeroize();
        key
    }

    /// The key bytes, for handing to a cipher or KDF.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub(crate) fn expose_mut(&mut self) -> &mut [u8; KEY_LEN] {
        &mut self.0
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted; 32 bytes])")
    }
}

static LOCK_WARNING_GIVEN: AtomicBool = AtomicBool::new(false);

/// Best-effort `mlock` (Windows: `VirtualLock`) of the pages holding `len` bytes at `ptr`, so
/// key material is not written to swap (or the page file). Failure (RLIMIT_MEMLOCK, a full
/// working set) is logged once, not fatal.
/// Pages are not unlocked on drop: another key may share the page, and `munlock` does not
/// count; the handful of locked pages is released at exit.
pub(crate) fn lock_memory<T>(ptr: *const T, len: usize) {
    if !lock_memory_impl(ptr.cast::<u8>(), len) && !LOCK_WARNING_GIVEN.swap(true, Ordering::Relaxed)
    {
        log::warn!(
            "could not lock key memory against swapping (mlock/VirtualLock failed); continuing"
        );
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn lock_memory_impl(ptr: *const u8, len: usize) -> bool {
    // SAFETY: mlock only changes the paging attributes of the pages spanning [ptr, ptr+len);
    // the range belongs to a live allocation owned by the caller, and mlock neither reads nor
    // writes it.
    unsafe { libc::mlock(ptr.cast::<libc::c_void>(), len) == 0 }
}

#[cfg(windows)]
#[allow(unsafe_code)]
fn lock_memory_impl(ptr: *const u8, len: usize) -> bool {
    // SAFETY: VirtualLock only pins the pages spanning [ptr, ptr+len) in the working set;
    // the range belongs to a live allocation owned by the caller, and VirtualLock neither
    // reads nor writes it. A few pages fit in Windows' default minimum working set.
    unsafe { windows_sys::Win32::System::Memory::VirtualLock(ptr.cast(), len) != 0 }
}

#[cfg(not(any(unix, windows)))]
fn lock_memory_impl(_ptr: *const u8, _len: usize) -> bool {
    false
}

/// Disable core dumps for this process, so a crash of the mount daemon cannot write key
/// material or plaintext to disk. Returns whether it worked.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn disable_core_dumps() -> bool {
    let limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct we pass by reference and has no other effect on
    // memory. prctl(PR_SET_DUMPABLE, 0) takes integer arguments only.
    let rlimit_ok = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) == 0 };
    #[cfg(target_os = "linux")]
    // SAFETY: see above; integer-only arguments.
    let dumpable_ok = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 };
    #[cfg(not(target_os = "linux"))]
    let dumpable_ok = true;
    rlimit_ok && dumpable_ok
}

/// Disable core dumps (no-op where the OS has no such control).
#[cfg(not(unix))]
pub fn disable_core_dumps() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let mut bytes = [0xabu8; KEY_LEN];
        let key = SecretKey::from_bytes(&mut bytes);
        let shown = format!("{key:?}");
        assert!(!shown.contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert_eq!(bytes, [0u8; KEY_LEN], "source bytes must be wiped");
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(SecretKey::random().expose(), SecretKey::random().expose());
    }
}
