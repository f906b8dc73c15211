//! What commands that create many files cost in the sandbox: each
//! workload unsandboxed, in the bubblewrap pipeline without and with the
//! protected-name guard, and in the legacy Landlock pipeline (where `codex`
//! supervises the command and also holds owner and times changes), in the
//! same run.
//!
//! Run with `cargo bench -p codex-cli --bench files` (or `just bench`). It
//! prints numbers and never fails on a threshold; it exits non-zero only
//! when it cannot run (no usable sandbox, a workload that fails), with the
//! reason.
//!
//! # What is timed
//!
//! Wall time from spawn to reap, each variant once per round, forwards on
//! even rounds and backwards on odd ones, so drift hits all alike. Every
//! run works in a fresh directory of the workspace; removing it is not
//! timed (it happens between rounds, unsandboxed).
//!
//! - **tar**: `tar xf` of an archive of 20,000 small files in 2,000
//!   directories (made once, outside the workspace).
//! - **create+rename**: one Python process creating 20,000 files and
//!   renaming each.
//! - **git clone**: a local `git clone --no-hardlinks` of a repository of
//!   those 20,000 files (made once, outside the workspace) into a fresh
//!   directory of `$TMPDIR`, a temporary root (scratch space, where a new
//!   repository is allowed).
//!
//! Each workload runs as:
//!
//! - **N** unsandboxed;
//! - **U** `codex sandbox -P :workspace --disable guard_protected_names`;
//! - **G** `codex sandbox -P :workspace` (the guard on, the default);
//! - **L** `codex sandbox --enable use_legacy_landlock -P :workspace`.
//!
//! Both run with the workspace on a memory filesystem (a `tmpfs` the bench
//! mounts when it runs as root, else on the disk too: `support::MemoryFs`), where the disk's
//! writeback does not hide the guard, and on the disk (`/var/tmp`). The
//! report gives G / U (what the guard adds), L / N, and what one created
//! entry costs under the guard. Rounds default to 3
//! (`CODEX_BENCH_FILES_ROUNDS`). `cargo build`, the fourth workload of
//! this kind, takes minutes per round: `just bench-build`.

