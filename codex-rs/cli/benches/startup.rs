//! Start-up cost of `codex sandbox`, measured against raw bwrap.
//!
//! Run with `cargo bench -p codex-cli --bench startup` (or `just bench`).
//! It prints numbers and never fails on a threshold; it exits non-zero only
//! when it cannot run at all (no usable bwrap, a variant that does not exit
//! 0), with the reason. On other systems it prints that it was skipped.
//!
//! # What is timed
//!
//! Wall-clock time from spawning to reaping (`wait4`) of each command below,
//! in one process, interleaved round by round so that drift (CPU frequency,
//! page cache, other load) hits all alike; the order within a round
//! alternates (A B ... C, then C ... B A) so that no variant always runs
//! right after another. 20 warm-up rounds are discarded, then 300 rounds are measured
//! (`CODEX_BENCH_ITERATIONS=N` to change that).
//!
//! - **A** `codex sandbox -P :workspace -- /bin/true`: the built-in `:workspace` profile
//!   with the network off and the protected-name guard on (the default),
//!   started in a fresh temporary workspace, with `CODEX_HOME` an empty
//!   temporary directory so no user configuration applies and `RUST_LOG`
//!   removed so no logging is set up.
//! - **B** raw bwrap with the same isolation. Its argv is not written here
//!   by hand: it is the bwrap command `codex sandbox -P :workspace --explain
//!   -- /bin/true` prints for the same workspace and `CODEX_HOME`, split
//!   with `shell-words`, minus `--seccomp FD` and `--json-status-fd FD`
//!   (descriptors only a launching `codex` holds), and with `/bin/true` in
//!   place of the guard's inner stage. So B is the same bwrap binary with
//!   the same namespaces and the same mount list, and A - B is what `codex`
//!   adds: its own exec and start-up, policy resolution, host probes, the
//!   seccomp filter, the two pipes, and the guard's inner stage and
//!   supervisor.
//! - **D** and **BD**: the same pair for `codex sandbox -- /bin/true`, the
//!   default profile (`:read-only`: nothing is writable, so no guard).
//! - **U** and **BU**: the pair for `:workspace` with `--disable
//!   guard_protected_names`, where bwrap installs the seccomp filter itself
//!   and masks missing protected names at the top of each root. A - U is
//!   roughly what the guard costs each start (its plan differs a little:
//!   U masks what A leaves to the guard).
//! - **A'** and **B'**: A and B again with `PATH` holding no bwrap, so that
//!   `codex` runs its bundled `codex-resources/bwrap` (opened, hashed with
//!   SHA-256 against the compiled-in digest, exec'd through
//!   `/proc/self/fd/N`) and B' runs that same file directly. Measured only
//!   when the binary has a bundled bwrap beside it (`just bench` uses
//!   `target/dist`); otherwise the pair is skipped with a note.
//! - **G** and **BG**: A and B with `-C` naming a repository laid out as a
//!   husky project (`core.hooksPath = .husky`, a `core.fsmonitor` script,
//!   an `include.path` chain of two files in the worktree), so `codex`
//!   reads and parses its git configuration and binds what it names
//!   read-only. (G - BG) - (A - B) is what reading git's configuration
//!   costs `codex`; BG - B what its binds cost bwrap.
//! - **N** and **BN**: A and B with `--no-proc`, as in a container that masks
//!   parts of its `/proc`: no `/proc` mount, and the guard's supervisor
//!   reads the command's calls through the outer stage's `/proc`.
//! - **L** `codex sandbox --enable use_legacy_landlock -- /bin/true`: the
//!   default profile under the legacy Landlock pipeline (no bwrap), against
//!   C.
//! - **C** plain `/bin/true`: the cost of spawning any process, for context.
//!
//! Reported: each codex variant over its raw bwrap (target <= 1.3).
//!
//! The release binary is used: `cargo bench` builds with the `bench`
//! profile, which inherits `release`, and `CARGO_BIN_EXE_codex` names it;
//! `CODEX_BENCH_BIN` names another build instead (`just bench` passes the
//! statically linked release binary, which is what ships).
//!
//! # Peak memory
//!
//! Each child is reaped with `wait4`, whose `ru_maxrss` is read. Two kernel
//! rules make that number an upper bound on the peak RSS of `codex` itself
//! rather than the exact figure:
//!
//! - `wait4` returns the child's rusage *including the descendants it has
//!   reaped* (the kernel fills it with `RUSAGE_BOTH`), and `ru_maxrss` is a
//!   maximum, not a sum. `codex` waits for bwrap, and bwrap for the command,
//!   so the figure for A is the largest of `codex`, bwrap and `/bin/true`.
//! - A child's high-water mark starts from the address space it had before
//!   `exec`, which is the spawner's (this process, whose high-water mark is
//!   reset through `/proc/self/clear_refs` before every spawn to keep that
//!   floor low).
//!
//! B's and C's figures, measured the same way, show those two
//! contributions: when A's exceeds both, the excess is `codex`'s own.

