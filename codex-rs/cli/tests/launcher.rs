//! Which bwrap `codex sandbox` runs, checked end to end on the release
//! layout (`target/dist`, built by `just release` with the bundled bwrap's
//! digest compiled in) and on the development binary:
//!
//! - the system bwrap when one is on PATH outside the writable roots;
//! - a bwrap planted in the workspace is passed over;
//! - no system bwrap: the bundled one runs the command, with a warning;
//! - a bundled bwrap with one changed byte is refused and nothing runs;
//! - no bwrap anywhere is refused and nothing runs;
//! - the inner stage (`--enable inner_stage`) is named with `--argv0` where
//!   bwrap has it, and runs without it (with a warning) where bwrap is older
//!   than 0.9: both checked with fake bwraps that log their arguments and
//!   hand over to the bundled bwrap.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use common::{TEST_PROFILE_CONFIG, codex, namespaces_work, release_layout, required, text};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

/// A workspace, a directory outside it and a CODEX_HOME that keeps /tmp
/// out of the profile.
struct World {
    _root: tempfile::TempDir,
    base: PathBuf,
    ws: PathBuf,
    outside: PathBuf,
    home: PathBuf,
}

impl World {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().canonicalize().unwrap();
        let (ws, outside, home) = (base.join("ws"), base.join("outside"), base.join("home"));
        for dir in [&ws, &outside, &home] {
            std::fs::create_dir(dir).unwrap();
        }
        std::fs::write(home.join("config.toml"), TEST_PROFILE_CONFIG).unwrap();
        World {
            _root: root,
            base,
            ws,
            outside,
            home,
        }
    }

    /// `codex sandbox -C ws [options] -- /bin/sh -c script` with `path` as
    /// PATH (the command is named by its full path, so PATH only decides
    /// which bwrap is found).
    fn sandbox(&self, codex: &Path, path: &str, options: &[&str], script: &str) -> Output {
        Command::new(codex)
            .env("CODEX_HOME", &self.home)
            .env("XDG_CACHE_HOME", self.base.join("cache"))
            .env("PATH", path)
            .arg("sandbox")
            .current_dir(&self.ws)
            .args(options)
            .args(["--", "/bin/sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// A script that writes `ws/in` and tries `outside/out`.
    fn write_script(&self) -> String {
        format!(
            "echo in > {}; echo out > {} || true",
            self.ws.join("in").display(),
            self.outside.join("out").display()
        )
    }

    fn assert_sandboxed_run(&self, output: &Output) {
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert_eq!(std::fs::read_to_string(self.ws.join("in")).unwrap(), "in\n");
        assert!(
            !self.outside.join("out").exists(),
            "a write escaped the sandbox"
        );
    }
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Asserts status 72 (no usable bwrap), a one-line message holding every
/// needle, and no `mark` left by the command.
fn assert_refused_no_bwrap(output: &Output, mark: &Path, needles: &[&str]) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(72), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` missing: {stderr}");
    }
    assert!(!mark.exists(), "the command ran");
}

/// A fake `bwrap` at `path` that leaves `mark` if it is ever run.
fn plant_bwrap(path: &Path, mark: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        format!("#!/bin/sh\necho planted > {}\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_system_bwrap_is_chosen_when_one_is_on_path() {
    let world = World::new();
    let Some(system) = ["/usr/bin/bwrap", "/usr/local/bin/bwrap"]
        .iter()
        .map(Path::new)
        .find(|path| path.is_file())
    else {
        assert!(!required(), "CI installs bubblewrap");
        eprintln!("SKIPPED the_system_bwrap_is_chosen: no system bwrap installed");
        return;
    };
    let path = system.parent().unwrap().to_str().unwrap().to_owned();
    let explain = world.sandbox(&codex(), &path, &["--explain"], "true");
    assert!(
        text(&explain.stdout).contains(&format!("bwrap: system {}\n", system.display())),
        "{}",
        text(&explain.stdout)
    );
    if !namespaces_work("the_system_bwrap_is_chosen", system) {
        return;
    }
    let output = world.sandbox(&codex(), &path, &[], &world.write_script());
    world.assert_sandboxed_run(&output);
    // Only a system bwrap older than 0.9 warns, about --argv0.
    assert!(
        text(&output.stderr)
            .lines()
            .all(|line| !line.contains("warning") || line.contains("too old for --argv0")),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_bwrap_planted_in_the_workspace_is_passed_over() {
    let world = World::new();
    let mark = world.outside.join("planted-ran");
    plant_bwrap(&world.ws.join("bin/bwrap"), &mark);
    let path = format!("{}:/usr/local/bin:/usr/bin", world.ws.join("bin").display());
    let explain = world.sandbox(&codex(), &path, &["--explain"], "true");
    let explain = text(&explain.stdout);
    assert!(explain.contains("bwrap: system /usr/"), "{explain}");
    assert!(
        !explain.contains(&world.ws.join("bin").display().to_string()),
        "{explain}"
    );
    if !namespaces_work("a_bwrap_planted_in_the_workspace", Path::new("bwrap")) {
        return;
    }
    let output = world.sandbox(&codex(), &path, &[], &world.write_script());
    world.assert_sandboxed_run(&output);
    assert!(!mark.exists(), "the planted bwrap ran");
}

#[test]
fn without_a_system_bwrap_the_bundled_one_runs_the_command_with_one_notice() {
    let world = World::new();
    let Some(layout) = release_layout("the_bundled_bwrap_runs", &world.base) else {
        return;
    };
    let bundled = layout.join("codex-resources/bwrap");
    let explain = world.sandbox(
        &layout.join("codex"),
        "/nonexistent",
        &["--explain"],
        "true",
    );
    let explain = text(&explain.stdout);
    assert!(
        explain.contains(&format!(
            "bwrap: bundled {} (SHA-256 {}, verified against the digest compiled into this release)",
            bundled.display(),
            sha256_hex(&bundled)
        )),
        "{explain}"
    );
    if !namespaces_work("the_bundled_bwrap_runs", &bundled) {
        return;
    }
    let output = world.sandbox(
        &layout.join("codex"),
        "/nonexistent",
        &[],
        &world.write_script(),
    );
    world.assert_sandboxed_run(&output);
    std::fs::remove_file(world.ws.join("in")).unwrap();
    let inner_stage = world.sandbox(
        &layout.join("codex"),
        "/nonexistent",
        &["--enable", "inner_stage"],
        &format!(
            "/bin/grep -q '^Seccomp:.2' /proc/self/status && {}",
            world.write_script()
        ),
    );
    world.assert_sandboxed_run(&inner_stage);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: no bwrap on PATH (outside the writable roots); using the bundled {}",
            bundled.display()
        )),
        "{stderr}"
    );
    // A bwrap planted in the workspace does not count as a system one.
    let mark = world.outside.join("planted-ran");
    plant_bwrap(&world.ws.join("bin/bwrap"), &mark);
    let planted_path = world.ws.join("bin").display().to_string();
    let output = world.sandbox(&layout.join("codex"), &planted_path, &[], "true");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // The bundled bwrap ran again; its notice was said on the first run.
    assert_eq!(text(&output.stderr), "", "said once per host and version");
    assert!(!mark.exists(), "the planted bwrap ran");
}

#[test]
fn a_bundled_bwrap_with_one_changed_byte_is_refused_and_nothing_runs() {
    let world = World::new();
    let Some(layout) = release_layout("a_changed_bundled_bwrap_is_refused", &world.base) else {
        return;
    };
    let bundled = layout.join("codex-resources/bwrap");
    let expected = sha256_hex(&bundled);
    let mut bytes = std::fs::read(&bundled).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&bundled, &bytes).unwrap();
    let actual = sha256_hex(&bundled);
    let mark = world.outside.join("ran");
    let output = world.sandbox(
        &layout.join("codex"),
        "/nonexistent",
        &[],
        &format!("echo ran > {}", mark.display()),
    );
    let bundled = bundled.display().to_string();
    assert_refused_no_bwrap(
        &output,
        &mark,
        &[&expected, &actual, &bundled, "has been modified"],
    );
}

#[test]
fn no_bwrap_anywhere_is_refused_and_nothing_runs() {
    let world = World::new();
    let Some(layout) = release_layout("no_bwrap_anywhere", &world.base) else {
        return;
    };
    std::fs::remove_dir_all(layout.join("codex-resources")).unwrap();
    let mark = world.outside.join("ran");
    let output = world.sandbox(
        &layout.join("codex"),
        "/nonexistent",
        &[],
        &format!("echo ran > {}", mark.display()),
    );
    let bundled = layout.join("codex-resources/bwrap").display().to_string();
    assert_refused_no_bwrap(&output, &mark, &["not found on PATH", &bundled]);
}

/// A fake `bwrap` in `dir` that logs each run's arguments as one line in
/// `dir/log`, refuses `--argv0` as bubblewrap before 0.9 does when `old`,
/// and otherwise hands over to `real`.
fn fake_bwrap(dir: &Path, real: &Path, old: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.join("log");
    let refuse_argv0 = if old {
        "for arg in \"$@\"; do\n  if [ \"$arg\" = --argv0 ]; then\n    echo 'bwrap: Unknown option --argv0' >&2\n    exit 1\n  fi\ndone\n"
    } else {
        ""
    };
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\n{refuse_argv0}exec {} \"$@\"\n",
        log.display(),
        real.display()
    );
    let path = dir.join("bwrap");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

/// The logged bwrap run that started the inner stage.
fn inner_stage_run(log: &Path) -> String {
    let log = std::fs::read_to_string(log).unwrap();
    log.lines()
        .find(|line| line.contains("--codex-inner-stage"))
        .unwrap_or_else(|| panic!("no inner-stage run in the log: {log}"))
        .to_owned()
}

#[test]
fn a_bwrap_with_argv0_names_the_inner_stage() {
    let world = World::new();
    let Some(layout) = release_layout("a_bwrap_with_argv0", &world.base) else {
        return;
    };
    let real = layout.join("codex-resources/bwrap");
    if !namespaces_work("a_bwrap_with_argv0", &real) {
        return;
    }
    let fake = world.base.join("fakebin");
    let log = fake_bwrap(&fake, &real, false);
    let path = fake.display().to_string();
    let output = world.sandbox(
        &codex(),
        &path,
        &["--enable", "inner_stage"],
        &world.write_script(),
    );
    world.assert_sandboxed_run(&output);
    assert!(
        !text(&output.stderr).contains("warning"),
        "{}",
        text(&output.stderr)
    );
    let run = inner_stage_run(&log);
    assert!(
        run.contains(" --argv0 codex-linux-sandbox --as-pid-1 -- /proc/self/fd/"),
        "{run}"
    );
}

#[test]
fn a_bwrap_without_argv0_still_runs_the_inner_stage_with_one_notice() {
    let world = World::new();
    let Some(layout) = release_layout("a_bwrap_without_argv0", &world.base) else {
        return;
    };
    let real = layout.join("codex-resources/bwrap");
    if !namespaces_work("a_bwrap_without_argv0", &real) {
        return;
    }
    let fake = world.base.join("fakebin");
    let log = fake_bwrap(&fake, &real, true);
    let path = fake.display().to_string();
    let codex = codex().canonicalize().unwrap();
    let mut first = true;
    for (options, program) in [
        (
            &["--enable", "inner_stage"][..],
            "/proc/self/fd/".to_owned(),
        ),
        (
            &[
                "--enable",
                "inner_stage",
                "--disable",
                "guard_protected_names",
                "--no-proc",
            ][..],
            format!("{} ", codex.display()),
        ),
    ] {
        std::fs::remove_file(world.ws.join("in")).ok();
        std::fs::remove_file(&log).ok();
        let output = world.sandbox(&codex, &path, options, &world.write_script());
        world.assert_sandboxed_run(&output);
        let stderr = text(&output.stderr);
        // A notice: said on the first run of this host and version only.
        assert_eq!(
            stderr.matches("warning:").count(),
            usize::from(first),
            "{stderr}"
        );
        assert!(
            !first
                || stderr.contains(&format!(
                    "warning: {} is too old for --argv0 (bubblewrap 0.9 or later has it)",
                    fake.join("bwrap").display()
                )),
            "{stderr}"
        );
        let run = inner_stage_run(&log);
        assert!(!run.contains("--argv0"), "{run}");
        // Asked on the first run only; the answer is kept for the next.
        let probes = std::fs::read_to_string(&log)
            .unwrap()
            .matches("--argv0 codex-probe")
            .count();
        assert_eq!(probes, usize::from(first), "{options:?}");
        first = false;
        assert!(
            run.contains(&format!(" -- {program}")),
            "{options:?}: {run}"
        );
    }
}

/// The tarball `just release-local` packages (as release.yml does),
/// checked against its SHA256SUMS and unpacked into `into`; returns the
/// unpacked directory. `None` (with a printed reason) when it has not been
/// built; CI fails instead.
fn unpacked_release(into: &Path) -> Option<PathBuf> {
    let dir = std::env::var_os("CODEX_RELEASE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release-local")
        });
    let Ok(sums) = std::fs::read_to_string(dir.join("SHA256SUMS")) else {
        let reason = format!(
            "no packaged release in {}; run `just release-local`",
            dir.display()
        );
        assert!(!required(), "{reason}");
        eprintln!("SKIPPED the packaged release test: {reason}");
        return None;
    };
    let (digest, name) = sums.trim().split_once("  ").unwrap();
    let tarball = dir.join(name);
    assert_eq!(
        sha256_hex(&tarball),
        digest,
        "SHA256SUMS does not match {name}"
    );
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success());
    Some(into.join(name.trim_end_matches(".tar.gz")))
}

#[test]
fn the_packaged_release_runs_with_its_bundled_bwrap_and_refuses_a_changed_one() {
    let world = World::new();
    let Some(release) = unpacked_release(&world.base) else {
        return;
    };
    let bundled = release.join("codex-resources/bwrap");
    if !namespaces_work("the_packaged_release", &bundled) {
        return;
    }
    // A PATH with no bwrap at all: only the bundled one can run.
    let empty = world.base.join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let path = empty.to_str().unwrap();
    let output = world.sandbox(&release.join("codex"), path, &[], &world.write_script());
    world.assert_sandboxed_run(&output);
    assert!(
        text(&output.stderr).contains("using the bundled"),
        "{}",
        text(&output.stderr)
    );

    let mut bytes = std::fs::read(&bundled).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&bundled, bytes).unwrap();
    let mark = world.outside.join("ran");
    let output = world.sandbox(
        &release.join("codex"),
        path,
        &[],
        &format!("echo ran > {}", mark.display()),
    );
    assert_refused_no_bwrap(&output, &mark, &["has been modified", "expected SHA-256"]);
}
