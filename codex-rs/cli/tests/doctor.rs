//! `codex sandbox doctor` on this host and on hosts made to fail with a
//! fake bwrap: one line per check, the fix under each failure, JSON for
//! machines, and an exit status that says whether the default profile can
//! run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use common::{codex, text};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn doctor(cwd: &Path, path: &str, json: bool) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(codex());
    command
        .current_dir(cwd)
        .env("CODEX_HOME", home.path())
        .env("PATH", path)
        .args(["sandbox", "doctor"]);
    if json {
        command.arg("--json");
    }
    command.output().unwrap()
}

const CHECKS: [&str; 14] = [
    "config",
    "kernel",
    "wsl",
    "container",
    "seccomp",
    "landlock",
    "system_bwrap",
    "bundled_bwrap",
    "user_namespaces",
    "proc_mount",
    "guard",
    "bare_repositories",
    "unix_sockets",
    "default_start",
];

#[test]
fn on_this_host_every_check_prints_one_line_and_the_verdict_matches_the_status() {
    let cwd = tempfile::tempdir().unwrap();
    let output = doctor(cwd.path(), "/usr/local/bin:/usr/bin:/bin", false);
    let report = text(&output.stdout);
    for id in CHECKS {
        let lines = report
            .lines()
            .filter(|line| {
                line.split_once(' ')
                    .is_some_and(|(_, rest)| rest.starts_with(&format!("{id}: ")))
            })
            .count();
        assert_eq!(lines, 1, "{id}: {report}");
    }
    let can_run = report
        .lines()
        .last()
        .is_some_and(|line| line.starts_with("the default profile can run here"));
    assert_eq!(
        output.status.code(),
        Some(if can_run { 0 } else { 1 }),
        "{report}"
    );
    if std::env::var_os("CODEX_REQUIRE_SANDBOX").is_some_and(|v| v == "1") {
        assert!(can_run, "CI can run the sandbox, but doctor says: {report}");
    }
}

#[test]
fn json_holds_the_same_checks_and_verdict() {
    let cwd = tempfile::tempdir().unwrap();
    let output = doctor(cwd.path(), "/usr/local/bin:/usr/bin:/bin", true);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, CHECKS);
    for check in report["checks"].as_array().unwrap() {
        let status = check["status"].as_str().unwrap();
        assert!(
            ["pass", "warn", "fail", "info"].contains(&status),
            "{check}"
        );
        if status == "fail" {
            assert!(check["fix"].is_string(), "a failure without a fix: {check}");
        }
    }
    let can_run = report["default_profile_can_run"].as_bool().unwrap();
    assert_eq!(output.status.code(), Some(if can_run { 0 } else { 1 }));
}

#[test]
fn a_bwrap_that_cannot_create_namespaces_fails_with_a_fix_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let (bin, cwd) = (base.join("bin"), base.join("ws"));
    std::fs::create_dir(&bin).unwrap();
    std::fs::create_dir(&cwd).unwrap();
    let fake = bin.join("bwrap");
    std::fs::write(
        &fake,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'bubblewrap 0.6.1'; exit 0; fi\n\
         echo 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    // /tmp (and so the fake) is a writable root of the default profile;
    // a config that leaves it out lets doctor take the fake as the system bwrap.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n",
    )
    .unwrap();
    let output = Command::new(codex())
        .current_dir(&cwd)
        .env("CODEX_HOME", home.path())
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .args(["sandbox", "doctor"])
        .output()
        .unwrap();
    let report = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!(
            "✔ system_bwrap: {} (bubblewrap 0.6.1), no --argv0",
            fake.display()
        )),
        "{report}"
    );
    assert!(report.contains("✘ user_namespaces: "), "{report}");
    assert!(report.contains("uid map: Permission denied"), "{report}");
    let fix = report
        .lines()
        .skip_while(|line| !line.starts_with("✘ user_namespaces"))
        .nth(1)
        .unwrap();
    assert!(fix.starts_with("    fix: "), "{report}");
    // The verdict is the real start's, whose refusal names the same cause.
    assert!(
        report.contains(
            "✘ default_start: `codex sandbox -- true` failed: exit 71: sandbox setup failed: "
        ),
        "{report}"
    );
    assert!(
        report.ends_with("the default profile cannot run here: 2 checks failed\n"),
        "{report}"
    );
    let run = Command::new(codex())
        .current_dir(&cwd)
        .env("CODEX_HOME", home.path())
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .args(["sandbox", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(71));
}

