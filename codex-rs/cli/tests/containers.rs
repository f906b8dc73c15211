//! The release build in real containers: Docker and Podman from Debian's
//! packages, an image made offline with debootstrap
//! (`scripts/container-image.sh`), each runtime in the modes agents use,
//! as root and as uid 1000 inside. In each mode the test knows which
//! pipeline must run and checks from outside the sandbox, through the
//! directories it shares with the container: a write inside the workspace
//! lands, one outside is refused, a nested repository's `.git/config` is
//! unchanged, no new `p/.git/config` appears, a TCP listener in the
//! container (outside the sandbox) sees no connection but the unsandboxed
//! control's, and `doctor`'s verdict matches the run. Where OpenAI Codex
//! 0.171 is installed (`scripts/setup.sh` puts it in `target/tools`), it
//! runs the same write in the same container: wherever it runs, ours must.
//! In every mode, Docker's default too, the legacy pipeline
//! (`--enable use_legacy_landlock`) runs the same attempt with a writable
//! workspace, checked the same way.
//!
//! They need root, the runtimes and the image: `scripts/test.sh` prepares
//! them (`scripts/container-image.sh`, `scripts/container-engines.sh`) and
//! sets `CODEX_CONTAINER_TESTS=1`; without it each test says it is skipped.
//! With it, a runtime that cannot start fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::text;

/// The image `scripts/container-engines.sh` imports into both runtimes.
const IMAGE: &str = "codex-test-debian12";

/// Where the listener in the container listens.
const LISTENER_PORT: u16 = 7777;

/// Which pipeline a mode must run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// bwrap with a `/proc` of the sandbox's own.
    FreshProc,
    /// bwrap without one (the container masks parts of its `/proc`): the
    /// command sees an empty `/proc`, the guard reads codex's.
    NoProc,
    /// No user namespace: refused before bwrap runs, naming the container.
    NoNamespaces,
}

/// A container runtime, as the tests call it.
#[derive(Debug, Clone, Copy)]
enum Runtime {
    Docker,
    Podman,
}

impl Runtime {
    /// `RUNTIME run` with what every test container gets: no network, the
    /// user, the release layout read-only at /opt/codex, the test directory
    /// at /test.
    fn run(
        self,
        uid: u32,
        flags: &[&str],
        dist: &Path,
        reference: Option<&Path>,
        test_dir: &Path,
    ) -> Command {
        let mut command = match self {
            Runtime::Docker => Command::new("docker"),
            Runtime::Podman => {
                let mut podman = Command::new("podman");
                // No systemd here; crun refuses this host, runc works.
                podman.args([
                    "--cgroup-manager=cgroupfs",
                    "--events-backend=file",
                    "--runtime",
                    "runc",
                ]);
                podman
            }
        };
        command.args(["run", "--rm", "--network", "none", "--user"]);
        command.arg(uid.to_string());
        if let Runtime::Podman = self {
            // Podman raises these limits, which needs CAP_SYS_RESOURCE.
            command.args([
                "--ulimit",
                "nofile=20000:20000",
                "--ulimit",
                "nproc=4096:4096",
            ]);
        }
        if let Some(reference) = reference {
            command
                .arg("-v")
                .arg(format!("{}:/opt/reference/codex:ro", reference.display()));
        }
        command
            .args(flags)
            .arg("-v")
            .arg(format!("{}:/opt/codex:ro", dist.display()))
            .arg("-v")
            .arg(format!("{}:/test", test_dir.display()))
            .args([IMAGE, "sh", "/test/check.sh"]);
        command
    }
}

/// Run inside the container: start the listener, connect once unsandboxed
/// (the control), run `doctor`, then the sandboxed attempt; everything it
/// learns goes to files under /test/out.
const CHECK_SCRIPT: &str = r#"set -u
out=/test/out
python3 /test/listener.py &
listener=$!
for _ in $(seq 1 100); do [ -e /tmp/listening ] && break; sleep 0.05; done
python3 /test/connect.py > $out/control.txt 2>&1
/opt/codex/codex sandbox doctor > $out/doctor.txt 2>&1
echo $? > $out/doctor.status
/opt/codex/codex sandbox -P :workspace -C /test/ws -- sh -c '
  echo inside > inside.txt
  echo outside > /test/out/outside.txt
  echo hooked >> sub/.git/config
  mkdir -p p/.git && echo x > p/.git/config
  python3 /test/connect.py
  ls -A /proc | wc -l > proc-entries
