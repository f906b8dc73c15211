//! `bwrap`: bubblewrap's own `main`, built from the pinned C sources.
//!
//! The C `main` is compiled as `bwrap_main` (see `build.rs`) and called from
//! here with the untouched `argc`/`argv`. `no_main` keeps Rust's start-up
//! code out: it would set `SIGPIPE` to ignored, and an ignored signal is
//! inherited across `exec` by every sandboxed command.
#![no_main]

use std::ffi::{c_char, c_int};

unsafe extern "C" {
    /// bubblewrap's `main` (bubblewrap.c), renamed at compile time.
    fn bwrap_main(argc: c_int, argv: *mut *mut c_char) -> c_int;
}

/// The process entry point the C runtime calls.
///
/// # Safety
/// Only the C runtime calls this, with its own `argc` and `argv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn main(argc: c_int, argv: *mut *mut c_char) -> c_int {
    // SAFETY: `argc` and `argv` come straight from the C runtime, exactly
    // as bubblewrap's own `main` would receive them.
    unsafe { bwrap_main(argc, argv) }
}
