//! The fail-closed matrix: every way the sandbox can be unable to do what
//! it was asked, in one table. Each case must end with its documented
//! status, one line naming the reason, and no trace of the command (a
//! marker file it would have written). Cases that need something this host
//! lacks (a sandbox, the release layout, Landlock) print `SKIPPED`; CI
//! (`CODEX_REQUIRE_SANDBOX=1`) fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use common::{codex, namespaces_work, release_layout, required};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A case's scratch directory: a workspace, an outside directory (where
/// the marker goes), a CODEX_HOME keeping /tmp out of the profile, and a
/// bin directory for fake tools.
struct Scene {
    _root: tempfile::TempDir,
    ws: PathBuf,
    home: PathBuf,
    bin: PathBuf,
    mark: PathBuf,
}

/// The profile every case runs under unless it chooses another:
/// the workspace writable, /tmp (where the scene lives) not.
const BASE_PROFILE: &str = "[permissions.test-workspace.filesystem]\n\
     \":root\" = \"read\"\n\":workspace_roots\" = \"write\"\n";

/// The base configuration: [`BASE_PROFILE`], and chosen by default.
const BASE_CONFIG: &str = "default_permissions = \"test-workspace\"\n";

impl Scene {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().canonicalize().unwrap();
        let (ws, home, bin, outside) = (
            base.join("ws"),
            base.join("home"),
            base.join("bin"),
            base.join("outside"),
        );
        for dir in [&ws, &home, &bin, &outside] {
            std::fs::create_dir(dir).unwrap();
        }
        std::fs::write(
            home.join("config.toml"),
            format!("{BASE_CONFIG}{BASE_PROFILE}"),
        )
        .unwrap();
        Scene {
            _root: root,
            ws,
            home,
            bin,
            mark: outside.join("ran"),
        }
    }

    fn config(&self, extra: &str) {
        // Top-level keys of `extra` must come before any table, and its
        // own default_permissions wins.
        let default = if extra.contains("default_permissions") {
            ""
        } else {
            BASE_CONFIG
        };
        std::fs::write(
            self.home.join("config.toml"),
            format!("{default}{extra}\n{BASE_PROFILE}"),
        )
        .unwrap();
    }

    fn tool(&self, name: &str, script: &str) {
        let path = self.bin.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `codex sandbox -C ws OPTIONS -- sh -c 'echo ran > mark'` with
    /// `path` as PATH and no proxy variable.
    fn command(&self, codex: &Path, path: &str, options: &[&str]) -> Command {
        let mut command = Command::new(codex);
        command
            .env("CODEX_HOME", &self.home)
            .env("PATH", path)
            .arg("sandbox")
            .current_dir(&self.ws)
            .args(options)
            .args(["--", "/bin/sh", "-c"])
            .arg(format!("echo ran > {}", self.mark.display()))
            .stdin(Stdio::null());
        for name in codex_sandboxing::proxy::PROXY_VARIABLES {
            command.env_remove(name);
        }
        command
    }
}

const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What a case needs beyond the `codex` binary.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    Sandbox,
    Release,
}

/// One row: a name, what it needs, how to run it, and what the refusal
/// must be.
struct Case {
    name: &'static str,
    needs: Needs,
    run: fn(&Scene) -> Output,
    status: i32,
    says: &'static [&'static str],
}

