//! `secvol`: the command-line front-end of secvol.
//!
//! What this crate owns:
//! * the command-line contract (command names, flags, output wording, exit codes) that users'
//!   scripts rely on — `docs/cli.md` is its user-facing description;
//! * reading passwords (terminal prompt without echo, password files, standard input) and
//!   keeping them in [`secrecy::SecretString`] from the moment they are read;
//! * applying the core's password-strength policy at the points where a user chooses a
//!   password, and `--allow-weak-password`;
//! * parsing sizes, drawing progress bars, printing warnings about damaged header copies;
//! * turning errors into one `error: ` line and an exit code (`exit.rs`).
//!
//! What it must not know: cryptography and the container format. No cipher, KDF, nonce,
//! offset or header field is computed here; every such decision is made by `secvol-core`,
//! which this crate calls. (Tests may poke bytes of a container file to simulate damage; the
//! binary never does.)
//!
//! Layout: this file holds the clap definitions and the dispatch only; each command family
//! lives in `commands/<name>.rs`.

#[cfg(unix)]
mod auto_dismount;
mod commands;
#[cfg(unix)]
mod control;
mod credentials;
mod dialog;
mod duration;
mod error;
mod exit;
#[cfg(any(windows, test))]
mod mount_records;
// The mount table and holders of open files: /proc on Linux, ps/mount/lsof on macOS, the
// daemons' mount records on Windows.
#[cfg(all(unix, not(target_os = "macos")))]
mod mounts;
#[cfg(any(target_os = "macos", test))]
mod mounts_macos;
#[cfg(target_os = "macos")]
use mounts_macos as mounts;
#[cfg(windows)]
mod mounts_windows;
#[cfg(windows)]
use mounts_windows as mounts;
mod password;
mod progress;
mod shred;
mod size;
mod state;
mod sys;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secvol_core::CipherSuite;

// The help epilogues are macros expanding to string literals, so `concat!` can join them.

/// How password files work (long help of every command that reads a password).
macro_rules! password_help {
    () => {
        "Passwords:
  Without --password-file, secvol asks for the password on the terminal; nothing is shown \
while you type. A password file holds the password on its first line: a trailing newline (LF \
or CR LF) is removed and the rest of the file is ignored. '--password-file -' reads that first \
line from standard input. secvol never takes a password as a command-line value or from an \
environment variable."
    };
}

/// The exit-code table (long help of every command).
macro_rules! exit_codes_help {
    () => {
        "Exit codes:
   0  success
   1  other error (I/O error, bad keyslot number, last keyslot, ...)
   2  usage error (unknown option, missing argument, bad size, ...)
   3  wrong password
   4  not a secvol container
   5  container file truncated
   6  header damaged beyond use (both copies), header tampered with, or a header backup \
that belongs to another container
   7  unsupported container format version
   8  key-derivation (scrypt) parameters out of bounds
   9  weak password refused
  10  damage found (check, or reading a damaged file)
  11  container in use (mounted), already mounted, or files still open at unmount
  12  file already exists
  13  not enough room: the files do not fit the smaller size (resize)"
    };
}

/// Long-help epilogue of commands that read a password.
const PASSWORD_AND_EXIT_CODES_HELP: &str = concat!(password_help!(), "\n\n", exit_codes_help!());
/// Long-help epilogue of commands that need no password.
const EXIT_CODES_HELP: &str = exit_codes_help!();

const AFTER_HELP: &str = "Run 'secvol <COMMAND> --help' for the details of a command, \
including how password files work and the exit codes.";

/// Help text of `--scrypt-log-n`.
const SCRYPT_LOG_N_HELP: &str = "Cost of turning the password into a key, as log2 of scrypt's N \
(accepted: 10 to 22; each step doubles time and memory). Without it, secvol measures this \
computer and picks a cost that takes about one second (at least 17). Low values make a \
password much easier to guess: use them only for tests. Outside 10..=22: exit code 8.";

/// Help text of `--allow-weak-password`.
const ALLOW_WEAK_HELP: &str = "Accept a password that secvol judges too weak (a common word, a \
name, a date, too short). A warning is printed instead of refusing with exit code 9.";

/// secvol keeps sensitive files inside one encrypted container file.
#[derive(Debug, Parser)]
#[command(
    name = "secvol",
    version,
    about = "Keep sensitive files inside one encrypted container file",
    long_about = "secvol keeps sensitive files (patient records, for example) inside one \
encrypted container file, such as TimeAcct.sec on a USB key or a backup drive. Everything \
inside is encrypted with a 256-bit key; a password opens it. A container can have up to 16 \
passwords (keyslots), for example one for each person and a recovery password kept in a safe.\n\n\
Start with 'secvol create', then make a header backup with 'secvol header backup' and keep it \
somewhere safe. 'secvol info' tells what a container is, 'secvol check' looks for damage.",
    after_help = AFTER_HELP,
    after_long_help = EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Create(CreateArgs),
    Info(InfoArgs),
    Passwd(PasswdArgs),
    #[command(subcommand)]
    Key(KeyCommand),
    #[command(subcommand)]
    Header(HeaderCommand),
    Check(CheckArgs),
    Ls(LsArgs),
    Cat(CatArgs),
    Get(GetArgs),
    Put(PutArgs),
    Mkdir(MkdirArgs),
    Rm(RmArgs),
    Mv(MvArgs),
    Mount(MountArgs),
    #[command(alias = "dismount")]
    Unmount(UnmountArgs),
    List(ListArgs),
    Import(ImportArgs),
    Export(ExportArgs),
    Shred(ShredArgs),
    Resize(ResizeArgs),
    Destroy(DestroyArgs),
    Kit(KitArgs),
    #[command(name = "serve-mount", hide = true)]
    ServeMount(ServeMountArgs),
    #[command(name = "reap-mount", hide = true)]
    ReapMount(ReapMountArgs),
}

