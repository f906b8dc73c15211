//! The bundled bwrap, built from the pinned sources, run for real: its
//! version is the lock's, it sandboxes, it knows `--argv0`, its capability
//! names come from our shim, and it leaves signal dispositions alone.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// SIGPIPE's number on Linux (every architecture this builds for).
const SIGPIPE: u32 = 13;

fn bwrap() -> PathBuf {
    std::env::var_os("NEXTEST_BIN_EXE_bwrap")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_bwrap")))
}

fn run(args: &[&str]) -> Output {
    Command::new(bwrap())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run bwrap")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether this host lets bwrap create a user namespace; prints why not.
/// With `CODEX_REQUIRE_SANDBOX=1` (CI) a refusal fails the test instead.
fn namespaces_available(test: &str) -> bool {
    let output = run(&["--unshare-user", "--ro-bind", "/", "/", "--", "true"]);
    if output.status.success() {
        return true;
    }
    let reason = text(&output.stderr);
    if std::env::var_os("CODEX_REQUIRE_SANDBOX").is_some_and(|v| v == "1") {
        panic!("{test}: CODEX_REQUIRE_SANDBOX=1 but bwrap cannot create namespaces: {reason}");
    }
    eprintln!("SKIPPED {test}: bwrap cannot create namespaces here: {reason}");
    false
}

#[test]
fn the_version_is_the_one_the_lock_pins() {
    let lock = include_str!("../../../third_party/bubblewrap.lock");
    let version = lock
        .lines()
        .find_map(|line| line.strip_prefix("version = "))
        .expect("version in the lock")
        .trim_matches('"');
    let output = run(&["--version"]);
    assert!(output.status.success());
    assert_eq!(text(&output.stdout).trim(), format!("bubblewrap {version}"));
}

#[test]
fn a_read_only_root_refuses_writes_and_argv0_names_the_command() {
    if !namespaces_available("a_read_only_root_refuses_writes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("written");
    let script = format!("echo \"$0\"; echo x > {} || echo refused", target.display());
    let output = run(&[
        "--unshare-user",
        "--unshare-net",
        "--ro-bind",
        "/",
        "/",
        "--argv0",
        "renamed",
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "renamed\nrefused\n");
    assert!(!target.exists(), "the write reached the host");
}

#[test]
fn capability_names_resolve_through_the_shim() {
    if !namespaces_available("capability_names_resolve_through_the_shim") {
        return;
    }
    for name in ["CAP_SYS_ADMIN", "cap_net_raw", "sys_chroot", "21"] {
        let output = run(&[
            "--unshare-user",
            "--ro-bind",
            "/",
            "/",
            "--cap-add",
            name,
            "--",
            "true",
        ]);
        assert!(output.status.success(), "{name}: {}", text(&output.stderr));
    }
    for name in ["bogus", "", "999", "cap_"] {
        let output = run(&["--ro-bind", "/", "/", "--cap-add", name, "--", "true"]);
        assert_eq!(output.status.code(), Some(1), "{name} was accepted");
        assert!(text(&output.stderr).contains("unknown cap"), "{name}");
    }
}

#[test]
fn the_command_does_not_inherit_an_ignored_sigpipe() {
    if !namespaces_available("the_command_does_not_inherit_an_ignored_sigpipe") {
        return;
    }
    let output = run(&[
        "--unshare-user",
        "--ro-bind",
        "/",
        "/",
        "--",
        "/bin/sh",
        "-c",
        "grep SigIgn /proc/self/status",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mask = text(&output.stdout);
    let mask = u64::from_str_radix(mask.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    let sigpipe_bit = 1 << (SIGPIPE - 1);
    assert_eq!(mask & sigpipe_bit, 0, "SIGPIPE is ignored: {mask:x}");
}
