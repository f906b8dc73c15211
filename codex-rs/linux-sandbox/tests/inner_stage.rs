//! The inner-stage pipeline (`features.inner_stage`), checked from the host.
//!
//! The default, guarded pipeline runs the inner stage, so the whole suite
//! checks every effect under it; a second pass (`CODEX_TEST_NO_GUARD=1`,
//! `scripts/test.sh`) checks the same effects with bwrap installing the
//! filter itself. These tests cover what belongs to
//! the stage alone: it leaves nothing open to the command, a stage that
//! fails stops the run with its reason, and it refuses a malformed hidden
//! command line. How it is named with and without bwrap's `--argv0` is
//! checked in `codex-rs/cli/tests/launcher.rs`, with fake bwraps.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::process::{Command, Stdio};

use common::{
    World, assert_code, assert_refused, helper_bin, no_proc_pass, read, stderr, stdout,
    unguarded_pass,
};

/// The inner stage without the guard: the stage alone.
const INNER_STAGE: &[&str] = &[
    "--enable",
    "inner_stage",
    "--disable",
    "guard_protected_names",
];

#[test]
fn the_harness_runs_the_pipeline_this_pass_asks_for() {
    let world = World::new();
    let explain = stdout(&world.run(&["--explain"], &["true"]));
    let wanted = if unguarded_pass() {
        "seccomp: installed by bwrap (--seccomp)"
    } else {
        "seccomp: installed by the inner stage"
    };
    assert!(explain.contains(wanted), "{explain}");
}

/// Whatever the test harness passes down, the command holds only its
/// standard streams in either pipeline (`ls` opens 3 for the listing).
#[test]
fn both_pipelines_give_the_command_only_its_standard_streams() {
    require_sandbox!();
    require_own_proc!();
    let world = World::new();
    for options in [&[][..], INNER_STAGE] {
        let output = world.sh(options, "ls /proc/self/fd");
        assert_code(&output, 0);
        assert_eq!(
            stdout(&output),
            "0\n1\n2\n3\n",
            "{options:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn both_pipelines_set_no_new_privs_and_a_filter_before_the_command() {
    require_sandbox!();
    require_own_proc!();
    let world = World::new();
    for options in [&[][..], INNER_STAGE] {
        let output = world.sh(
            options,
            "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; exit 9",
        );
        assert_code(&output, 9);
        assert_eq!(
            stdout(&output),
            "NoNewPrivs:\t1\nSeccomp:\t2\n",
            "{options:?}"
        );
    }
}

#[test]
fn a_failed_inner_stage_stops_the_run_with_its_reason_and_nothing_runs() {
    require_sandbox!();
    let world = World::new();
    let hidden = world.outside.join("hidden");
    std::fs::create_dir(&hidden).unwrap();
    let mark = world.outside.join("ran");
    let script = hidden.join("run.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho ran > {}\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let rules = format!(
        "permissions.hide.filesystem={{\":root\"=\"read\",\"{}\"=\"none\"}}",
        hidden.display()
    );
    let output = world.run(
        &[INNER_STAGE, &["-c", &rules, "-P", "hide"]].concat(),
        &[&script],
    );
    assert_code(&output, 71);
    let message = stderr(&output);
    let last = message.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("the inner stage stopped before starting the command: cannot execute")
            && last.contains(&script.display().to_string()),
        "{message}"
    );
    assert!(read(&mark).is_none(), "the command ran");
}

#[test]
fn without_proc_the_helper_goes_by_path_and_a_profile_hiding_it_is_refused() {
    require_sandbox!();
    let world = World::new();
    let mark = world.ws.join("ran");
    let script = format!("echo ran >> {}", mark.display());
    let helper = helper_bin().canonicalize().unwrap();
    let explain = stdout(&world.run(
        &[INNER_STAGE, &["--no-proc", "--explain"]].concat(),
        &["true"],
    ));
    assert!(
        explain.contains(&format!("-- {} --codex-inner-stage", helper.display())),
        "{explain}"
    );
    assert_code(
        &world.sh(&[INNER_STAGE, &["--no-proc"]].concat(), "true"),
        0,
    );
    let rules = format!(
        "permissions.hide.filesystem={{\":root\"=\"read\",\":workspace_roots\"=\"write\",\"{}\"=\"none\"}}",
        helper.parent().unwrap().display()
    );
    let hidden = [INNER_STAGE, &["--no-proc", "-c", &rules, "-P", "hide"]].concat();
    let output = world.sh(&hidden, &script);
    assert_refused(
        &output,
        &mark,
        78,
        &[
            "features.inner_stage runs",
            &helper.display().to_string(),
            "without /proc",
            "hidden by",
        ],
    );
    // With its own /proc the sandbox reaches the helper through a
    // descriptor, so the same profile runs.
    if no_proc_pass() {
        return;
    }
    let hidden_with_proc = [INNER_STAGE, &["-c", &rules, "-P", "hide"]].concat();
    assert_code(&world.sh(&hidden_with_proc, &script), 0);
    assert_eq!(read(&mark).as_deref(), Some("ran\n"));
}

#[test]
fn a_malformed_hidden_command_line_is_refused_and_nothing_runs() {
    let world = World::new();
    let mark = world.outside.join("ran");
    let command = format!("echo ran > {}", mark.display());
    let cases: [(&[&str], i32, &str); 3] = [
        (
            &["--network", "open", "--report-fd", "5"],
            2,
            "--network must be restricted, enabled or proxy",
        ),
        (
            &["--network", "restricted", "--report-fd", "1"],
            2,
            "--report-fd must be a descriptor number above 2",
        ),
        (
            &["--network", "restricted", "--report-fd", "500"],
            71,
            "report descriptor 500 is not open",
        ),
    ];
    for (args, code, needle) in cases {
        let output = Command::new(helper_bin())
            .arg("--codex-inner-stage")
            .args(args)
            .args(["--", "sh", "-c", &command])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_code(&output, code);
        assert!(stderr(&output).contains(needle), "{}", stderr(&output));
        assert!(read(&mark).is_none(), "{args:?}: the command ran");
    }
}