/// The cipher of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CipherArg {
    /// AES-256-GCM: the default; fast on computers with AES hardware support (almost all).
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    /// XChaCha20-Poly1305: fast on computers without AES hardware support.
    #[value(name = "xchacha20-poly1305")]
    XChaCha20Poly1305,
}

impl CipherArg {
    fn suite(self) -> CipherSuite {
        match self {
            CipherArg::Aes256Gcm => CipherSuite::Aes256Gcm,
            CipherArg::XChaCha20Poly1305 => CipherSuite::XChaCha20Poly1305,
        }
    }
}

/// Create a new encrypted container file.
#[derive(Debug, Args)]
#[command(
    long_about = "Create a new encrypted container file of a fixed size, protected by a \
password. secvol asks for the password twice (or reads it from --password-file) and refuses \
a weak one. The new password goes into keyslot 0 (with --keyfile, keyslot 0 needs a keyfile \
too, or the keyfile alone with --keyfile-only); add more passwords, keyfiles or a recovery key \
later with 'secvol key add'.\n\n\
By default the whole file is first filled with random bytes, with a progress bar; this takes \
a while for large containers but makes it impossible to tell from the file which parts hold \
data. An existing file is never overwritten (exit code 12).\n\n\
Example: secvol create TimeAcct.sec --size 4G",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct CreateArgs {
    /// The container file to create (for example TimeAcct.sec). It must not exist yet.
    container: PathBuf,
    /// Size of the container file: 64M, 4G, 512K, 1T, or a number of bytes; a trailing B or
    /// iB is allowed (64MiB) and case does not matter. K, M, G, T are binary (K = 1024). At
    /// least 1 MiB and a multiple of 4096 bytes.
    #[arg(long, value_name = "SIZE", value_parser = size::parse_size)]
    size: u64,
    /// Cipher for the data. Both use 256-bit keys and authenticate every block.
    #[arg(long, value_enum, default_value_t = CipherArg::Aes256Gcm)]
    cipher: CipherArg,
    /// Read the new password from the first line of FILE ('-': standard input) instead of
    /// asking twice on the terminal.
    #[arg(long, value_name = "FILE|-")]
    password_file: Option<PathBuf>,
    #[arg(long, help = ALLOW_WEAK_HELP)]
    allow_weak_password: bool,
    #[arg(long, value_name = "N", help = SCRYPT_LOG_N_HELP)]
    scrypt_log_n: Option<u32>,
    /// Do not fill the container with random bytes first (fast). The file stays sparse and
    /// zero-filled where nothing was written yet, so anyone who sees the file can tell which
    /// parts of the container have been written, i.e. roughly how much data it holds (never
    /// what the data is). Use it for tests and scratch containers.
    #[arg(long)]
    quick: bool,
    /// Ask for the password in a password box instead of on the terminal, and explain a
    /// refused (weak) password there. Used automatically when there is no terminal.
    #[arg(long, conflicts_with = "password_file")]
    gui: bool,
    /// Keyslot 0 needs the keyfile KEYFILE (any file that never changes, ideally random
    /// bytes; see --create-keyfile) together with the new password, or alone with
    /// --keyfile-only. Open the container later with --keyfile KEYFILE.
    #[arg(long, value_name = "KEYFILE")]
    keyfile: Option<PathBuf>,
    /// With --keyfile: the keyfile alone opens the container, without a password. Whoever has
    /// a copy of the keyfile can then open it.
    #[arg(long, requires = "keyfile", conflicts_with_all = ["password_file", "gui"])]
    keyfile_only: bool,
    /// With --keyfile: create KEYFILE first (it must not exist), holding 64 random bytes,
    /// readable by you only. Keep a copy somewhere safe: without it the container is lost.
    #[arg(long, requires = "keyfile")]
    create_keyfile: bool,
}

/// Show what a container is: size, cipher, keyslots, header state.
#[derive(Debug, Args)]
#[command(
    long_about = "Show what a container is: format version, container UUID, cipher, size and \
usable capacity, which keyslots (passwords) are in use and how costly each is to guess, and \
whether both copies of the header (at the start and at the end of the file) are intact.\n\n\
No password is needed for that, but those facts are read from the file as it is and are not \
authenticated: someone who changed the file could have changed them. With --password-file, \
secvol also checks the password, says which keyslot it opened, and shows the facts from the \
authenticated header. Works while the container is mounted.",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct InfoArgs {
    /// The container file.
    container: PathBuf,
    /// Also check the password read from the first line of FILE ('-': standard input) and
    /// show authenticated facts. Exit code 3 if it is wrong.
    #[arg(long, value_name = "FILE|-")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Change a password.
#[derive(Debug, Args)]
#[command(
    long_about = "Change a password of a container. secvol asks for the current password, \
then twice for the new one, and refuses a weak new password. The keyslot that the current \
password opens gets the new password; other keyslots are not touched. Only the two header \
copies (a few kilobytes) are rewritten, never the data, so this is quick.\n\n\
A header backup made before the change still opens with the OLD password: make a new backup \
and destroy the old one.",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct PasswdArgs {
    /// The container file.
    container: PathBuf,
    /// Read the current password from the first line of OLD ('-': standard input).
    #[arg(long, value_name = "OLD")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
    /// Read the new password from the first line of NEW ('-': standard input) instead of
    /// asking twice on the terminal.
    #[arg(long, value_name = "NEW")]
    new_password_file: Option<PathBuf>,
    #[arg(long, help = ALLOW_WEAK_HELP)]
    allow_weak_password: bool,
    #[arg(long, value_name = "N", help = SCRYPT_LOG_N_HELP)]
    scrypt_log_n: Option<u32>,
}

/// Manage the passwords (keyslots) of a container.
#[derive(Debug, Subcommand)]
#[command(
    long_about = "Manage the passwords of a container. A container has 16 keyslots; each \
active keyslot holds one password that opens the container. All passwords open the same \
data, and adding or removing one does not touch the data."
)]
enum KeyCommand {
    Add(KeyAddArgs),
    Remove(KeyRemoveArgs),
    List(KeyListArgs),
}