#[test]
fn a_command_named_doctor_runs_after_the_separator() {
    let cwd = tempfile::tempdir().unwrap();
    let output = Command::new(codex())
        .current_dir(cwd.path())
        .args(["sandbox", "--", "doctor"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("doctor: command not found"));
}

/// A default proxy profile whose proxy variable cannot be routed: the
/// config check fails with the variable named, and doctor says the default
/// profile cannot run (as `codex sandbox` would refuse it).
#[test]
fn a_default_proxy_profile_with_an_unroutable_proxy_fails_the_config_check() {
    let cwd = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "default_permissions = \"p\"\n[permissions.p.filesystem]\n\":root\" = \"read\"\n\
         [permissions.p.network]\nenabled = true\nenvironment_proxy = true\n",
    )
    .unwrap();
    let run = |proxy: &str| {
        let mut command = Command::new(codex());
        command
            .current_dir(cwd.path())
            .env("CODEX_HOME", home.path())
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .args(["sandbox", "doctor"]);
        for name in codex_sandboxing::proxy::PROXY_VARIABLES {
            command.env_remove(name);
        }
        command.env("HTTPS_PROXY", proxy).output().unwrap()
    };
    let refused = run("http://10.0.0.1:3128");
    let report = text(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{report}");
    assert!(
        report.contains("✘ config: configuration error: HTTPS_PROXY=\"http://10.0.0.1:3128\""),
        "{report}"
    );
    let routable = run("http://127.0.0.1:3128");
    assert!(
        text(&routable.stdout).contains("✔ config: configuration loads; default profile p"),
        "{}",
        text(&routable.stdout)
    );
}

/// The probes name `true` by its full path: with a `PATH` holding bwrap
/// and nothing else, bwrap's namespaces are still judged on their own.
#[test]
fn the_namespace_probe_does_not_depend_on_path() {
    let Some(system) = ["/usr/bin/bwrap", "/usr/local/bin/bwrap"]
        .iter()
        .map(Path::new)
        .find(|path| path.is_file())
    else {
        eprintln!("SKIPPED the_namespace_probe_does_not_depend_on_path: no system bwrap");
        return;
    };
    let cwd = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // The directory below is under /tmp: keep /tmp out of the writable
    // roots, or its bwrap would be passed over as possibly planted.
    std::fs::write(
        home.path().join("config.toml"),
        "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n",
    )
    .unwrap();
    let only_bwrap = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(system, only_bwrap.path().join("bwrap")).unwrap();
    let run = |path: &str| {
        Command::new(codex())
            .current_dir(cwd.path())
            .env("CODEX_HOME", home.path())
            .env("PATH", path)
            .args(["sandbox", "doctor"])
            .output()
            .unwrap()
    };
    let with_path = run("/usr/local/bin:/usr/bin:/bin");
    let without = run(only_bwrap.path().to_str().unwrap());
    let verdict = |output: &Output| {
        text(&output.stdout)
            .lines()
            .find(|line| line.contains("user_namespaces:"))
            .map(|line| line.chars().next())
    };
    assert_eq!(
        verdict(&without),
        verdict(&with_path),
        "{}",
        text(&without.stdout)
    );
}

/// The doctor asks host git for `safe.bareRepository` (through the global
/// configuration of `HOME`): `explicit` passes, unset warns with the fix,
/// neither stops the default profile.
#[test]
fn host_git_trusting_bare_repositories_is_reported_with_its_fix() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no git on this host");
        return;
    }
    for (setting, mark, fix) in [
        (Some("explicit"), "✔ bare_repositories", false),
        (None, "! bare_repositories", true),
    ] {
        let home = tempfile::tempdir().unwrap();
        if let Some(value) = setting {
            std::fs::write(
                home.path().join(".gitconfig"),
                format!("[safe]\n\tbareRepository = {value}\n"),
            )
            .unwrap();
        }
        let codex_home = tempfile::tempdir().unwrap();
        let output = Command::new(codex())
            .current_dir(home.path())
            .env("CODEX_HOME", codex_home.path())
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("GIT_CONFIG_GLOBAL")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .args(["sandbox", "doctor"])
            .output()
            .unwrap();
        let report = text(&output.stdout);
        assert!(report.contains(mark), "{setting:?}: {report}");
        assert_eq!(
            report.contains("fix: git config --global safe.bareRepository explicit"),
            fix,
            "{report}"
        );
    }
}

