//! Compatibility with OpenAI Codex 0.171's `codex sandbox`: every scenario
//! of `compat/scenarios.toml` (a config, flags, what Codex does with them)
//! runs a probe script under `codex sandbox` and checks, from the
//! script's own report, what it could do: write here or there, read a
//! denied file, reach a listener on the host directly or through the
//! proxy, see a variable.
//!
//! The expectations are Codex's behaviour, written from its documentation,
//! its tests and measurements of the 0.171.0 binary, never from this
//! sandbox's output. Each difference is classed:
//!
//! - **weaker**: this sandbox allows what Codex does not, or runs what
//!   Codex refuses: always a failure;
//! - **stricter**: it denies what Codex allows, or refuses what Codex
//!   runs: a failure unless the scenario declares it (`stricter`, with the
//!   reason), so a stricter behaviour is always a decision, never an
//!   accident.
//!
//! Where Codex itself is installed (`scripts/setup.sh` puts the npm
//! package in `target/tools`; `CODEX_REFERENCE_CODEX` names another
//! binary), every scenario also runs under it, side by side: this sandbox
//! weaker than the real Codex fails too, and an expectation the real Codex
//! does not meet is reported, so the table stays honest.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness that cannot set up should fail

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde::Deserialize;

/// The scenarios, and what Codex 0.171 does with each.
const SCENARIOS: &str = include_str!("compat/scenarios.toml");

/// The Codex binary the npm package `@openai/codex@0.171.0` installs.
const NPM_CODEX: &str =
    "target/tools/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    /// Probe -> why this sandbox denies it in every scenario where Codex
    /// allows it.
    stricter_everywhere: BTreeMap<String, String>,
    scenario: Vec<Scenario>,
}

/// One configuration and invocation, and Codex's behaviour under it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// What is tried.
    name: String,
    /// Which part of the issue it belongs to.
    class: String,
    /// `config.toml`, with `{ws}`, `{outside}`, `{extra}` and `{port}`
    /// replaced.
    #[serde(default)]
    config: String,
    /// Options before `--`, with the same replacements.
    #[serde(default)]
    args: Vec<String>,
    /// The workspace's own `.codex/config.toml` (a project's), if any.
    project_config: Option<String>,
    /// More files in `CODEX_HOME`: name -> text.
    #[serde(default)]
    home_files: BTreeMap<String, String>,
    /// Where Codex's behaviour comes from.
    source: String,
    /// Whether Codex refuses to run the command.
    #[serde(default)]
    refused: bool,
    /// Probe -> whether Codex's command could do it (probes not listed
    /// are not compared).
    #[serde(default)]
    expect: BTreeMap<String, bool>,
    /// Probe (or `refused`) -> why this sandbox is deliberately stricter.
    #[serde(default)]
    stricter: BTreeMap<String, String>,
    /// Why the installed Codex cannot run this scenario at all (a defect
    /// of its own): it is then compared with the expectations only.
    reference_broken: Option<String>,
}

/// The directories a scenario's command sees, outside `/tmp` (Codex
/// refuses a `CODEX_HOME` under it).
struct World {
    _root: tempfile::TempDir,
    ws: PathBuf,
    outside: PathBuf,
    extra: PathBuf,
    port: u16,
}

impl World {
    /// A workspace (with `.git`, `.aws/credentials`, `secret.env` and a
    /// `.env` twelve levels down), a directory outside it with a file, and
    /// an extra directory; `port` is the host listener's.
    fn new(port: u16) -> Self {
        let root = tempfile::Builder::new()
            .prefix("codex-compat-")
            .tempdir_in(scratch_parent())
            .expect("scratch directory");
        let base = root.path().canonicalize().unwrap();
        let ws = base.join("ws");
        let outside = base.join("outside");
        let extra = base.join("extra");
        let deep = ws.join("a/b/c/d/e/f/g/h/i/j");
        for dir in [&ws.join(".git"), &ws.join(".aws"), &outside, &extra, &deep] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(ws.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(ws.join(".aws/credentials"), "[default]\n").unwrap();
        std::fs::write(ws.join("secret.env"), "TOP_SECRET\n").unwrap();
        std::fs::write(deep.join("deep.env"), "DEEP_SECRET\n").unwrap();
        std::fs::write(outside.join("file.txt"), "outside\n").unwrap();
        World {
            _root: root,
            ws,
            outside,
            extra,
            port,
        }
    }

    /// `text` with the world's placeholders replaced.
    fn fill(&self, text: &str) -> String {
        text.replace("{ws}", &self.ws.display().to_string())
            .replace("{outside}", &self.outside.display().to_string())
            .replace("{extra}", &self.extra.display().to_string())
            .replace("{port}", &self.port.to_string())
    }

    /// A fresh `CODEX_HOME` for `scenario`: its `config.toml` and other
    /// files; also writes the workspace's `.codex/config.toml`.
    fn codex_home(&self, name: &str, scenario: &Scenario) -> PathBuf {
        let home = self.ws.parent().unwrap().join(name);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("config.toml"), self.fill(&scenario.config)).unwrap();
        for (file, text) in &scenario.home_files {
            std::fs::write(home.join(file), self.fill(text)).unwrap();
        }
        if let Some(text) = &scenario.project_config {
            std::fs::create_dir_all(self.ws.join(".codex")).unwrap();
            std::fs::write(self.ws.join(".codex/config.toml"), self.fill(text)).unwrap();
        }
        home
    }