/// Add another password (a new keyslot).
#[derive(Debug, Args)]
#[command(
    long_about = "Add another password to a container, for a second person or as a recovery \
password to keep in a safe. secvol asks for an existing password (to prove you may), then \
twice for the new one, and refuses a weak new password. The new password goes into the first \
free keyslot, whose number is printed. At most 16 passwords.",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct KeyAddArgs {
    /// The container file.
    container: PathBuf,
    /// Read an existing password from the first line of EXISTING ('-': standard input).
    #[arg(long, value_name = "EXISTING")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
    /// Read the new password from the first line of NEW ('-': standard input) instead of
    /// asking twice on the terminal.
    #[arg(long, value_name = "NEW")]
    new_password_file: Option<PathBuf>,
    /// Make a recovery-key keyslot instead of a password: secvol draws a random 256-bit key
    /// and shows it ONCE, as 13 groups of 5 characters, to print or write down and keep in a
    /// safe. It opens the container with --recovery-key-file wherever a password is asked.
    #[arg(long, conflicts_with_all = ["new_password_file", "new_keyfile"])]
    recovery: bool,
    /// The new keyslot needs the keyfile NEWKEYFILE (any file that never changes, ideally
    /// random bytes; see --create-keyfile) together with a new password, or alone with
    /// --keyfile-only.
    #[arg(long, value_name = "NEWKEYFILE")]
    new_keyfile: Option<PathBuf>,
    /// With --new-keyfile: the keyfile alone opens the new keyslot, without a password.
    /// Whoever has a copy of the keyfile can then open the container.
    #[arg(long, requires = "new_keyfile", conflicts_with = "new_password_file")]
    keyfile_only: bool,
    /// With --new-keyfile: create NEWKEYFILE first (it must not exist), holding 64 random
    /// bytes, readable by you only. Keep a copy somewhere safe: without it the keyslot is lost.
    #[arg(long, requires = "new_keyfile")]
    create_keyfile: bool,
    #[arg(long, help = ALLOW_WEAK_HELP)]
    allow_weak_password: bool,
    #[arg(long, value_name = "N", help = SCRYPT_LOG_N_HELP)]
    scrypt_log_n: Option<u32>,
}

/// Remove a password (a keyslot).
#[derive(Debug, Args)]
#[command(
    long_about = "Remove the password in keyslot N, for example when someone leaves. Any \
valid password of the container is needed. The last remaining keyslot cannot be removed: the \
data would be lost forever. A warning is printed if you remove the keyslot of the very \
password you typed.\n\n\
A header backup made earlier still contains the removed password: make a new backup and \
destroy the old one.",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct KeyRemoveArgs {
    /// The container file.
    container: PathBuf,
    /// Read a valid password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
    /// The keyslot to remove (0 to 15; 'secvol key list' shows them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..16))]
    slot: u8,
}

/// List the keyslots of a container.
#[derive(Debug, Args)]
#[command(
    long_about = "List the 16 keyslots of a container: which are in use, and how costly each \
password is to guess (the scrypt cost). No password is needed; like 'secvol info', what is \
shown is not authenticated.",
    after_long_help = EXIT_CODES_HELP
)]
struct KeyListArgs {
    /// The container file.
    container: PathBuf,
}

/// Back up, restore or repair the container header.
#[derive(Debug, Subcommand)]
#[command(
    long_about = "The header is the small part of a container (4 KiB, kept twice: at the \
start and at the end of the file) that holds the keyslots. If both copies are destroyed, the \
data cannot be opened with any password, so keep a header backup."
)]
enum HeaderCommand {
    Backup(HeaderBackupArgs),
    Restore(HeaderRestoreArgs),
    Repair(HeaderRepairArgs),
}

