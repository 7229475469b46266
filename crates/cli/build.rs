//! Build script of the `secvol` binary. On Windows with MSVC, WinFsp's DLL is delay-loaded:
//! it lives in WinFsp's own folder (not on PATH), so `secvol.exe` must start without it
//! (the offline commands need no WinFsp) and load it only when mounting
//! (`winfsp_wrs::init` loads it by its full path first). Elsewhere this does nothing.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "windows" && env == "msvc" {
        let dll = match arch.as_str() {
            "aarch64" => "winfsp-a64.dll",
            "x86" => "winfsp-x86.dll",
            _ => "winfsp-x64.dll",
        };
        println!("cargo::rustc-link-arg-bins=/DELAYLOAD:{dll}");
        println!("cargo::rustc-link-lib=delayimp");
    }
}
