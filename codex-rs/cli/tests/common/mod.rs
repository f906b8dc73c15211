//! Helpers shared by the `codex` binary's integration tests.
#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;

/// The `codex` binary under test (nextest archives remap it at run time).
pub fn codex() -> PathBuf {
    std::env::var_os("NEXTEST_BIN_EXE_codex")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_codex")))
}

/// Whether CI demands that nothing skips (`CODEX_REQUIRE_SANDBOX=1`).
pub fn required() -> bool {
    std::env::var_os("CODEX_REQUIRE_SANDBOX").is_some_and(|v| v == "1")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