/// Save a copy of the header to a file.
#[derive(Debug, Args)]
#[command(
    long_about = "Save a copy of the container's header (4 KiB) to FILE, so the container can \
be opened again if its header gets damaged ('secvol header restore'). A password is needed: \
it proves the header is authentic before it is saved. FILE must not exist yet (exit code 12) \
and is created readable by you only.\n\n\
IMPORTANT: the backup is as protected as the header itself. Anyone who has the backup and a \
password that was valid WHEN THE BACKUP WAS MADE can open the container with it, even after \
that password was changed or removed. Store the backup as carefully as the container, and \
make a new backup (destroying the old one) after every 'secvol passwd', 'secvol key add' or \
'secvol key remove'.",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct HeaderBackupArgs {
    /// The container file.
    container: PathBuf,
    /// The backup file to create (for example TimeAcct.sec.header).
    file: PathBuf,
    /// Read a valid password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Restore the header from a backup file.
#[derive(Debug, Args)]
#[command(
    long_about = "Write the header saved by 'secvol header backup' back into the container \
(both copies). Use it when 'secvol' says both header copies are damaged. You need a password \
that was valid when the backup was made. The backup must belong to this very container \
(exit code 6 otherwise).\n\n\
The passwords are then those of the backup: passwords added or changed after the backup was \
made no longer work, and removed ones work again.",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct HeaderRestoreArgs {
    /// The container file.
    container: PathBuf,
    /// The header backup file.
    file: PathBuf,
    /// Read a password that was valid when the backup was made from the first line of FILE
    /// ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Rewrite both header copies from the one that is intact.
#[derive(Debug, Args)]
#[command(
    long_about = "Rewrite both copies of the header from the copy that opens with your \
password: secvol tries the primary copy (start of the file) first, then the backup copy (end \
of the file). Use it when secvol warns that one header copy is damaged or that the copies \
differ. If both copies are damaged, use 'secvol header restore' with a header backup.",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct HeaderRepairArgs {
    /// The container file.
    container: PathBuf,
    /// Read a valid password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Look for damage in a container.
#[derive(Debug, Args)]
#[command(
    long_about = "Read the whole container without changing it and check that every stored \
block is intact (each block carries an authentication tag, so any change is detected). \
Reports both header copies, both super slots (where the container keeps its length and first \
block) and every damaged range of blocks. Then walk the file system inside: the database's own \
page checksums, every directory entry, link counts, every file's data; damaged files are named \
by path, and files deleted while open (left by a crash) are listed.\n\n\
A block that fails authentication but that nothing in the file system uses is reported as a \
stale free block: the harmless remains of a write that a power cut or a pulled USB key \
interrupted (the file system never overwrites blocks in use, so such writes only ever hit \
free blocks). Stale free blocks do not count as damage; --repair makes them readable again.\n\n\
Exit code 0 if everything in use is intact, 10 if anything in use is damaged. Refused while \
the container is mounted read-write (exit code 11).",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct CheckArgs {
    /// The container file.
    container: PathBuf,
    /// Read a valid password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// After the check, rewrite stale free blocks (damaged blocks nothing uses) so that they
    /// read as empty again. Changes nothing else; needs the container not to be mounted.
    #[arg(long)]
    repair: bool,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// How `CONTAINER:/PATH` arguments work (long help of the offline commands).
const TARGET_HELP: &str = "Paths inside a container:
  CONTAINER:/PATH names a file or directory inside the container file CONTAINER, for example \
TimeAcct.sec:/2026/scans. CONTAINER alone (or CONTAINER:) is the root directory. The offline \
commands open the container themselves: no mount is needed, and they are refused while the \
container is mounted read-write (exit code 11). Changes are written durably when the command \
ends; a command that is interrupted leaves a consistent container.";

const FILES_HELP: &str = concat!(password_help!(), "\n\n", exit_codes_help!());

/// List a directory inside a container (no mount needed).
#[derive(Debug, Args)]
#[command(
    long_about = "List the entries of a directory inside a container, in name order, or show \
one file. With -l: type and permissions, links, owner and group (numeric), size in bytes, \
modification time (UTC) and name; symbolic links show their target.",
    before_long_help = TARGET_HELP,
    after_long_help = FILES_HELP
)]
struct LsArgs {
    /// CONTAINER[:/PATH]: what to list (the root directory if no path is given).
    #[arg(value_name = "CONTAINER[:/PATH]")]
    target: OsString,
    /// Long listing: permissions, links, owner, group, size, time.
    #[arg(short = 'l', long = "long")]
    long: bool,
    /// Read the password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Write a file inside a container to standard output (no mount needed).
#[derive(Debug, Args)]
#[command(before_long_help = TARGET_HELP, after_long_help = FILES_HELP)]
struct CatArgs {
    /// CONTAINER:/PATH of a regular file.
    #[arg(value_name = "CONTAINER:/PATH")]
    target: OsString,
    /// Read the password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Copy a file or a directory tree out of a container (no mount needed).
#[derive(Debug, Args)]
#[command(
    long_about = "Copy a file, or a directory and everything in it, from a container to LOCAL. \
If LOCAL is an existing directory, the copy goes inside it under its own name. Permissions and \
modification times are kept; symbolic links are recreated as links. An existing local file is \
never overwritten without --force (exit code 12).",
    before_long_help = TARGET_HELP,
    after_long_help = FILES_HELP
)]
struct GetArgs {
    /// CONTAINER:/PATH to copy out.
    #[arg(value_name = "CONTAINER:/PATH")]
    target: OsString,
    /// Where to put the copy.
    #[arg(value_name = "LOCAL")]
    local: PathBuf,
    /// Replace existing local files.
    #[arg(long)]
    force: bool,
    /// Read the password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Copy local files and directory trees into a container (no mount needed).
#[derive(Debug, Args)]
#[command(
    long_about = "Copy local files, or directories and everything in them, into the directory \
CONTAINER:/DIR, keeping their names, permissions and modification times. Symbolic links are \
copied as links. A file that already exists in the container is not replaced without --force \
(exit code 12); existing directories are merged.",
    before_long_help = TARGET_HELP,
    after_long_help = FILES_HELP
)]
struct PutArgs {
    /// LOCAL... then CONTAINER:/DIR (an existing directory inside the container).
    #[arg(value_name = "LOCAL... CONTAINER:/DIR", num_args = 2.., required = true)]
    paths: Vec<OsString>,
    /// Replace files that exist in the container.
    #[arg(long)]
    force: bool,
    /// Read the password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Create a directory inside a container (no mount needed).
#[derive(Debug, Args)]
#[command(before_long_help = TARGET_HELP, after_long_help = FILES_HELP)]
struct MkdirArgs {
    /// CONTAINER:/PATH of the new directory.
    #[arg(value_name = "CONTAINER:/PATH")]
    target: OsString,
    /// Also create missing parent directories; an existing directory is not an error.
    #[arg(short = 'p', long = "parents")]
    parents: bool,
    /// Read the password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Remove a file or a directory tree inside a container (no mount needed).
#[derive(Debug, Args)]
#[command(before_long_help = TARGET_HELP, after_long_help = FILES_HELP)]
struct RmArgs {
    /// CONTAINER:/PATH to remove.
    #[arg(value_name = "CONTAINER:/PATH")]
    target: OsString,
    /// Remove a directory and everything in it.
    #[arg(short = 'r', long = "recursive")]
    recursive: bool,
    /// Read the password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Move or rename a file or directory inside a container (no mount needed).
#[derive(Debug, Args)]
#[command(
    long_about = "Move or rename FROM to TO inside one container. TO is CONTAINER:/PATH or just \
/PATH. If TO is an existing directory, FROM moves into it under its own name. An existing file \
at TO is replaced only with --force.",
    before_long_help = TARGET_HELP,
    after_long_help = FILES_HELP
)]
struct MvArgs {
    /// CONTAINER:/PATH to move.
    #[arg(value_name = "CONTAINER:/FROM")]
    from: OsString,
    /// New path: CONTAINER:/PATH or /PATH.
    #[arg(value_name = "TO")]
    to: OsString,
    /// Replace an existing file at TO.
    #[arg(long)]
    force: bool,
    /// Read the password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Mount a container as a folder, so every program can use the files inside.
#[derive(Debug, Args)]
#[command(
    long_about = "Unlock a container and mount it on MOUNTPOINT (a folder, created if missing; \
an existing folder must be empty), so that every program reads and writes the files inside as \
ordinary files while only encrypted data reaches the container file. secvol asks for the \
password, mounts, and returns once the folder is ready; a background process keeps serving it \
until 'secvol unmount'. If the mount fails, a folder that secvol created is removed again.\n\n\
While mounted, the container is locked: a second mount, or a command that changes it, is \
refused (exit code 11). Only you see the files unless --allow-other is given; permissions \
inside are enforced by the system. Changes are written to the container at least every 5 \
seconds, on fsync, and when unmounting; a mount that changed nothing leaves the container \
file untouched (same bytes, same modification time).\n\n\
The mount dismounts itself (writing everything first) when the container's file or drive \
disappears, when the computer is about to sleep (Linux desktops that announce it), and \
after --idle-timeout without use. Its messages go to a log in your state folder \
('secvol list' shows each mount's health and log).\n\n\
Without a terminal (a double-clicked script) the password is asked in a password box, and \
the outcome is shown in a message box; --gui does that from a terminal too.\n\n\
Example: secvol mount /media/usb/TimeAcct.sec ~/TimeAcct",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct MountArgs {
    /// The container file.
    container: PathBuf,
    /// The folder to mount on (created if it does not exist; it must be empty).
    mountpoint: PathBuf,
    /// Read the password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
    /// Mount read-only: nothing can be changed and nothing is written to the container.
    #[arg(long)]
    read_only: bool,
    /// Stay in the foreground until unmounted (Ctrl-C unmounts); log messages go to the
    /// terminal too (RUST_LOG=info shows more).
    #[arg(long)]
    foreground: bool,
    /// Let other users (and services such as backup software running as another user) see
    /// the mount; their access is still limited by the files' permissions. Non-root users
    /// need 'user_allow_other' in /etc/fuse.conf.
    #[arg(long)]
    allow_other: bool,
    /// Mount even on a folder that has files in it (they are hidden while mounted).
    #[arg(long)]
    allow_non_empty: bool,
    /// Dismount by itself (writing everything first) after this long without any use of
    /// the files: 30m, 1h, 90s (a plain number is minutes). It waits while a program still
    /// has a file or folder open inside.
    #[arg(long, value_name = "TIME", value_parser = duration::parse_duration)]
    idle_timeout: Option<std::time::Duration>,
    /// Ask for the password in a password box and show the outcome in a message box (also
    /// used automatically when there is no terminal to ask on).
    #[arg(long, conflicts_with = "password_file")]
    gui: bool,
}

/// Unmount a container: write everything, unmount, wait until the container is closed.
#[derive(Debug, Args)]
#[command(
    long_about = "Unmount a mounted container, given its mount point or its container file: \
secvol writes every change durably into the container, unmounts the folder and waits until \
the container file is closed; then the drive can be removed.\n\n\
If programs still have files open inside (or a terminal is in the folder), secvol refuses and \
names them (exit code 11). --force detaches the folder at once anyway: the programs keep \
their open files until they close them, and the container is closed after that.\n\n\
--all unmounts every secvol mount of the user running it (root: only root's own mounts, \
unless --all-users is given too).\n\n\
With --gui the outcome is shown in a message box: that the drive can be removed only once \
the container is closed, or which program keeps it busy.",
    after_long_help = EXIT_CODES_HELP
)]
struct UnmountArgs {
    /// The mount point, or the container file.
    #[arg(
        value_name = "MOUNTPOINT|CONTAINER",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    target: Option<PathBuf>,
    /// Detach even if files are still open (lazy unmount).
    #[arg(long)]
    force: bool,
    /// Unmount all your secvol mounts.
    #[arg(long)]
    all: bool,
    /// With --all, as root: every user's secvol mounts, not only root's own.
    #[arg(long, requires = "all")]
    all_users: bool,
    /// Show the outcome in a message box (for double-clicked scripts).
    #[arg(long)]
    gui: bool,
}

/// List the mounted containers.
#[derive(Debug, Args)]
#[command(
    long_about = "List the mounted secvol containers: container file, mount point, \
read-write or read-only, the process id of the daemon serving it, and its health: 'clean', \
or the number of errors its log holds and the first of them (a damaged block, an I/O error \
of the drive). The last column is the daemon's log file."
)]
struct ListArgs {}