' > $out/run.stdout 2> $out/run.stderr
echo $? > $out/run.status
/opt/codex/codex sandbox --enable use_legacy_landlock -P :workspace -C /test/ws-legacy -- sh -c '
  echo inside > inside.txt
  echo outside > /test/out/legacy-outside.txt
  echo hooked >> sub/.git/config
  mkdir -p p/.git && echo x > p/.git/config
  python3 /test/connect.py
  cat /proc/$PPID/comm
' > $out/legacy.stdout 2> $out/legacy.stderr
echo $? > $out/legacy.status
if [ -x /opt/reference/codex ]; then
  /opt/reference/codex sandbox -P :workspace -C /test/ws-reference -- sh -c 'echo inside > inside.txt' \
    > $out/reference.stdout 2> $out/reference.stderr
  echo $? > $out/reference.status
fi
kill $listener
"#;

/// Counts the connections that reach it, in /test/out/connections.
const LISTENER: &str = r#"import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', PORT))
s.listen(16)
open('/tmp/listening', 'w').close()
while True:
    c, _ = s.accept()
    with open('/test/out/connections', 'a') as f:
        f.write('x\n')
    c.close()
"#;

/// Connects once to the listener and says whether it could.
const CONNECT: &str = r#"import socket
try:
    socket.create_connection(('127.0.0.1', PORT), timeout=2).close()
    print('connected')
except OSError as err:
    print('not connected:', err)
"#;

/// The release layout the containers run (`CODEX_DIST_DIR` or
/// target/dist).
fn dist_dir() -> PathBuf {
    std::env::var_os("CODEX_DIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dist"))
}

/// OpenAI Codex 0.171 as the npm package installs it (`CODEX_REFERENCE_CODEX`
/// names another binary); required in CI (`CODEX_REQUIRE_SANDBOX=1`).
fn reference_codex(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("CODEX_REFERENCE_CODEX").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(
                "../../target/tools/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex",
            )
        },
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    assert!(
        !common::required(),
        "{test}: OpenAI Codex is not installed at {}; scripts/setup.sh installs it",
        path.display()
    );
    eprintln!(
        "{test}: OpenAI Codex is not installed at {}: not compared",
        path.display()
    );
    None
}

/// Whether this run tests containers; says so when it does not.
fn containers_asked(test: &str) -> bool {
    if std::env::var_os("CODEX_CONTAINER_TESTS").is_some_and(|v| v == "1") {
        return true;
    }
    eprintln!(
        "SKIPPED {test}: the container tests run as root from scripts/test.sh, which prepares the \
         runtimes and the image and sets CODEX_CONTAINER_TESTS=1"
    );
    false
}

/// The test directory shared with the container: the scripts, a
/// workspace holding a nested repository, and the output directory, all
/// writable by uid 1000 too.
fn test_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("codex-container-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let root = dir.path();
    let port = LISTENER_PORT.to_string();
    std::fs::write(root.join("check.sh"), CHECK_SCRIPT).unwrap();
    std::fs::write(root.join("listener.py"), LISTENER.replace("PORT", &port)).unwrap();
    std::fs::write(root.join("connect.py"), CONNECT.replace("PORT", &port)).unwrap();
    for sub in ["ws", "ws-legacy", "ws-reference", "out"] {
        std::fs::create_dir(root.join(sub)).unwrap();
    }
    for ws in ["ws", "ws-legacy"] {
        let git = Command::new("git")
            .args(["init", "-q"])
            .arg(root.join(ws).join("sub"))
            .status()
            .unwrap();
        assert!(git.success());
    }
    open_up(root);
    dir
}