    /// The probe script: one `NAME=0|1` line per probe between markers.
    fn probe_script(&self) -> String {
        let (ws, out, extra, port) = (
            self.ws.display(),
            self.outside.display(),
            self.extra.display(),
            self.port,
        );
        let proxied_get = format!(
            "p=${{HTTP_PROXY:-}}; [ -n \"$p\" ] || exit 1; p=${{p#*://}}; p=${{p%%/*}}; \
             exec 3<>/dev/tcp/${{p%:*}}/${{p##*:}} || exit 1; \
             printf 'GET http://localhost:{port}/ HTTP/1.0\\r\\nHost: localhost:{port}\\r\\n\\r\\n' >&3; \
             read -r line <&3; case \"$line\" in *' 200'*) exit 0;; *) exit 1;; esac"
        );
        let probes: [(&str, String); 15] = [
            (
                "write_ws",
                format!("echo x > {ws}/compat_w && rm -f {ws}/compat_w"),
            ),
            (
                "write_outside",
                format!("echo x > {out}/compat_w && rm -f {out}/compat_w"),
            ),
            (
                "write_extra",
                format!("echo x > {extra}/compat_w && rm -f {extra}/compat_w"),
            ),
            (
                "write_tmp",
                "f=$(mktemp /tmp/compat.XXXXXX) && rm -f \"$f\"".into(),
            ),
            (
                "write_git",
                format!("echo x > {ws}/.git/compat_w && rm -f {ws}/.git/compat_w"),
            ),
            ("write_aws", format!("echo x >> {ws}/.aws/credentials")),
            (
                "plant_git",
                format!("mkdir -p {ws}/sub/.git/hooks && rm -rf {ws}/sub"),
            ),
            ("read_secret", format!("cat {ws}/secret.env")),
            (
                "read_deep",
                format!("cat {ws}/a/b/c/d/e/f/g/h/i/j/deep.env"),
            ),
            ("read_outside", format!("cat {out}/file.txt")),
            ("net_direct", format!("exec 3<>/dev/tcp/127.0.0.1/{port}")),
            ("net_proxy", proxied_get),
            ("env_secret", "[ -n \"${MY_SECRET:-}\" ]".into()),
            ("env_plain", "[ -n \"${PLAIN_VAR:-}\" ]".into()),
            (
                "env_network_disabled",
                "[ \"${CODEX_SANDBOX_NETWORK_DISABLED:-}\" = 1 ]".into(),
            ),
        ];
        let mut script = String::from("echo COMPAT-BEGIN\n");
        for (name, test) in probes {
            script.push_str(&format!(
                "if ( {test} ) >/dev/null 2>&1; then echo {name}=1; else echo {name}=0; fi\n"
            ));
        }
        script.push_str("echo COMPAT-END\n");
        script
    }
}

/// Where the worlds live: `$CODEX_COMPAT_SCRATCH`, else `/var/tmp` (both
/// outside `/tmp`, shared by every user).
fn scratch_parent() -> PathBuf {
    std::env::var_os("CODEX_COMPAT_SCRATCH")
        .map_or_else(|| PathBuf::from("/var/tmp"), PathBuf::from)
}

/// What one run showed: refused, crashed (a Rust panic: no decision of
/// policy, a defect of the binary or of what the host lets it do), or
/// each probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Refused(String),
    Crashed(String),
    Ran(BTreeMap<String, bool>),
}

/// The exit status of a Rust panic.
const PANIC_STATUS: i32 = 101;

