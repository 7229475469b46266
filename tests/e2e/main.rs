//! End-to-end tests: real containers mounted through real FUSE by the real `secvol` binary,
//! used by real programs (cp, rsync, sqlite3, git, dd), unmounted and mounted again.
//!
//! Every test runs in its own temporary directory through [`Sandbox`], whose `Drop`
//! unmounts whatever is still mounted under it (lazily, so a wedged mount cannot hang the
//! suite) and then fails the test if a mount was left behind: a test cannot leave a mount
//! on the machine, and a test that forgets to unmount is caught.
//!
//! Needs /dev/fuse and fusermount3 (package fuse3), sqlite3, git, rsync, setpriv and setfacl
//! (package acl); CI installs them (.ci/run).

#![cfg(target_os = "linux")]

mod harness;

mod acl;
mod apps;
mod autodismount;
mod crash;
mod kit;
mod lifecycle;
mod mount;
mod newuser;
mod resize;
mod xvfb;