/// Why overwriting is no guarantee (long help of `import` and `shred`).
const SHRED_LIMITS_HELP: &str = concat!(
    "Limits of overwriting:\n  ",
    "Overwriting is reliable on magnetic hard disks only. SSDs, USB keys and memory cards \
move data around internally, and some file systems and backups keep old copies, so no \
overwrite can guarantee that every old copy of the data is gone there. Keep plaintext only on \
encrypted storage (a secvol container, full-disk encryption such as BitLocker, FileVault or \
LUKS); to retire a whole drive, use the drive's own secure-erase function or destroy it."
);

/// Move files into a container: copy, verify, then (optionally) shred the originals.
#[derive(Debug, Args)]
#[command(
    long_about = "Copy local files and folders into a container, then check every copied file \
by reading it back from the container and comparing it byte for byte with the original. With \
--shred-source, and only if every file checked out, the originals are then overwritten \
(random bytes, then zeros) and deleted: the files have moved into the container. If any copy \
differs or cannot be read, nothing is deleted (exit code 10).\n\n\
DEST is CONTAINER:/FOLDER (an existing folder inside the container file), or a folder inside a \
mounted container. When the container is mounted, the copy goes through the mount (no password \
needed) and is read back through it; otherwise secvol opens the container itself, writes, \
closes it (everything written durably), opens it again and reads every file back from the \
container file.\n\n\
Example: secvol import Scans/ TimeAcct.sec:/2026 --shred-source",
    before_long_help = SHRED_LIMITS_HELP,
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct ImportArgs {
    /// SRC... then DEST: local files or folders, then CONTAINER:/FOLDER or a folder inside a
    /// mounted container.
    #[arg(value_name = "SRC... DEST", num_args = 2.., required = true)]
    paths: Vec<OsString>,
    /// After every copy checked out, overwrite the originals (random bytes, then zeros) and
    /// delete them. Not a guarantee on SSDs and USB keys: see below.
    #[arg(long)]
    shred_source: bool,
    /// Read the container's password from the first line of FILE ('-': standard input).
    /// Not needed when the container is mounted.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Put files from a container into a password-protected 7-Zip archive, for e-mail.
#[derive(Debug, Args)]
#[command(
    long_about = "Write files and folders from a container into a new 7-Zip archive OUT.7z, \
encrypted with AES-256 under its own password, file names included: without the password \
nobody can even see which files are inside. The recipient opens it with 7-Zip (Windows), Keka \
or The Unarchiver (macOS) or 7z (Linux). secvol asks for the container's password, then twice \
for the archive's password, which must be strong (a weak one is refused, exit code 9, unless \
--allow-weak-password) and must not be the container's. After writing, secvol opens the \
archive again and compares every file with the container; an archive that does not check out \
is deleted.\n\n\
Send the password another way than the archive (by phone, not in the same e-mail). 7-Zip's \
encryption protects the archive only as well as its password: 7-Zip's key derivation is much \
faster to attack than a container's, so use a long passphrase. The container must not be \
mounted read-write (exit code 11): unmount it first.\n\n\
Example: secvol export TimeAcct.sec:/2026/smith.pdf TimeAcct.sec:/2026/labs smith.7z",
    before_long_help = TARGET_HELP,
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct ExportArgs {
    /// CONTAINER:/PATH... then OUT.7z (a new file; an existing one is never overwritten,
    /// exit code 12).
    #[arg(value_name = "CONTAINER:/PATH... OUT.7z", num_args = 2.., required = true)]
    paths: Vec<OsString>,
    /// Read the container's password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
    /// Read the archive's new password from the first line of ARCHIVE ('-': standard input)
    /// instead of asking twice on the terminal.
    #[arg(long, value_name = "ARCHIVE")]
    archive_password_file: Option<PathBuf>,
    #[arg(long, help = ALLOW_WEAK_HELP)]
    allow_weak_password: bool,
}

/// Overwrite and delete files (unencrypted leftovers).
#[derive(Debug, Args)]
#[command(
    long_about = "Overwrite each FILE in place (random bytes, then zeros, each written through \
to the disk), rename it to a random name and delete it, so that its content and name are hard \
to recover from a magnetic disk. Folders need -r; symbolic links are never followed (inside a \
folder they are just deleted). Refused, with nothing changed: a symbolic link given by name, a \
device or other special file, a secvol container file (use 'secvol destroy'), and anything \
inside a mounted secvol container (it is encrypted already: delete it normally). Every \
argument is checked before anything is changed.",
    before_long_help = SHRED_LIMITS_HELP,
    after_long_help = EXIT_CODES_HELP
)]
struct ShredArgs {
    /// The files (or with -r, folders) to overwrite and delete.
    #[arg(value_name = "FILE", required = true)]
    paths: Vec<PathBuf>,
    /// Also shred folders and everything in them.
    #[arg(short = 'r', long = "recursive")]
    recursive: bool,
}

