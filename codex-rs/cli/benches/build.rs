//! What the protected-name guard costs a build-heavy command: a `cargo
//! build` of this project, and a tight loop of file creations, each timed
//! unsandboxed, sandboxed without the guard and sandboxed with it, in the
//! same run.
//!
//! Run with `cargo bench -p codex-cli --bench build` (or `just
//! bench-build`). It prints numbers and never fails on a threshold; it
//! exits non-zero only when it cannot run (no usable sandbox, a build that
//! fails), with the reason.
//!
//! # What is timed
//!
//! Wall time from spawn to reap of each variant, interleaved round by
//! round (forwards, then backwards) so drift hits all alike:
//!
//! - **build**: `cargo build --offline` of the whole workspace, from a copy
//!   of this checkout's committed sources (`git archive HEAD`, plus the
//!   vendored bubblewrap sources) in a fresh temporary workspace, with its own empty target directory each round;
//!   the dependencies come from the cargo registry already on this machine.
//!   Every file the compiler writes is an `openat(O_CREAT)` or a `rename`
//!   the guard holds, so this is the issue's workload.
//! - **creates**: one Python process making 2000 path-creating calls (500
//!   each of file creations, renames, hard links and directories), the
//!   guard's worst case: nothing but held calls. (G - U) / 2000 is what
//!   one held call costs.
//!
//! Each workload runs as:
//!
//! - **N** unsandboxed;
//! - **U** `codex sandbox --disable guard_protected_names`;
//! - **G** `codex sandbox` (the guard on, the default).
//!
//! The report gives G / U (what the guard adds) and G / N. Rounds default
//! to 2 for the build (`CODEX_BENCH_BUILD_ROUNDS`) and 10 for the loop.

#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
fn main() {
    if let Err(message) = linux::main() {
        eprintln!("build bench: cannot run: {message}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("build bench: skipped, the sandbox benchmark needs Linux");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::Path;
    use std::process::{Command, Stdio};

    use crate::support::{Variant, count_from_env, ms, run_rounds};

    /// The loop of creations in one process: 500 each of file creations,
    /// renames, hard links and directories, then the cleanup (not held).
    const CREATES: &str = "import os\n\
        for i in range(500):\n\
        \x20   os.close(os.open(f'f{i}', os.O_CREAT | os.O_WRONLY, 0o644))\n\
        \x20   os.rename(f'f{i}', f'g{i}')\n\
        \x20   os.link(f'g{i}', f'h{i}')\n\
        \x20   os.mkdir(f'd{i}')\n\
        for i in range(500):\n\
        \x20   os.unlink(f'g{i}'); os.unlink(f'h{i}'); os.rmdir(f'd{i}')\n";

    pub fn main() -> Result<(), String> {
        let build_rounds = count_from_env("CODEX_BENCH_BUILD_ROUNDS", 2)?;
        let codex_path = std::env::var("CODEX_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_codex").to_string());
        let codex = codex_path.as_str();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        println!("codex binary: {codex}; cargo: {cargo}");
        let workspace = tempfile::tempdir().map_err(|err| format!("temporary workspace: {err}"))?;
        let codex_home =
            tempfile::tempdir().map_err(|err| format!("temporary CODEX_HOME: {err}"))?;
        copy_sources(workspace.path())?;
        let base = |program: &str| {
            let mut command = Command::new(program);
            command
                .current_dir(workspace.path())
                .env("CODEX_HOME", codex_home.path())
                .env_remove("RUST_LOG")
                .env_remove("CARGO_TARGET_DIR");
            command
        };
        let variants_for = |label: &str, argv: &[&str]| {
            let sandboxed = |options: &[&'static str]| {
                let mut full: Vec<String> = vec![
                    codex.to_owned(),
                    "sandbox".to_owned(),
                    "-P".to_owned(),
                    ":workspace".to_owned(),
                ];
                full.extend(options.iter().map(|option| (*option).to_owned()));
                full.push("--".to_owned());
                full.extend(argv.iter().map(|arg| (*arg).to_owned()));
                full
            };
            vec![
                Variant::new(&format!("N  {label}, unsandboxed"), argv.iter().copied()),
                Variant::new(
                    &format!("U  {label}, sandbox without guard"),
                    sandboxed(&["--disable", "guard_protected_names"]),
                ),
                Variant::new(&format!("G  {label}, sandbox with guard"), sandboxed(&[])),
            ]
        };

        let clean_target = format!("rm -rf target && exec {cargo} build --offline --quiet");
        let mut build = variants_for("cargo build", &["sh", "-c", &clean_target]);
        println!("build: {build_rounds} round(s) of three clean builds each; this takes a while");
        run_rounds(&base, &mut build, 0, build_rounds)?;
        report("cargo build of this workspace", &build);

        let mut creates = variants_for("2000 creations", &["/usr/bin/python3", "-c", CREATES]);
        run_rounds(&base, &mut creates, 1, 10)?;
        report(
            "2000 path-creating calls (create, rename, link, mkdir)",
            &creates,
        );
        let per_call =
            (creates[2].median().as_secs_f64() - creates[1].median().as_secs_f64()) / 2000.0 * 1e6;
        println!("guard per held call: about {per_call:.1} us");
        Ok(())
    }

    /// Unpacks the committed sources of this checkout into `into`.
    fn copy_sources(into: &Path) -> Result<(), String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let archive = Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(["archive", "--format=tar", "HEAD"])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| format!("git archive: {err}"))?;
        let status = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(into)
            .stdin(archive.stdout.ok_or("git archive: no stdout")?)
            .status()
            .map_err(|err| format!("tar: {err}"))?;
        if !status.success() {
            return Err(format!("unpacking the sources failed: {status}"));
        }
        // The bundled bwrap's C sources are fetched, never committed.
        let vendored = root.join("third_party/bubblewrap");
        let status = Command::new("cp")
            .arg("-r")
            .arg(&vendored)
            .arg(into.join("third_party"))
            .status()
            .map_err(|err| format!("cp: {err}"))?;
        if !status.success() {
            return Err(format!(
                "cannot copy {} (run `just vendor-bwrap`): {status}",
                vendored.display()
            ));
        }
        Ok(())
    }

    fn report(title: &str, variants: &[Variant]) {
        println!();
        println!("{title}");
        println!("{:<48} {:>12} {:>12}", "variant", "median ms", "p90 ms");
        for variant in variants {
            println!(
                "{:<48} {:>12.1} {:>12.1}",
                variant.label,
                ms(variant.median()),
                ms(variant.p90())
            );
        }
        let [n, u, g] = [0, 1, 2].map(|index| ms(variants[index].median()));
        println!(
            "guard: G / U = {:.3}   sandbox with guard: G / N = {:.3}   sandbox without: U / N = {:.3}",
            g / u.max(f64::MIN_POSITIVE),
            g / n.max(f64::MIN_POSITIVE),
            u / n.max(f64::MIN_POSITIVE)
        );
    }
}
