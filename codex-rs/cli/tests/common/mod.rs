//! Helpers shared by the `codex` binary's integration tests.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A config whose default profile reads everything and writes only the
/// workspace: not /tmp, where the tests keep their directories.
pub const TEST_PROFILE_CONFIG: &str = "default_permissions = \"test-workspace\"\n\
     [permissions.test-workspace.filesystem]\n\":root\" = \"read\"\n\":workspace_roots\" = \"write\"\n";

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

/// The release layout, copied into `into` so a test may change it. `None`
/// (with a printed reason) when it has not been built; CI
/// (`CODEX_REQUIRE_SANDBOX=1`) fails instead.
pub fn release_layout(test: &str, into: &Path) -> Option<PathBuf> {
    let dist = std::env::var_os("CODEX_DIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dist"));
    if !dist.join("codex").is_file() || !dist.join("codex-resources/bwrap").is_file() {
        let reason = format!(
            "no release layout at {}; run `just release`",
            dist.display()
        );
        assert!(!required(), "{test}: {reason}");
        eprintln!("SKIPPED {test}: {reason}");
        return None;
    }
    let layout = into.join("dist");
    std::fs::create_dir_all(layout.join("codex-resources")).unwrap();
    for file in ["codex", "codex-resources/bwrap"] {
        std::fs::copy(dist.join(file), layout.join(file)).unwrap();
    }
    Some(layout)
}

/// Whether `bwrap` can create the sandbox's namespaces here; prints why
/// not (CI fails instead).
pub fn namespaces_work(test: &str, bwrap: &Path) -> bool {
    let probe = Command::new(bwrap)
        .args([
            "--unshare-user",
            "--unshare-net",
            "--ro-bind",
            "/",
            "/",
            "--",
            "true",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if probe.status.success() {
        return true;
    }
    let reason = String::from_utf8_lossy(&probe.stderr).into_owned();
    assert!(
        !required(),
        "{test}: bwrap cannot create namespaces: {reason}"
    );
    eprintln!("SKIPPED {test}: bwrap cannot create namespaces here: {reason}");
    false
}