/// Grow or shrink a container (growing also works while it is mounted).
#[derive(Debug, Args)]
#[command(
    long_about = "Change the size of a container file. A larger size grows it: the new space is \
added at the end of the file and, unless --quick, first filled with random bytes (with a \
progress bar). Growing also works while the container is mounted: the mount takes on the new \
space at once ('df' shows it) and open files keep working.\n\n\
A smaller size shrinks it, only while it is not mounted: secvol first moves the data out of \
the part that will be cut off. If the files would not fit, it refuses and says how much must \
be deleted or moved out first (exit code 13); nothing is changed then.\n\n\
Either way, a crash, a killed process or a pulled USB key during a resize leaves the \
container at its old or at its new size, with every file intact; run the command again to \
finish. Any password of the container is needed. Header backups made before a resize still \
restore (the container keeps its current size).\n\n\
Examples: secvol resize TimeAcct.sec --size +2G      (2 GiB more)\n\
          secvol resize TimeAcct.sec --size 8G       (exactly 8 GiB)",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct ResizeArgs {
    /// The container file.
    container: PathBuf,
    /// The new size (64M, 4G, 1T, ...: the units of 'create'), or +SIZE to add that much to
    /// the current size (+2G). Larger grows, smaller shrinks; rounded down to whole 4 KiB.
    #[arg(long, value_name = "SIZE|+SIZE", value_parser = commands::resize::parse_size_change)]
    size: commands::resize::SizeChange,
    /// Do not fill the added space with random bytes (fast). It stays zeros in the file
    /// (sparse where the disk allows) until the container writes there, so anyone who sees
    /// the file can tell that it was grown, by how much, and later how much of the new space
    /// has been written (never what the data is). Ignored when shrinking.
    #[arg(long)]
    quick: bool,
    /// Read the password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE|-")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    unlock: credentials::UnlockArgs,
}

