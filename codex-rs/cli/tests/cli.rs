//! The `codex` binary: subcommand parsing, help, usage errors and arg0
//! dispatch to the Linux helper.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use common::{codex, text};
use std::process::{Command, Output};

fn run(args: &[&str], codex_home: &std::path::Path) -> Output {
    Command::new(codex())
        .args(args)
        .env("CODEX_HOME", codex_home)
        .output()
        .unwrap()
}

#[test]
fn cd_needs_a_permission_profile_as_in_codex() {
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mark = ws.path().join("ran");
    let script = format!("echo > {}", mark.display());
    let ws_arg = ws.path().to_str().unwrap();
    let output = run(
        &["sandbox", "-C", ws_arg, "--", "sh", "-c", &script],
        home.path(),
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("--cd needs --permission-profile"),
        "{}",
        text(&output.stderr)
    );
    assert!(!mark.exists());
}

#[test]
fn sandbox_help_teaches_profiles_config_and_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let output = run(&["sandbox", "--help"], home.path());
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output.stdout);
    for needle in [
        "--permission-profile",
        "--config",
        "--enable",
        "--disable",
        "--profile",
        "--cd",
        "--explain",
        "--permissions-profile",
        "--include-managed-config",
        "--sandbox-state-json",
        "--sandbox-state-readable-root",
        "--sandbox-state-disable-network",
        "--transparent-tcp",
        ":read-only",
        ":workspace",
        ":danger-full-access",
        "[permissions.dev.filesystem]",
        "127 command not found",
    ] {
        assert!(
            help.contains(needle),
            "`{needle}` missing from help:\n{help}"
        );
    }
}

#[test]
fn a_missing_command_or_unknown_option_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let output = run(&["sandbox"], home.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("COMMAND"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        run(&["sandbox", "--frobnicate", "--", "true"], home.path())
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["nonsense"], home.path()).status.code(), Some(2));
}

#[test]
fn explain_runs_nothing_and_names_the_profile() {
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mark = ws.path().join("ran");
    let script = format!("echo > {}", mark.display());
    let output = run(
        &[
            "sandbox",
            "--explain",
            "-P",
            ":read-only",
            "-C",
            ws.path().to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &script,
        ],
        home.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("profile: :read-only (chosen by -P"),
        "{}",
        text(&output.stdout)
    );
    assert!(!mark.exists());
}

#[test]
fn options_that_follow_the_command_belong_to_the_command() {
    let home = tempfile::tempdir().unwrap();
    let output = run(
        &[
            "sandbox",
            "--explain",
            "-P",
            ":danger-full-access",
            "echo",
            "-P",
            "x",
        ],
        home.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("echo -P x"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn invoked_as_codex_linux_sandbox_it_runs_the_helper() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("codex-linux-sandbox");
    std::os::unix::fs::symlink(codex(), &link).unwrap();
    // The helper takes the sandbox options at the top level.
    let output = Command::new(&link)
        .args(["--explain", "-P", ":read-only", "--", "true"])
        .env("CODEX_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).starts_with("profile: :read-only"));
    let help = Command::new(&link).arg("--help").output().unwrap();
    assert!(
        text(&help.stdout).starts_with("Run a command in the Codex Linux sandbox"),
        "{}",
        text(&help.stdout)
    );
}

#[test]
fn the_default_profile_is_read_only_and_workspace_writes_the_workspace() {
    let home = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let probe = Command::new("bwrap")
        .args([
            "--unshare-user",
            "--unshare-net",
            "--ro-bind",
            "/",
            "/",
            "--",
            "true",
        ])
        .output();
    if !probe.is_ok_and(|out| out.status.success()) {
        assert!(
            std::env::var_os("CODEX_REQUIRE_SANDBOX").is_none_or(|v| v != "1"),
            "no sandbox in CI"
        );
        eprintln!("SKIPPED the_default_profile_is_read_only: bwrap cannot run here");
        return;
    }
    let script = "echo ok > inside.txt; echo x > /etc/codex-cli-test";
    let ws_arg = ws.path().to_str().unwrap();
    // With nothing configured, Codex's `codex sandbox` runs read-only.
    let output = Command::new(codex())
        .args(["sandbox", "--", "sh", "-c", script])
        .env("CODEX_HOME", home.path())
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(!ws.path().join("inside.txt").exists());
    let output = run(
        &[
            "sandbox",
            "-P",
            ":workspace",
            "-C",
            ws_arg,
            "--",
            "sh",
            "-c",
            script,
        ],
        home.path(),
    );
    assert_ne!(output.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(ws.path().join("inside.txt")).unwrap(),
        "ok\n"
    );
    assert!(!std::path::Path::new("/etc/codex-cli-test").exists());
}
