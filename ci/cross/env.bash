# Shared settings of the cross-target checks (sourced by ci/cross/*.sh).
#
# The cross checks use Debian's Rust (rustc-web, cargo-web, rust-web-clippy, rust-web-src):
# its std sources let us build std for Windows and macOS targets here. The project's own
# toolchain (rustup, for Linux) stays what `cargo` means everywhere else.

CROSS_RUSTC=${CROSS_RUSTC:-/usr/bin/rustc}
CROSS_CARGO=${CROSS_CARGO:-/usr/bin/cargo}
CROSS_CLIPPY_DRIVER=${CROSS_CLIPPY_DRIVER:-/usr/bin/clippy-driver}
CROSS_DIR=${SECVOL_CROSS_DIR:-$PWD/target/cross}
CROSS_SYSROOT="$CROSS_DIR/sysroot"

for tool in "$CROSS_RUSTC" "$CROSS_CARGO"; do
    [[ -x "$tool" ]] || {
        echo "missing $tool: apt-get install rustc-web cargo-web rust-web-src rust-web-clippy" >&2
        exit 1
    }
done

# Run Debian's cargo for TARGET against the prebuilt sysroot:
#   cross_cargo TARGET SUBCOMMAND ARGS...
cross_cargo() {
    local target=$1 subcommand=$2
    shift 2
    local sysroot_flag="--sysroot $CROSS_SYSROOT"
    # Debian's cargo-clippy must win over rustup's proxy of the same name.
    PATH="$(dirname "$CROSS_CARGO"):$PATH" \
        RUSTC="$CROSS_RUSTC" \
        CARGO_TARGET_DIR="$CROSS_DIR/target" \
        RUSTFLAGS="${CROSS_RUSTFLAGS:-} $sysroot_flag" \
        RUSTDOCFLAGS="$sysroot_flag" \
        "$CROSS_CARGO" "$subcommand" --target "$target" "$@"
}