/// Crypto-erase a container: no password will open it again.
#[derive(Debug, Args)]
#[command(
    long_about = "Crypto-erase a container: every keyslot in both header copies is overwritten \
with random bytes, then the whole header areas and the two super slots (where the container \
keeps its length and first block), and written to the disk. That takes a moment whatever the \
size. Afterwards no password opens the container, and restoring a header backup with 'secvol \
header restore' does not open it either. The file itself is left in place, holding only bytes \
nobody can decrypt; delete it as you like. No password is needed.\n\n\
This is the right way to erase a container on a USB key or an SSD: such drives move blocks \
around when they are rewritten, so overwriting a whole file does not reliably erase its old \
blocks, while every block of a container depends on the few bytes that secvol destroys.\n\n\
ONE REMAINING RISK: a header backup made earlier ('secvol header backup'), together with a \
password that was valid when it was made, still holds the key to the data: with their own \
tools, someone who has both can decrypt this file or any copy of it. Destroy every header \
backup of the container too.\n\n\
secvol asks you to type the container's file name to confirm, unless --yes; without a \
terminal --yes is required (exit code 2). Refused while the container is mounted (exit code \
11) and for a file that is not a secvol container (exit code 4).",
    after_long_help = EXIT_CODES_HELP
)]
struct DestroyArgs {
    /// The container file.
    container: PathBuf,
    /// Do not ask for the file name to be typed back (for scripts).
    #[arg(long)]
    yes: bool,
}

/// Lay out a portable kit: the program, a container and double-clickable scripts.
#[derive(Debug, Args)]
#[command(
    long_about = "Lay out the portable kit in DIR (a USB key's top folder, or any folder): the \
secvol program for this system in secvol/<system>/, the container in Data/, double-clickable \
scripts to mount and dismount it on Windows (.bat, on a drive letter), Linux (.sh) and macOS \
(.command), and a README.txt for the person at the desk. The scripts find everything \
relative to themselves, so the kit works whatever drive letter or folder the key gets.\n\n\
The container is created (--size, password asked twice) unless --container names an existing \
container, which is moved into Data/ (or copied, if it is on another drive; the original is \
then left where it was). --sample makes a 1 MiB sample container with a demo password printed \
in README.txt, to try the routine before making a real one.\n\n\
Programs for other systems: give them with --program (repeatable); secvol recognises the \
system from the file. Existing kit files are never replaced without --force; the container \
never is.\n\n\
Example: secvol kit /media/usb --container TimeAcct.sec --size 4G --drive T",
    after_long_help = PASSWORD_AND_EXIT_CODES_HELP
)]
struct KitArgs {
    /// The kit's folder (created if missing), for example the USB key's top folder.
    dir: PathBuf,
    /// The container: a name (created in DIR/Data/ with --size) or an existing container
    /// file (moved into DIR/Data/). Default: SecureDrive.sec.
    #[arg(long, value_name = "NAME.sec")]
    container: Option<PathBuf>,
    /// Size of a new container (64M, 4G, ...; see 'secvol create --help').
    #[arg(long, value_name = "SIZE", value_parser = size::parse_size, conflicts_with = "sample")]
    size: Option<u64>,
    /// Windows drive letter the .bat script mounts on (default T).
    #[arg(long, value_name = "T", value_parser = commands::kit::parse_drive, default_value = "T")]
    drive: char,
    /// Make a 1 MiB sample container with a demo password (printed in README.txt), to try
    /// the routine. Never put real records in it.
    #[arg(long, conflicts_with = "container")]
    sample: bool,
    /// A secvol program built for another system (Windows secvol.exe, macOS, Linux on
    /// another processor), copied into the kit. Repeat for more.
    #[arg(long = "program", value_name = "FILE")]
    programs: Vec<PathBuf>,
    /// Replace the kit's scripts, README.txt and programs if they exist (never the container).
    #[arg(long)]
    force: bool,
    /// Read the new container's password from the first line of FILE ('-': standard input).
    #[arg(long, value_name = "FILE|-")]
    password_file: Option<PathBuf>,
    #[arg(long, help = ALLOW_WEAK_HELP)]
    allow_weak_password: bool,
    #[arg(long, value_name = "N", help = SCRYPT_LOG_N_HELP)]
    scrypt_log_n: Option<u32>,
    /// Do not fill a new container with random bytes first (see 'secvol create --help').
    #[arg(long)]
    quick: bool,
}