#[test]
fn the_host_unix_sockets_a_default_profile_allows_are_listed() {
    let cwd = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let agent = home.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&agent).unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        "default_permissions = \"p\"\n[permissions.p.filesystem]\n\":root\" = \"read\"\n\
         [permissions.p.network]\nunix_sockets = { \":ssh_agent\" = \"allow\" }\n",
    )
    .unwrap();
    let output = Command::new(codex())
        .current_dir(cwd.path())
        .env("CODEX_HOME", home.path())
        .env("SSH_AUTH_SOCK", &agent)
        .args(["sandbox", "doctor"])
        .output()
        .unwrap();
    let report = text(&output.stdout);
    let line = report
        .lines()
        .find(|line| line.contains("unix_sockets: "))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains(&agent.display().to_string()), "{line}");
    assert!(line.contains("lets the command reach these"), "{line}");
}

/// Docker's default seccomp profile, as far as the sandbox cares, without
/// Docker: `unshare` and `clone` with `CLONE_NEWUSER` get `EPERM`, `clone3`
/// gets `ENOSYS` (so glibc falls back to `clone`). Two filters, since each
/// has one action for what it matches.
fn no_user_namespaces() -> Vec<seccompiler::BpfProgram> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    let arch = TargetArch::try_from(std::env::consts::ARCH).unwrap();
    let new_user = || {
        SeccompRule::new(vec![
            SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(libc::CLONE_NEWUSER as u64),
                libc::CLONE_NEWUSER as u64,
            )
            .unwrap(),
        ])
        .unwrap()
    };
    let namespaces = SeccompFilter::new(
        [
            (libc::SYS_unshare, vec![new_user()]),
            (libc::SYS_clone, vec![new_user()]),
        ]
        .into(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .unwrap();
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, vec![])].into(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .unwrap();
    vec![namespaces.try_into().unwrap(), clone3.try_into().unwrap()]
}

/// `codex` with `args` under [`no_user_namespaces`], in `cwd` with an empty
/// `CODEX_HOME`.
fn without_user_namespaces(cwd: &Path, home: &Path, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let filters = no_user_namespaces();
    let mut command = Command::new(codex());
    command
        .current_dir(cwd)
        .env("CODEX_HOME", home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .args(args);
    // SAFETY: between fork and exec the hook only makes system calls
    // (prctl, seccomp) on filters compiled before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for filter in &filters {
                seccompiler::apply_filter(filter).map_err(std::io::Error::other)?;
            }
            Ok(())
        });
    }
    command.output().unwrap()
}

/// The fast check beside the real containers (tests/containers.rs): where
/// a seccomp filter forbids user namespaces, as Docker's default does, the
/// run is refused (71) with the blocker and the fix, doctor says it cannot
/// run with the same message, and the legacy pipeline still runs the
/// default profile. This host's `/proc` is not masked, so the plain run
/// finds out through bwrap's failure; with `--no-proc` (as where `/proc`
/// is masked) codex asks the kernel itself before bwrap runs, and its line
/// is the only one.
#[test]
fn without_user_namespaces_the_run_and_doctor_agree_and_legacy_runs() {
    let cwd = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let run = without_user_namespaces(cwd.path(), home.path(), &["sandbox", "--", "true"]);
    let message = text(&run.stderr);
    assert_eq!(run.status.code(), Some(71), "{message}");
    let last = message.lines().last().unwrap_or_default();
    assert!(
        last.contains("cannot create the sandbox's namespaces"),
        "{message}"
    );
    let doctor = without_user_namespaces(cwd.path(), home.path(), &["sandbox", "doctor"]);
    let report = text(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{report}");
    let reason = last.trim_start_matches("codex sandbox: ");
    assert!(
        report.contains(&format!(
            "✘ default_start: `codex sandbox -- true` failed: exit 71: {reason}"
        )),
        "{report}\nrun: {message}"
    );
    let early = without_user_namespaces(
        cwd.path(),
        home.path(),
        &["sandbox", "--no-proc", "--", "true"],
    );
    let message = text(&early.stderr);
    assert_eq!(early.status.code(), Some(71), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("(the kernel said: creating a user namespace: Operation not permitted)"),
        "{message}"
    );
    let legacy = without_user_namespaces(
        cwd.path(),
        home.path(),
        &["sandbox", "--enable", "use_legacy_landlock", "--", "true"],
    );
    assert_eq!(legacy.status.code(), Some(0), "{}", text(&legacy.stderr));
}