/// Makes everything below `dir` writable by any user (uid 1000 inside the
/// container writes there).
fn open_up(dir: &Path) {
    let mode = if dir.is_dir() { 0o777 } else { 0o666 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap() {
            open_up(&entry.unwrap().path());
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Runs the check in `runtime` with `flags`, as root and as uid 1000, and
/// checks every effect from outside against `expect`.
fn check_mode(test: &str, runtime: Runtime, flags: &[&str], expect: Expect) {
    if !containers_asked(test) {
        return;
    }
    let dist = dist_dir();
    assert!(
        dist.join("codex").is_file(),
        "{test}: no release layout at {}; run `just release`",
        dist.display()
    );
    let reference = reference_codex(test);
    for uid in [0, 1000] {
        let dir = test_dir();
        let root = dir.path();
        let config_before = read(&root.join("ws/sub/.git/config"));
        let container = runtime
            .run(uid, flags, &dist, reference.as_deref(), root)
            .output()
            .unwrap();
        let what = format!("{runtime:?} {flags:?} uid {uid}");
        let out = root.join("out");
        let ws = root.join("ws");
        let run_stderr = read(&out.join("run.stderr"));
        let report = format!(
            "{what}: container: {} {}\nrun status {} stdout:\n{}\nstderr:\n{run_stderr}\ndoctor:\n{}",
            text(&container.stdout),
            text(&container.stderr),
            read(&out.join("run.status")).trim(),
            read(&out.join("run.stdout")),
            read(&out.join("doctor.txt"))
        );
        assert!(container.status.success(), "{report}");
        // The control reached the listener: the container's loopback works.
        assert_eq!(
            read(&out.join("control.txt")).trim(),
            "connected",
            "{report}"
        );
        // Whatever ran, nothing escaped.
        assert!(!out.join("outside.txt").exists(), "{report}");
        assert_eq!(
            read(&root.join("ws/sub/.git/config")),
            config_before,
            "{report}"
        );
        assert!(!ws.join("p/.git/config").exists(), "{report}");
        assert!(!ws.join("p/.git").exists(), "{report}");
        assert_eq!(
            read(&out.join("connections")),
            "x\n",
            "only the control connected: {report}"
        );
        check_legacy(&what, root);
        let run_status = read(&out.join("run.status")).trim().to_owned();
        let doctor_status = read(&out.join("doctor.status")).trim().to_owned();
        if reference.is_some() {
            let codex_status = read(&out.join("reference.status")).trim().to_owned();
            let codex_ran =
                codex_status == "0" && read(&root.join("ws-reference/inside.txt")) == "inside\n";
            eprintln!(
                "{what}: OpenAI Codex 0.171 {}, ours {run_status}",
                if codex_ran { "runs" } else { "refuses" }
            );
            assert!(
                !codex_ran || run_status == "0",
                "Codex runs here, so must we: {report}\nCodex: {}",
                read(&out.join("reference.stderr"))
            );
        }
        match expect {
            Expect::FreshProc | Expect::NoProc => {
                assert_eq!(run_status, "0", "{report}");
                assert_eq!(read(&ws.join("inside.txt")), "inside\n", "{report}");
                assert!(
                    run_stderr.contains("refused to create .git")
                        || run_stderr.contains("refused to create p/.git"),
                    "{report}"
                );
                let entries: u32 = read(&ws.join("proc-entries")).trim().parse().unwrap();
                assert_eq!(entries == 0, expect == Expect::NoProc, "{report}");
                assert_eq!(
                    run_stderr.matches("fresh /proc").count(),
                    usize::from(expect == Expect::NoProc),
                    "the missing /proc is said once: {report}"
                );
                assert_eq!(
                    doctor_status, "0",
                    "doctor must agree with the run: {report}"
                );
            }
            Expect::NoNamespaces => {
                assert_eq!(run_status, "71", "{report}");
                assert!(!ws.join("inside.txt").exists(), "{report}");
                let first = run_stderr.lines().next().unwrap_or_default();
                assert!(
                    first.contains("cannot create the sandbox's namespaces")
                        && first.contains("container")
                        && first.contains("seccomp=unconfined"),
                    "the first line names the blocker and the fix: {report}"
                );
                assert_eq!(
                    doctor_status, "1",
                    "doctor must agree with the run: {report}"
                );
            }
        }
    }
}

/// The legacy pipeline (`--enable use_legacy_landlock`) runs `:workspace`
/// in every mode, Docker's default included, where nothing else gives a
/// writable workspace: Landlock and seccomp user notification need no
/// namespace. Its effects, checked from outside: the write inside lands,
/// the one outside does not, the nested repository is unchanged, no
/// `p/.git` is made, the listener sees no connection of its, and the
/// command's parent is codex, its supervisor.
fn check_legacy(what: &str, root: &Path) {
    let out = root.join("out");
    let ws = root.join("ws-legacy");
    let report = format!(
        "{what}, legacy pipeline: status {} stdout:\n{}\nstderr:\n{}",
        read(&out.join("legacy.status")).trim(),
        read(&out.join("legacy.stdout")),
        read(&out.join("legacy.stderr"))
    );
    assert_eq!(read(&out.join("legacy.status")).trim(), "0", "{report}");
    assert_eq!(read(&ws.join("inside.txt")), "inside\n", "{report}");
    assert!(!out.join("legacy-outside.txt").exists(), "{report}");
    assert!(
        !read(&ws.join("sub/.git/config")).contains("hooked"),
        "{report}"
    );
    assert!(!ws.join("p/.git").exists(), "{report}");
    let stdout = read(&out.join("legacy.stdout"));
    assert!(stdout.starts_with("not connected"), "{report}");
    assert!(
        stdout.ends_with("codex\n"),
        "the supervisor is codex: {report}"
    );
}

/// The nearest to `--privileged` on a machine whose capability bounding
/// set lacks `CAP_SYS_RESOURCE` (which `--privileged` needs): every other
/// capability, no seccomp filter, no masked paths, and `security_module`
/// (Docker's AppArmor, Podman's SELinux labels) off.
fn privileged(security_module: &'static str) -> [&'static str; 10] {
    [
        "--cap-add",
        "ALL",
        "--cap-drop",
        "SYS_RESOURCE",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        security_module,
        "--security-opt",
        "systempaths=unconfined",
    ]
}

#[test]
fn docker_default_refuses_naming_the_container_and_its_fix() {
    check_mode("docker_default", Runtime::Docker, &[], Expect::NoNamespaces);
}

#[test]
fn docker_without_seccomp_runs_without_a_proc_of_its_own() {
    check_mode(
        "docker_seccomp_unconfined",
        Runtime::Docker,
        &["--security-opt", "seccomp=unconfined"],
        Expect::NoProc,
    );
}

#[test]
fn docker_with_system_paths_unconfined_runs_with_a_fresh_proc() {
    check_mode(
        "docker_systempaths_unconfined",
        Runtime::Docker,
        &[
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "systempaths=unconfined",
        ],
        Expect::FreshProc,
    );
}

#[test]
fn docker_privileged_runs_with_a_fresh_proc() {
    check_mode(
        "docker_privileged",
        Runtime::Docker,
        &privileged("apparmor=unconfined"),
        Expect::FreshProc,
    );
}

#[test]
fn podman_default_runs_without_a_proc_of_its_own() {
    check_mode("podman_default", Runtime::Podman, &[], Expect::NoProc);
}

#[test]
fn podman_without_seccomp_runs_without_a_proc_of_its_own() {
    check_mode(
        "podman_seccomp_unconfined",
        Runtime::Podman,
        &["--security-opt", "seccomp=unconfined"],
        Expect::NoProc,
    );
}

#[test]
fn podman_with_system_paths_unconfined_runs_with_a_fresh_proc() {
    check_mode(
        "podman_systempaths_unconfined",
        Runtime::Podman,
        &["--security-opt", "systempaths=unconfined"],
        Expect::FreshProc,
    );
}

#[test]
fn podman_privileged_runs_with_a_fresh_proc() {
    check_mode(
        "podman_privileged",
        Runtime::Podman,
        &privileged("label=disable"),
        Expect::FreshProc,
    );
}
