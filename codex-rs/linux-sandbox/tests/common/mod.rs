//! Shared harness for the sandbox's integration tests: run a real command
//! under the real helper binary and real bwrap, then check the effect from
//! outside.
#![allow(dead_code, missing_docs, clippy::expect_used, clippy::unwrap_used)]
// A harness that cannot set up its world should panic: that fails the test.

pub mod net;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The helper binary under test (nextest archives remap it at run time).
pub fn helper_bin() -> PathBuf {
    std::env::var_os("NEXTEST_BIN_EXE_codex-linux-sandbox")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_codex-linux-sandbox")))
}

/// Whether this run tests the pipeline without the protected-name guard:
/// with `CODEX_TEST_NO_GUARD=1` every [`World`] command gets
/// `--disable guard_protected_names`, so bwrap installs the seccomp filter
/// itself (`--seccomp`) and the whole suite checks that pipeline the same
/// way as the default, guarded one (`scripts/test.sh` runs it both ways).
pub fn unguarded_pass() -> bool {
    std::env::var_os("CODEX_TEST_NO_GUARD").is_some_and(|v| v == "1")
}

/// Whether this run tests the sandbox without a `/proc` of its own, as in
/// a container that forbids a fresh one (Podman's default): with
/// `CODEX_TEST_NO_PROC=1` every [`World`] command gets `--no-proc`, and the
/// guard's supervisor reads the command's calls through the outer stage's
/// `/proc` (`scripts/test.sh` runs the guard's suites that way too).
pub fn no_proc_pass() -> bool {
    std::env::var_os("CODEX_TEST_NO_PROC").is_some_and(|v| v == "1")
}

/// Whether this run tests the legacy Landlock pipeline, as in Docker's
/// default container: with `CODEX_TEST_LEGACY=1` every [`World`] command
/// gets `--enable use_legacy_landlock`, and the guard's supervisor is
/// `codex` itself, in the command's Landlock domain, with no mount and no
/// namespace (`scripts/test.sh` runs the guard's suites that way too).
/// A command that disables the guard (a test's control) still runs under
/// bwrap, since the legacy pipeline refuses a writable workspace without
/// the guard.
pub fn legacy_pass() -> bool {
    std::env::var_os("CODEX_TEST_LEGACY").is_some_and(|v| v == "1")
}

/// Whether a real bwrap sandbox can run here; prints why not, so a skipped
/// test never passes silently. With `CODEX_REQUIRE_SANDBOX=1` (set by CI,
/// where a sandbox must work) a missing sandbox fails the test instead.
pub fn sandbox_available(test: &str) -> bool {
    let available = probe_sandbox(test);
    if !available && std::env::var_os("CODEX_REQUIRE_SANDBOX").is_some_and(|v| v == "1") {
        panic!("{test}: CODEX_REQUIRE_SANDBOX=1 but no sandbox can run here");
    }
    available
}