#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
fn main() {
    if let Err(message) = linux::main() {
        eprintln!("startup bench: cannot run: {message}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("startup bench: skipped, the sandbox benchmark needs Linux");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::process::Command;

    use crate::support::{Variant, count_from_env, mib, ms, raw_bwrap_argv, run_rounds, verdict};

    /// Rounds run and discarded before measuring.
    const WARM_UPS: usize = 20;
    /// Measured rounds unless `CODEX_BENCH_ITERATIONS` says otherwise.
    const DEFAULT_ITERATIONS: usize = 300;
    /// Target for median(A) / median(B).
    const TARGET_RATIO: f64 = 1.3;
    /// A PATH with no bwrap on it, so `codex` uses its bundled one.
    const NO_BWRAP_PATH: &str = "/nonexistent";
    /// Target for the peak RSS of `codex`, in MiB.
    const TARGET_RSS_MIB: f64 = 8.0;
    /// The options of A: the `:workspace` profile, guard on.
    const WORKSPACE: &[&str] = &["-P", ":workspace"];
    /// The options of U: A without the guard.
    const UNGUARDED: &[&str] = &["-P", ":workspace", "--disable", "guard_protected_names"];

    /// `:workspace` without a `/proc` of the sandbox's own.
    const NO_PROC: &[&str] = &["-P", ":workspace", "--no-proc"];

    /// The default profile under the legacy Landlock pipeline.
    const LEGACY: &[&str] = &["--enable", "use_legacy_landlock"];

    pub fn main() -> Result<(), String> {
        let iterations = count_from_env("CODEX_BENCH_ITERATIONS", DEFAULT_ITERATIONS)?;
        let codex_path = std::env::var("CODEX_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_codex").to_string());
        let codex = codex_path.as_str();
        println!("codex binary: {codex}");
        let workspace = tempfile::tempdir().map_err(|err| format!("temporary workspace: {err}"))?;
        let codex_home =
            tempfile::tempdir().map_err(|err| format!("temporary CODEX_HOME: {err}"))?;
        let base = |program: &str| {
            let mut command = Command::new(program);
            command
                .current_dir(workspace.path())
                .env("CODEX_HOME", codex_home.path())
                .env_remove("RUST_LOG");
            command
        };

        let repository = husky_repository()?;
        let repository_path = repository.path().to_string_lossy().into_owned();
        let in_repository: Vec<&str> = [WORKSPACE, &["-C", repository_path.as_str()]].concat();
        let codex_run = |options: &[&str]| {
            let mut argv = vec![codex.to_string(), "sandbox".to_string()];
            argv.extend(options.iter().map(|option| option.to_string()));
            argv.extend(["--".to_string(), "/bin/true".to_string()]);
            argv
        };
        let raw = |options: &[&str]| raw_bwrap_argv(base(codex), options, "/bin/true");
        let mut variants = vec![
            Variant::new(
                "A  codex sandbox -P :workspace -- /bin/true",
                codex_run(WORKSPACE),
            ),
            Variant::new("B  bwrap (same mounts) /bin/true", raw(WORKSPACE)?),
            Variant::new("D  codex sandbox -- /bin/true", codex_run(&[])),
            Variant::new("BD bwrap (same mounts as D)", raw(&[])?),
            Variant::new("U  codex sandbox, no guard", codex_run(UNGUARDED)),
            Variant::new("BU bwrap (same mounts as U)", raw(UNGUARDED)?),
            Variant::new("G  codex, in a husky repository", codex_run(&in_repository)),
            Variant::new("BG bwrap (same mounts as G)", raw(&in_repository)?),
            Variant::new("N  codex sandbox, --no-proc", codex_run(NO_PROC)),
            Variant::new("BN bwrap (same mounts as N)", raw(NO_PROC)?),
            Variant::new("L  codex, legacy Landlock", codex_run(LEGACY)),
        ];
        let mut bundled_explain = base(codex);
        bundled_explain.env("PATH", NO_BWRAP_PATH);
        match raw_bwrap_argv(bundled_explain, WORKSPACE, "/bin/true") {
            Ok(raw_bundled) => variants.extend([
                Variant::new("A' codex sandbox, bundled bwrap", codex_run(WORKSPACE))
                    .with_env("PATH", NO_BWRAP_PATH),
                Variant::new("B' bundled bwrap (same flags)", raw_bundled),
            ]),
            Err(reason) => println!("bundled bwrap pair skipped: {reason}"),
        }
        variants.push(Variant::new("C  /bin/true", ["/bin/true"]));
        println!(
            "startup bench: {WARM_UPS} warm-up + {iterations} measured rounds, interleaved; workspace {}",
            workspace.path().display()
        );
        println!(
            "B = {}",
            shell_words::join(variants[1].argv.iter().map(|a| a.to_string_lossy()))
        );
        run_rounds(&base, &mut variants, WARM_UPS, iterations)?;
        report(&variants);
        Ok(())
    }

    fn report(variants: &[Variant]) {
        println!();
        println!(
            "{:<34} {:>10} {:>10} {:>14}",
            "variant", "median ms", "p90 ms", "max RSS MiB"
        );
        for variant in variants {
            let median = variant.median();
            println!(
                "{:<34} {:>10.3} {:>10.3} {:>14.2}",
                variant.label,
                ms(median),
                ms(variant.p90()),
                mib(variant.max_rss_kib)
            );
        }
        println!();
        // Medians in ms by the variant's key (the label's first word).
        let median = |key: &str| {
            variants
                .iter()
                .find(|variant| variant.label.split_whitespace().next() == Some(key))
                .map(|variant| ms(variant.median()))
        };
        // `main` always measures A, B, D, BD, U, BU, G and BG, in that order, first.
        let [a, b, d, bd, u, bu, g, bg] =
            [0, 1, 2, 3, 4, 5, 6, 7].map(|index| ms(variants[index].median()));
        for (pair, codex, bwrap) in [
            ("A / B", a, b),
            ("D / BD", d, bd),
            ("U / BU", u, bu),
            ("G / BG", g, bg),
        ] {
            let ratio = codex / bwrap.max(f64::MIN_POSITIVE);
            println!(
                "median({pair}) = {ratio:.3}   target <= {TARGET_RATIO}   {}   (codex adds {:.3} ms)",
                verdict(ratio <= TARGET_RATIO),
                codex - bwrap
            );
        }
        println!(
            "guard: A - U = {:.3} ms (inner stage exec, supervisor fork, second filter)",
            a - u
        );
        if let (Some(n), Some(bn)) = (median("N"), median("BN")) {
            let ratio = n / bn.max(f64::MIN_POSITIVE);
            println!(
                "median(N / BN) = {ratio:.3}   target <= {TARGET_RATIO}   {}   (codex adds {:.3} ms; \
                 N - A = {:.3} ms: the outer /proc handed to the supervisor, no /proc mount)",
                verdict(ratio <= TARGET_RATIO),
                n - bn,
                n - a
            );
        }
        if let (Some(l), Some(c)) = (median("L"), median("C")) {
            println!(
                "legacy Landlock: L - C = {:.3} ms over spawning /bin/true (no bwrap: codex \
                 restricts itself and execs the command); D - L = {:.3} ms",
                l - c,
                d - l
            );
        }
        println!(
            "git configuration: (G - BG) - (A - B) = {:.3} ms of codex's own (reading, parsing); \
             BG - B = {:.3} ms of bwrap's (the read-only binds)",
            (g - bg) - (a - b),
            bg - b
        );
        if let (Some(a_bundled), Some(b_bundled)) = (median("A'"), median("B'")) {
            let ratio = a_bundled / b_bundled.max(f64::MIN_POSITIVE);
            println!(
                "median(A') / median(B') = {ratio:.3}   target <= {TARGET_RATIO}   {}",
                verdict(ratio <= TARGET_RATIO)
            );
            println!(
                "bundled: codex - bwrap (median) = {:.3} ms; A' - A = {:.3} ms (hash + fd exec + warning)",
                a_bundled - b_bundled,
                a_bundled - a
            );
        }
        let rss = mib(variants[0].max_rss_kib);
        println!(
            "codex peak RSS <= {rss:.2} MiB   target <= {TARGET_RSS_MIB} MiB   {}",
            verdict(rss <= TARGET_RSS_MIB)
        );
        println!(
            "  (wait4 ru_maxrss of codex: the max over codex, the bwrap it reaps and the command, \
             floored by the spawner's RSS; B and C show those parts)"
        );
    }

    /// A repository laid out as a husky project: `.git` with its signs and
    /// a config naming `.husky` as the hooks directory, a `core.fsmonitor`
    /// script and an include whose file includes another, all in the
    /// worktree, so a start has every kind of path to read and bind.
    fn husky_repository() -> Result<tempfile::TempDir, String> {
        let repository =
            tempfile::tempdir().map_err(|err| format!("temporary repository: {err}"))?;
        let root = repository.path();
        let files: [(&str, &str); 7] = [
            (".git/HEAD", "ref: refs/heads/main\n"),
            (
                ".git/config",
                "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\
                 \thooksPath = .husky\n\tfsmonitor = tools/fsmonitor.sh\n\
                 [include]\n\tpath = ../gitconfig.shared\n",
            ),
            (
                "gitconfig.shared",
                "[include]\n\tpath = tools/gitconfig.extra\n",
            ),
            ("tools/gitconfig.extra", "[user]\n\tname = bench\n"),
            ("tools/fsmonitor.sh", "#!/bin/sh\n"),
            (".husky/pre-commit", "#!/bin/sh\n"),
            ("README", "bench\n"),
        ];
        for directory in [".git/objects", ".git/refs/heads"] {
            std::fs::create_dir_all(root.join(directory))
                .map_err(|err| format!("{directory}: {err}"))?;
        }
        for (path, text) in files {
            let path = root.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|err| format!("{parent:?}: {err}"))?;
            }
            std::fs::write(&path, text).map_err(|err| format!("{path:?}: {err}"))?;
        }
        Ok(repository)
    }
}