/// Runs the probe script under `binary sandbox` for `scenario`.
fn run(binary: &Path, world: &World, home: &Path, scenario: &Scenario) -> Outcome {
    let args: Vec<String> = scenario.args.iter().map(|arg| world.fill(arg)).collect();
    let mut command = Command::new(binary);
    command
        .arg("sandbox")
        .args(&args)
        .arg("--")
        .args(["/bin/bash", "-c", &world.probe_script()])
        .current_dir(&world.ws)
        .env("CODEX_HOME", home)
        .env("MY_SECRET", "compat-secret")
        .env("PLAIN_VAR", "compat-plain")
        .stdin(Stdio::null());
    for name in codex_sandboxing::proxy::PROXY_VARIABLES
        .iter()
        .chain(&["NO_PROXY", "no_proxy"])
    {
        command.env_remove(name);
    }
    let output = command.output().expect("run codex sandbox");
    let stdout = common::text(&output.stdout);
    let Some(report) = stdout
        .split_once("COMPAT-BEGIN\n")
        .and_then(|(_, rest)| rest.split_once("COMPAT-END"))
        .map(|(report, _)| report)
    else {
        let stderr = common::text(&output.stderr);
        if output.status.code() == Some(PANIC_STATUS) {
            let panic = stderr
                .lines()
                .skip_while(|line| !line.contains("panicked at"))
                .nth(1)
                .unwrap_or("")
                .to_owned();
            return Outcome::Crashed(panic);
        }
        let line = stderr.lines().last().unwrap_or("").to_owned();
        return Outcome::Refused(format!("status {:?}: {line}", output.status.code()));
    };
    Outcome::Ran(
        report
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_owned(), value == "1"))
            .collect(),
    )
}

/// How this sandbox's behaviour compares to another's on one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Difference {
    Weaker,
    Stricter,
}

/// Every difference between `ours` and `theirs` (what Codex does, either
/// expected or observed), on the probes `checked` names.
fn differences(
    ours: &Outcome,
    theirs_refused: bool,
    theirs: &BTreeMap<String, bool>,
) -> Vec<(String, Difference)> {
    match ours {
        Outcome::Crashed(panic) => vec![(format!("crash: {panic}"), Difference::Weaker)],
        Outcome::Refused(_) if theirs_refused => Vec::new(),
        Outcome::Refused(_) => vec![("refused".into(), Difference::Stricter)],
        Outcome::Ran(_) if theirs_refused => vec![("refused".into(), Difference::Weaker)],
        Outcome::Ran(probes) => theirs
            .iter()
            .filter_map(|(name, allowed)| {
                let ours = *probes
                    .get(name)
                    .unwrap_or_else(|| panic!("unknown probe `{name}`"));
                match (ours, *allowed) {
                    (true, false) => Some((name.clone(), Difference::Weaker)),
                    (false, true) => Some((name.clone(), Difference::Stricter)),
                    _ => None,
                }
            })
            .collect(),
    }
}

/// A host listener answering every HTTP request with `200`, for the
/// network probes.
fn host_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut request = [0u8; 2048];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(
                    b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\ncompat-ok",
                );
            });
        }
    });
    port
}

/// The real Codex to compare with, when installed.
fn reference_codex() -> Option<PathBuf> {
    let path = std::env::var_os("CODEX_REFERENCE_CODEX").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(NPM_CODEX)
        },
        PathBuf::from,
    );
    path.is_file().then_some(path)
}

#[test]
fn codex_configs_get_a_sandbox_at_least_as_strict_as_codex() {
    let file: ScenarioFile = toml::from_str(SCENARIOS).expect("scenarios.toml parses");
    let port = host_listener();
    let reference = reference_codex();
    match &reference {
        Some(path) => eprintln!("compat: comparing with Codex at {}", path.display()),
        None => eprintln!(
            "compat: Codex is not installed ({NPM_CODEX}; scripts/setup.sh installs it): \
             expectations only"
        ),
    }
    let report = Mutex::new(Vec::new());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for chunk in file.scenario.chunks(file.scenario.len().div_ceil(4)) {
            let (report, failures, reference) = (&report, &failures, &reference);
            let everywhere = &file.stricter_everywhere;
            scope.spawn(move || {
                for scenario in chunk {
                    let (lines, failed) = check(scenario, everywhere, port, reference.as_deref());
                    report.lock().unwrap().extend(lines);
                    failures.lock().unwrap().extend(failed);
                }
            });
        }
    });
    let mut report = report.into_inner().unwrap();
    report.sort();
    let everywhere: Vec<String> = file
        .stricter_everywhere
        .iter()
        .map(|(point, reason)| format!("  {point}: {reason}"))
        .collect();
    eprintln!(
        "compat: {} scenarios; stricter than Codex on purpose wherever it applies:\n{}\n{}",
        file.scenario.len(),
        everywhere.join("\n"),
        report.join("\n")
    );
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "compat failures:\n{}",
        failures.join("\n")
    );
}