const PROXY_PROFILE: &str = "[permissions.p.filesystem]\n\":root\" = \"read\"\n[permissions.p.network]\nenabled = true\nenvironment_proxy = true\n";
const GLOB_PROFILE: &str = "[permissions.g.filesystem]\n\":root\" = \"read\"\n\
     [permissions.g.filesystem.\":workspace_roots\"]\n\".\" = \"write\"\n\"**/*.env\" = \"none\"\n";

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "malformed config",
            needs: Needs::Nothing,
            run: |s| {
                s.config("default_permissions = \n");
                s.command(&codex(), SYSTEM_PATH, &[]).output().unwrap()
            },
            status: 78,
            says: &["config.toml:"],
        },
        Case {
            name: "a key read here with a value it cannot read",
            needs: Needs::Nothing,
            run: |s| {
                s.config("default_permissions = 3\n");
                s.command(&codex(), SYSTEM_PATH, &[]).output().unwrap()
            },
            status: 78,
            says: &["config.toml:1:", "expected a string"],
        },
        Case {
            name: "unknown profile",
            needs: Needs::Nothing,
            run: |s| {
                s.command(&codex(), SYSTEM_PATH, &["-P", "nope"])
                    .output()
                    .unwrap()
            },
            status: 78,
            says: &["unknown profile `nope`"],
        },
        Case {
            name: "legacy profile id",
            needs: Needs::Nothing,
            run: |s| {
                s.command(&codex(), SYSTEM_PATH, &["-P", ":danger-no-sandbox"])
                    .output()
                    .unwrap()
            },
            status: 78,
            says: &[":danger-full-access"],
        },
        Case {
            name: "relative rule path",
            needs: Needs::Nothing,
            run: |s| {
                s.config(
                    "[permissions.p.filesystem]\n\":root\" = \"read\"\n\"rel/dir\" = \"none\"\n",
                );
                s.command(&codex(), SYSTEM_PATH, &["-P", "p"])
                    .output()
                    .unwrap()
            },
            status: 78,
            says: &["rel/dir", "absolute path"],
        },
        Case {
            name: "WSL1",
            needs: Needs::Sandbox,
            run: |s| {
                let fake = s.bin.join("proc-version");
                std::fs::write(
                    &fake,
                    "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) #1237-Microsoft\n",
                )
                .unwrap();
                let inner = s.command(&codex(), SYSTEM_PATH, &[]);
                Command::new("bwrap")
                    .args(["--dev-bind", "/", "/", "--ro-bind"])
                    .arg(&fake)
                    .args(["/proc/version", "--"])
                    .arg(inner.get_program())
                    .args(inner.get_args())
                    .env("CODEX_HOME", &s.home)
                    .env("PATH", SYSTEM_PATH)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap()
            },
            status: 69,
            says: &["WSL1", "wsl --set-version"],
        },
        Case {
            name: "no bwrap at all",
            needs: Needs::Nothing,
            run: |s| {
                // The development binary has no bundled bwrap beside it.
                let path = s.bin.to_str().unwrap().to_owned();
                s.command(&codex(), &path, &[]).output().unwrap()
            },
            status: 72,
            says: &["bwrap (bubblewrap) not found", "install bubblewrap"],
        },
        Case {
            name: "tampered bundled bwrap",
            needs: Needs::Release,
            run: |s| {
                let layout = release_layout("tampered bundled bwrap", &s.bin).unwrap();
                let bundled = layout.join("codex-resources/bwrap");
                let mut bytes = std::fs::read(&bundled).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x80;
                std::fs::write(&bundled, bytes).unwrap();
                let empty = s.bin.join("empty");
                std::fs::create_dir(&empty).unwrap();
                s.command(&layout.join("codex"), empty.to_str().unwrap(), &[])
                    .output()
                    .unwrap()
            },
            status: 72,
            says: &["has been modified", "expected SHA-256"],
        },
        Case {
            name: "bwrap that cannot create namespaces",
            needs: Needs::Nothing,
            run: |s| {
                s.tool(
                    "bwrap",
                    "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n",
                );
                let path = format!("{}:{SYSTEM_PATH}", s.bin.display());
                let output = s.command(&codex(), &path, &[]).output().unwrap();
                // bwrap's own message comes first; ours is the last line.
                Output {
                    stderr: last_line(&output.stderr),
                    ..output
                }
            },
            status: 71,
            says: &["cannot create the sandbox's namespaces", "to fix it"],
        },
        Case {
            name: "proxy mode, no proxy variable",
            needs: Needs::Nothing,
            run: |s| {
                s.config(PROXY_PROFILE);
                s.command(&codex(), SYSTEM_PATH, &["-P", "p"])
                    .output()
                    .unwrap()
            },
            status: 78,
            says: &["none of HTTP_PROXY"],
        },
        Case {
            name: "proxy mode, malformed variable",
            needs: Needs::Nothing,
            run: |s| {
                s.config(PROXY_PROFILE);
                s.command(&codex(), SYSTEM_PATH, &["-P", "p"])
                    .env("HTTPS_PROXY", "http://127.0.0.1")
                    .output()
                    .unwrap()
            },
            status: 78,
            says: &["HTTPS_PROXY=\"http://127.0.0.1\"", "no port"],
        },
        Case {
            name: "proxy mode, non-loopback variable",
            needs: Needs::Nothing,
            run: |s| {
                s.config(PROXY_PROFILE);
                s.command(&codex(), SYSTEM_PATH, &["-P", "p"])
                    .env("http_proxy", "http://10.1.2.3:3128")
                    .output()
                    .unwrap()
            },
            status: 78,
            says: &[
                "http_proxy=\"http://10.1.2.3:3128\"",
                "not a loopback address",
            ],
        },
        Case {
            // Without the guard nothing keeps the workspace's protected
            // names read-only.
            name: "a Landlock policy it cannot express",
            needs: Needs::Nothing,
            run: |s| {
                s.command(
                    &codex(),
                    SYSTEM_PATH,
                    &[
                        "--enable",
                        "use_legacy_landlock",
                        "--disable",
                        "guard_protected_names",
                    ],
                )
                .output()
                .unwrap()
            },
            status: 78,
            says: &["use_legacy_landlock cannot enforce", "bubblewrap pipeline"],
        },
        Case {
            name: "too many glob matches",
            needs: Needs::Sandbox,
            run: |s| {
                s.config(&format!("default_permissions = \"g\"\n{GLOB_PROFILE}"));
                let dir = s.ws.join("many");
                std::fs::create_dir(&dir).unwrap();
                for index in 0..300 {
                    std::fs::write(dir.join(format!("{index}.env")), "S").unwrap();
                }
                s.command(&codex(), SYSTEM_PATH, &[]).output().unwrap()
            },
            status: 78,
            says: &["mounts", "**/*.env"],
        },
    ]
}

fn last_line(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(bytes)
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .as_bytes()
        .to_vec()
}

#[test]
fn every_impossible_request_is_refused_with_one_line_and_nothing_runs() {
    let sandbox = namespaces_work("fail_closed_matrix", Path::new("bwrap"));
    let release =
        release_layout("fail_closed_matrix", tempfile::tempdir().unwrap().path()).is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let available = match case.needs {
            Needs::Nothing => true,
            Needs::Sandbox => sandbox,
            Needs::Release => release && sandbox,
        };
        if !available {
            assert!(
                !required(),
                "{}: its prerequisite is missing in CI",
                case.name
            );
            eprintln!(
                "SKIPPED {}: needs a working sandbox or the release layout",
                case.name
            );
            continue;
        }
        let scene = Scene::new();
        let output = (case.run)(&scene);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let mut problems = Vec::new();
        if output.status.code() != Some(case.status) {
            problems.push(format!(
                "status {:?}, expected {}",
                output.status.code(),
                case.status
            ));
        }
        if stderr.trim_end().lines().count() != 1 {
            problems.push("not exactly one line".to_owned());
        }
        for needle in case.says {
            if !stderr.contains(needle) {
                problems.push(format!("`{needle}` missing"));
            }
        }
        if scene.mark.exists() {
            problems.push("the command ran".to_owned());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    stderr: {stderr}",
                case.name,
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