#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
fn main() {
    if let Err(message) = linux::main() {
        eprintln!("files bench: cannot run: {message}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("files bench: skipped, the sandbox benchmark needs Linux");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use crate::support::{MemoryFs, Variant, count_from_env, ms, run_once};

    /// Files in the archive, and the directories they are spread over.
    const FILES: usize = 20_000;
    const DIRECTORIES: usize = 2_000;

    /// Makes the tree the archive holds, in the current directory.
    const MAKE_TREE: &str = "import os\n\
        for d in range(DIRS):\n\
        \x20   os.mkdir(f'd{d}')\n\
        \x20   for f in range(PER_DIR):\n\
        \x20       with open(f'd{d}/f{f}.txt', 'w') as out: out.write('x' * 100)\n";

    /// Creates and renames FILES files in a fresh directory.
    const CREATE_RENAME: &str = "import os, tempfile\n\
        os.chdir(tempfile.mkdtemp(dir='.'))\n\
        for i in range(FILES):\n\
        \x20   fd = os.open(f'f{i}', os.O_CREAT | os.O_WRONLY, 0o644)\n\
        \x20   os.write(fd, b'x')\n\
        \x20   os.close(fd)\n\
        \x20   os.rename(f'f{i}', f'g{i}')\n";

    pub fn main() -> Result<(), String> {
        let rounds = count_from_env("CODEX_BENCH_FILES_ROUNDS", 3)?;
        let codex_path = std::env::var("CODEX_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_codex").to_string());
        println!("codex binary: {codex_path}; {rounds} round(s)");
        let codex_home =
            tempfile::tempdir().map_err(|err| format!("temporary CODEX_HOME: {err}"))?;
        let source = tempfile::tempdir_in("/var/tmp")
            .map_err(|err| format!("a directory for the archive: {err}"))?;
        let archive = make_archive(source.path())?;
        let repository = make_repository(source.path())?;
        let memory = MemoryFs::new("2g")?;
        for (where_, dir) in [
            (format!("on {}", memory.kind()), memory.path()),
            ("on the disk (/var/tmp)".to_string(), Path::new("/var/tmp")),
        ] {
            let workspace = tempfile::tempdir_in(dir)
                .map_err(|err| format!("a workspace in {}: {err}", dir.display()))?;
            let ws = workspace.path();
            let tmpdir = tempfile::tempdir_in(dir)
                .map_err(|err| format!("a $TMPDIR in {}: {err}", dir.display()))?;
            let clone = format!(
                "exec git clone -q --no-hardlinks {} \"$(mktemp -d)/clone\"",
                repository.display()
            );
            let tar = format!(
                "d=$(mktemp -d -p .) && exec tar -xf {} -C \"$d\"",
                archive.display()
            );
            let create = CREATE_RENAME.replace("FILES", &FILES.to_string());
            for (title, argv) in [
                (
                    format!("tar xf of {FILES} files in {DIRECTORIES} directories"),
                    vec!["sh".to_owned(), "-c".to_owned(), tar],
                ),
                (
                    format!("create and rename {FILES} files"),
                    vec!["/usr/bin/python3".to_owned(), "-c".to_owned(), create],
                ),
                (
                    format!("git clone of {FILES} files into $TMPDIR"),
                    vec!["sh".to_owned(), "-c".to_owned(), clone],
                ),
            ] {
                let mut variants = variants(&codex_path, &argv);
                measure(
                    &[ws, tmpdir.path()],
                    codex_home.path(),
                    &mut variants,
                    rounds,
                )?;
                report(&format!("{title}, {where_}"), &variants);
            }
        }
        Ok(())
    }

    /// The four variants of `argv` (see the module documentation).
    fn variants(codex: &str, argv: &[String]) -> Vec<Variant> {
        let sandboxed = |options: &[&str]| {
            let mut full = vec![codex.to_owned(), "sandbox".to_owned()];
            full.extend(options.iter().map(|option| (*option).to_owned()));
            full.extend(["-P".to_owned(), ":workspace".to_owned(), "--".to_owned()]);
            full.extend(argv.iter().cloned());
            full
        };
        vec![
            Variant::new("N  unsandboxed", argv.iter().cloned()),
            Variant::new(
                "U  bubblewrap, no guard",
                sandboxed(&["--disable", "guard_protected_names"]),
            ),
            Variant::new("G  bubblewrap, guard (default)", sandboxed(&[])),
            Variant::new(
                "L  legacy Landlock (guard)",
                sandboxed(&["--enable", "use_legacy_landlock"]),
            ),
        ]
    }

    /// Runs every variant once per round in the workspace `dirs[0]`, with
    /// `$TMPDIR` `dirs[1]`, emptying both after each run, untimed.
    fn measure(
        dirs: &[&Path; 2],
        codex_home: &Path,
        variants: &mut [Variant],
        rounds: usize,
    ) -> Result<(), String> {
        let [ws, tmpdir] = *dirs;
        let base = |program: &str| {
            let mut command = Command::new(program);
            command
                .current_dir(ws)
                .env("CODEX_HOME", codex_home)
                .env("TMPDIR", tmpdir)
                .env_remove("RUST_LOG");
            command
        };
        for round in 0..rounds {
            let order: Vec<usize> = if round.is_multiple_of(2) {
                (0..variants.len()).collect()
            } else {
                (0..variants.len()).rev().collect()
            };
            for index in order {
                let sample = run_once(&base, &variants[index])?;
                variants[index].times.push(sample.wall);
                empty(ws)?;
                empty(tmpdir)?;
            }
        }
        Ok(())
    }

    /// Removes everything in `dir`.
    fn empty(dir: &Path) -> Result<(), String> {
        for entry in std::fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))? {
            let path = entry.map_err(|err| err.to_string())?.path();
            std::fs::remove_dir_all(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        }
        Ok(())
    }

    /// The archive of the tree, made in `dir`.
    fn make_archive(dir: &Path) -> Result<PathBuf, String> {
        let tree = dir.join("tree");
        std::fs::create_dir(&tree).map_err(|err| err.to_string())?;
        let script = MAKE_TREE
            .replace("PER_DIR", &(FILES / DIRECTORIES).to_string())
            .replace("DIRS", &DIRECTORIES.to_string());
        let made = Command::new("/usr/bin/python3")
            .args(["-c", &script])
            .current_dir(&tree)
            .status()
            .map_err(|err| format!("python3: {err}"))?;
        let archive = dir.join("tree.tar");
        let packed = Command::new("tar")
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(&tree)
            .arg(".")
            .status()
            .map_err(|err| format!("tar: {err}"))?;
        if !made.success() || !packed.success() {
            return Err("cannot make the archive".into());
        }
        Ok(archive)
    }

    /// A repository of the archive's tree, committed, made in `dir`.
    fn make_repository(dir: &Path) -> Result<PathBuf, String> {
        let tree = dir.join("tree");
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(&tree)
                .args(["-c", "user.name=bench", "-c", "user.email=bench@localhost"])
                .args(args)
                .status()
                .map_err(|err| format!("git: {err}"))
                .and_then(|status| {
                    if status.success() {
                        Ok(())
                    } else {
                        Err(format!("git {args:?} failed: {status}"))
                    }
                })
        };
        git(&["init", "-q"])?;
        git(&["add", "."])?;
        git(&["commit", "-q", "-m", "tree"])?;
        Ok(tree)
    }

    fn report(title: &str, variants: &[Variant]) {
        println!();
        println!("{title}");
        println!("{:<40} {:>12} {:>12}", "variant", "median ms", "p90 ms");
        for variant in variants {
            println!(
                "{:<40} {:>12.1} {:>12.1}",
                variant.label,
                ms(variant.median()),
                ms(variant.p90())
            );
        }
        let [n, u, g, l] = [0, 1, 2, 3].map(|index| ms(variants[index].median()));
        let ratio = |a: f64, b: f64| a / b.max(f64::MIN_POSITIVE);
        println!(
            "guard on / off: G / U = {:.2}   legacy: L / N = {:.2}, L / G = {:.2}   \
             about {:.0} us per created file under the guard ((G - U) / {FILES})",
            ratio(g, u),
            ratio(l, n),
            ratio(l, g),
            (g - u) * 1000.0 / FILES as f64
        );
    }
}