/// The mount daemon (internal: started by 'secvol mount', password on standard input).
#[derive(Debug, Args)]
struct ServeMountArgs {
    /// The container file (absolute).
    container: PathBuf,
    /// The mount point (absolute).
    mountpoint: PathBuf,
    #[arg(long)]
    read_only: bool,
    #[arg(long)]
    allow_other: bool,
    /// Standard input holds credential lines (keyfile digest, recovery key) instead of a bare
    /// password line (`credentials::write_handoff`).
    #[arg(long)]
    credentials: bool,
    /// Append the daemon's log to FILE.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Dismount after this many seconds without use.
    #[arg(long, value_name = "SECONDS")]
    idle_timeout_secs: Option<u64>,
}

/// Removes a mount whose daemon died without unmounting (internal: started by the daemon).
#[derive(Debug, Args)]
struct ReapMountArgs {
    /// The mount point (absolute).
    mountpoint: PathBuf,
    /// Append to the daemon's log FILE.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (log_file, daemon) = match &cli.command {
        Command::ServeMount(args) => (args.log.as_deref(), true),
        Command::ReapMount(args) => (args.log.as_deref(), true),
        _ => (None, false),
    };
    init_logging(log_file, daemon);
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", exit::one_line(&err));
            ExitCode::from(exit::exit_code(&err))
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Create(args) => commands::create::run(&args),
        Command::Info(args) => commands::info::run(&args),
        Command::Passwd(args) => commands::passwd::run(&args),
        Command::Key(KeyCommand::Add(args)) => commands::key::add(&args),
        Command::Key(KeyCommand::Remove(args)) => commands::key::remove(&args),
        Command::Key(KeyCommand::List(args)) => commands::key::list(&args),
        Command::Header(HeaderCommand::Backup(args)) => commands::header::backup(&args),
        Command::Header(HeaderCommand::Restore(args)) => commands::header::restore(&args),
        Command::Header(HeaderCommand::Repair(args)) => commands::header::repair(&args),
        Command::Check(args) => commands::check::run(&args),
        Command::Ls(args) => commands::files::ls(&args),
        Command::Cat(args) => commands::files::cat(&args),
        Command::Get(args) => commands::files::get(&args),
        Command::Put(args) => commands::files::put(&args),
        Command::Mkdir(args) => commands::files::mkdir(&args),
        Command::Rm(args) => commands::files::rm(&args),
        Command::Mv(args) => commands::files::mv(&args),
        Command::Mount(args) => commands::mount::mount(&args),
        Command::Unmount(args) => commands::mount::unmount(&args),
        Command::List(ListArgs {}) => commands::mount::list(),
        Command::Import(args) => commands::import::run(&args),
        Command::Export(args) => commands::export::run(&args),
        Command::Shred(args) => commands::shred::run(&args),
        Command::Resize(args) => commands::resize::run(&args),
        Command::Destroy(args) => commands::destroy::run(&args),
        Command::Kit(args) => commands::kit::run(&args),
        #[cfg(unix)]
        Command::ServeMount(args) => commands::serve::run(&args),
        #[cfg(windows)]
        Command::ServeMount(args) => commands::mount::serve(&args),
        #[cfg(unix)]
        Command::ReapMount(args) => commands::serve::reap(&args),
        #[cfg(not(unix))]
        Command::ReapMount(_) => anyhow::bail!("reap-mount exists on Unix systems only"),
    }
}

/// `env_logger` with the default filter `warn` (`RUST_LOG` overrides it), no timestamps.
/// Nothing in secvol logs passwords or keys.
///
/// The mount daemon (`log_file`) logs secvol's own `info` messages too, with UTC time stamps,
/// into its log file in the state folder (`state.rs`), and also to its standard error, which
/// is the terminal with `mount --foreground` and nowhere otherwise.
fn init_logging(log_file: Option<&std::path::Path>, daemon: bool) {
    let default_filter = if daemon {
        "warn,secvol=info,secvol_fs=info,secvol_fuse=info,secvol_core=info"
    } else {
        "warn"
    };
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter));
    let file = log_file.and_then(|path| {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .ok()
    });
    if let Some(file) = file {
        builder.target(env_logger::Target::Pipe(Box::new(state::LogSink::new(
            file,
        ))));
    }
    builder
        .format(move |buf, record| {
            if daemon {
                write!(buf, "{} ", state::utc_seconds_text(state::now_secs()))?;
            }
            match record.level() {
                log::Level::Error => writeln!(buf, "error: {}", record.args()),
                log::Level::Warn => writeln!(buf, "warning: {}", record.args()),
                log::Level::Info if daemon => writeln!(buf, "info: {}", record.args()),
                level => writeln!(
                    buf,
                    "{}: [{}] {}",
                    level.as_str().to_lowercase(),
                    record.target(),
                    record.args()
                ),
            }
        })
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }
}