fn probe_sandbox(test: &str) -> bool {
    let probe = Command::new("bwrap")
        .args([
            "--unshare-user",
            "--unshare-pid",
            "--unshare-net",
            "--ro-bind",
            "/",
            "/",
            "--",
            "true",
        ])
        .stdin(Stdio::null())
        .output();
    match probe {
        Ok(output) if output.status.success() => true,
        Ok(output) => {
            eprintln!(
                "SKIPPED {test}: bwrap cannot create namespaces here: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            false
        }
        Err(err) => {
            eprintln!("SKIPPED {test}: bwrap not runnable: {err}");
            false
        }
    }
}

/// Skips the calling test (with a printed reason) when no sandbox can run.
#[macro_export]
macro_rules! require_sandbox {
    () => {
        if !$crate::common::sandbox_available(module_path!()) {
            return;
        }
    };
}

/// Skips the calling test in the [no-proc pass](no_proc_pass), printing
/// why it needs the sandbox's own `/proc` (by default: it reads it from
/// inside).
#[macro_export]
macro_rules! require_own_proc {
    () => {
        $crate::require_own_proc!("it reads the sandbox's own /proc from inside")
    };
    ($why:expr) => {
        if $crate::common::no_proc_pass() {
            eprintln!("SKIPPED {} in the no-proc pass: {}", module_path!(), $why);
            return;
        }
    };
}

/// The profile every [`World`] runs by default.
pub const TEST_PROFILE: &str = "test-workspace";

/// The config that makes [`TEST_PROFILE`] the default.
pub const TEST_PROFILE_CONFIG: &str = "default_permissions = \"test-workspace\"\n\
     [permissions.test-workspace.filesystem]\n\":root\" = \"read\"\n\":workspace_roots\" = \"write\"\n";

/// Options that give [`TEST_PROFILE`] the host's network.
pub const NETWORK_ENABLED: &[&str] = &["-c", "permissions.test-workspace.network.enabled=true"];

/// A scratch world: a workspace (a git repository), a directory outside it,
/// and a CODEX_HOME whose config selects [`TEST_PROFILE`]: read everything,
/// write only the workspace (not /tmp or $TMPDIR, where the world lives),
/// so "outside" really is outside.
pub struct World {
    root: tempfile::TempDir,
    pub ws: PathBuf,
    pub outside: PathBuf,
    pub codex_home: PathBuf,
}

impl World {
    pub fn new() -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let base = root.path().canonicalize().expect("canonical tempdir");
        let ws = base.join("ws");
        let outside = base.join("outside");
        let codex_home = base.join("codex-home");
        for dir in [&ws, &outside, &codex_home] {
            std::fs::create_dir(dir).expect("mkdir");
        }
        std::fs::write(codex_home.join("config.toml"), TEST_PROFILE_CONFIG)
            .expect("write config.toml");
        let git = Command::new("git").args(["init", "-q"]).arg(&ws).status();
        if !git.is_ok_and(|status| status.success()) {
            std::fs::create_dir_all(ws.join(".git/hooks")).expect("mkdir .git");
            std::fs::write(ws.join(".git/config"), "[core]\n").expect("write .git/config");
        }
        World {
            root,
            ws,
            outside,
            codex_home,
        }
    }

    /// Writes `config.toml` in this world's CODEX_HOME.
    pub fn config(&self, toml: &str) {
        std::fs::write(self.codex_home.join("config.toml"), toml).expect("write config.toml");
    }

    /// The helper with `-C ws`, this world's CODEX_HOME, `options`, then
    /// `--` and `command` (and `--disable guard_protected_names` in the
    /// [unguarded pass](unguarded_pass)).
    pub fn command<S: AsRef<OsStr>>(&self, options: &[&str], command: &[S]) -> Command {
        self.command_in(&self.ws, options, command)
    }

    /// Like [`World::command`] with `-C cwd`.
    pub fn command_in<S: AsRef<OsStr>>(
        &self,
        cwd: &Path,
        options: &[&str],
        command: &[S],
    ) -> Command {
        let pass: &[&str] = if unguarded_pass() {
            &["--disable", "guard_protected_names"]
        } else {
            &[]
        };
        self.command_with(cwd, &[pass, options].concat(), command)
    }

    /// Like [`World::command`], but with the protected-name guard in every
    /// pass (unless `options` disable it).
    pub fn guarded<S: AsRef<OsStr>>(&self, options: &[&str], command: &[S]) -> Command {
        self.command_with(&self.ws, options, command)
    }

    fn command_with<S: AsRef<OsStr>>(
        &self,
        cwd: &Path,
        options: &[&str],
        command: &[S],
    ) -> Command {
        let mut cmd = Command::new(helper_bin());
        cmd.env("CODEX_HOME", &self.codex_home)
            // The --argv0 answers of this world's bwraps stay in it.
            .env("XDG_CACHE_HOME", self.root.path().join("cache"))
            .arg("-C")
            .arg(cwd);
        if no_proc_pass() && !options.contains(&"--no-proc") {
            cmd.arg("--no-proc");
        }
        // A run without the guard is a control (what gets through without
        // it), which the legacy pipeline refuses: it runs under bwrap.
        let unguarded = options
            .windows(2)
            .any(|pair| pair == ["--disable", "guard_protected_names"]);
        if legacy_pass() && !unguarded {
            cmd.args(["--enable", "use_legacy_landlock"]);
        }
        cmd.args(options)
            .arg("--")
            .args(command)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `command` in the sandbox and waits for it.
    pub fn run<S: AsRef<OsStr>>(&self, options: &[&str], command: &[S]) -> Output {
        self.command(options, command).output().expect("run helper")
    }

    /// Runs a `sh -c` script in the sandbox.
    pub fn sh(&self, options: &[&str], script: &str) -> Output {
        self.run(options, &["sh", "-c", script])
    }
}

/// Text of a path on the host, or `None` if it does not exist.
pub fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A script that leaves a mark (`outside/ran`) if it ever runs.
pub fn marker_script(world: &World) -> (String, PathBuf) {
    let mark = world.outside.join("ran");
    (format!("echo ran >> {}", mark.display()), mark)
}

/// Asserts a refusal: status `code`, a one-line message containing every
/// needle, and no `mark` left by the command.
pub fn assert_refused(output: &Output, mark: &Path, code: i32, needles: &[&str]) {
    assert_code(output, code);
    let message = stderr(output);
    for needle in needles {
        assert!(
            message.contains(needle),
            "expected `{needle}` in: {message}"
        );
    }
    assert_eq!(
        message.trim_end().lines().count(),
        1,
        "not one line: {message}"
    );
    assert!(read(mark).is_none(), "the command ran");
}

/// Panics with the command's output unless it exited with `code`.
pub fn assert_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}