/// Runs one scenario (and, with `reference`, under Codex too); returns
/// its report lines and its failures.
fn check(
    scenario: &Scenario,
    everywhere: &BTreeMap<String, String>,
    port: u16,
    reference: Option<&Path>,
) -> (Vec<String>, Vec<String>) {
    let world = World::new(port);
    let ours = run(
        &common::codex(),
        &world,
        &world.codex_home("home-ours", scenario),
        scenario,
    );
    let mut verdicts = Verdicts {
        scenario,
        everywhere,
        tag: format!("[{}] {}", scenario.class, scenario.name),
        lines: Vec::new(),
        failures: Vec::new(),
    };
    verdicts.judge(
        "Codex",
        &ours,
        differences(&ours, scenario.refused, &scenario.expect),
    );
    match (reference, &scenario.reference_broken) {
        (None, _) => {}
        (Some(_), Some(reason)) => {
            let line = format!(
                "{}: not run under the installed Codex: {reason}",
                verdicts.tag
            );
            verdicts.lines.push(line);
        }
        (Some(codex), None) => {
            let theirs = run(
                codex,
                &world,
                &world.codex_home("home-codex", scenario),
                scenario,
            );
            let (theirs_refused, theirs_probes) = match &theirs {
                Outcome::Crashed(panic) => {
                    let line = format!(
                        "{}: the installed Codex crashed here ({panic}); compared with the expectations only",
                        verdicts.tag
                    );
                    verdicts.lines.push(line);
                    return verdicts.finish();
                }
                Outcome::Refused(_) => (true, BTreeMap::new()),
                Outcome::Ran(probes) => (false, probes.clone()),
            };
            let as_expected = theirs_refused == scenario.refused
                && scenario
                    .expect
                    .iter()
                    .all(|(name, allowed)| theirs_probes.get(name) == Some(allowed));
            if !as_expected {
                let line = format!(
                    "{}: note: the installed Codex did not do what the scenario expects ({theirs:?})",
                    verdicts.tag
                );
                verdicts.lines.push(line);
            }
            verdicts.judge(
                "the installed Codex",
                &ours,
                differences(&ours, theirs_refused, &theirs_probes),
            );
        }
    }
    if verdicts.lines.is_empty() {
        verdicts
            .lines
            .push(format!("{}: same as Codex", verdicts.tag));
    }
    (verdicts.lines, verdicts.failures)
}

/// One scenario's report lines and failures, as differences are judged.
struct Verdicts<'a> {
    scenario: &'a Scenario,
    everywhere: &'a BTreeMap<String, String>,
    tag: String,
    lines: Vec<String>,
    failures: Vec<String>,
}

impl Verdicts<'_> {
    /// The report lines (one saying so when nothing differs) and failures.
    fn finish(mut self) -> (Vec<String>, Vec<String>) {
        if self.lines.is_empty() {
            self.lines.push(format!("{}: same as Codex", self.tag));
        }
        (self.lines, self.failures)
    }

    /// Records `differences` between this sandbox (`ours`) and `against`:
    /// weaker fails, stricter fails unless declared.
    fn judge(&mut self, against: &str, ours: &Outcome, differences: Vec<(String, Difference)>) {
        let tag = &self.tag;
        for (point, difference) in differences {
            let declared = self
                .scenario
                .stricter
                .get(&point)
                .or_else(|| self.everywhere.get(&point));
            match (difference, declared) {
                (Difference::Weaker, _) => {
                    self.failures.push(format!(
                        "{tag}: WEAKER than {against} on {point} (ours: {ours:?}; Codex's behaviour from {})",
                        self.scenario.source
                    ));
                    self.lines
                        .push(format!("{tag}: WEAKER than {against} on {point}"));
                }
                (Difference::Stricter, Some(_)) if self.everywhere.contains_key(&point) => {
                    self.lines.push(format!(
                        "{tag}: stricter than {against} on {point} (see above)"
                    ));
                }
                (Difference::Stricter, Some(reason)) => {
                    self.lines.push(format!(
                        "{tag}: stricter than {against} on {point}: {reason}"
                    ));
                }
                (Difference::Stricter, None) => {
                    self.failures.push(format!(
                        "{tag}: stricter than {against} on {point}, undeclared (ours: {ours:?})"
                    ));
                    self.lines.push(format!(
                        "{tag}: STRICTER (undeclared) than {against} on {point}"
                    ));
                }
            }
        }
    }
}
