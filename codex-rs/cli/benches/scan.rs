//! Cost of the start-up scan and of the masks it produces.
//!
//! Run with `cargo bench -p codex-cli --bench scan` (or `just bench`). It
//! prints numbers and never fails on a threshold; it exits non-zero only
//! when it cannot run (no rg, no usable bwrap, a variant that fails).
//!
//! # Part 1: setup time on a 200,000-file tree
//!
//! A tree of 200,000 files (20,000 directories, 10 secrets, 5 nested
//! repositories) is generated once under Cargo's target directory. Timed,
//! interleaved round by round (forwards, then backwards):
//! - **R** `rg --files --hidden --no-ignore TREE`, the baseline;
//! - **S1 / S10 / S50** `codex sandbox --explain -P gN -- /bin/true` run in
//!   the tree with 1, 10 or 50 deny-read globs: everything a start-up does
//!   before bwrap (config, the scan with the built-in walker, the plan);
//! - **N** as S10 with no globs: the scan for nested protected paths only.
//!
//! Reported: median(S10) / median(R) (target <= 1.2) and the spread of
//! S1, S10 and S50 (target: within 10%).
//!
//! # Part 3: start-up in that tree, the default pipeline
//!
//! `codex sandbox -P :workspace -- /bin/true` run in the tree (guard on:
//! nothing is scanned), with 20,000 more files in a directory of `/tmp`,
//! against raw bwrap with the same mounts (`--explain`'s bwrap command with
//! `/bin/true` in place of the inner stage, as in the startup bench), and
//! the default profile (`codex sandbox -- /bin/true`) against its own raw
//! bwrap. Every start is a first start: nothing is kept between runs, so
//! the median is also what the first start costs, compared with `rg
//! --files` over the tree. Reported: W / WB (target <= 1.5) and W / R
//! (target <= 1).
//!
//! # Part 2: start-up with 100 masks
//!
//! `codex sandbox -P m100 -- /bin/true` in a small workspace with 100 files
//! a glob matches (100 `/dev/null` masks) against `-P m0`, the same profile
//! without the glob. Reported: the added milliseconds.

#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
fn main() {
    if let Err(message) = linux::main() {
        eprintln!("scan bench: cannot run: {message}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("scan bench: skipped, the sandbox benchmark needs Linux");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use crate::support::{Variant, count_from_env, ms, raw_bwrap_argv, run_rounds, verdict};

    const FILES: usize = 200_000;
    const DIRS: usize = 20_000;
    /// Files put in a directory of `/tmp` for part 3.
    const TMP_FILES: usize = 20_000;
    /// Rounds of part 3.
    const TREE_START_ROUNDS: usize = 50;
    const TARGET_TREE_RATIO: f64 = 1.5;
    const WARM_UPS: usize = 2;
    const DEFAULT_ROUNDS: usize = 15;
    const MASK_ROUNDS: usize = 100;
    const TARGET_RATIO: f64 = 1.2;
    const TARGET_SPREAD: f64 = 0.10;

    /// Ten patterns people deny; S10 uses them all, S1 the first.
    const PATTERNS: [&str; 10] = [
        "**/*.env",
        "**/*.pem",
        "**/id_rsa*",
        "**/secrets",
        "**/*.key",
        "**/.npmrc",
        "**/credentials.json",
        "**/*.p12",
        "**/.netrc",
        "**/*.secret",
    ];

    pub fn main() -> Result<(), String> {
        let rounds = count_from_env("CODEX_BENCH_SCAN_ROUNDS", DEFAULT_ROUNDS)?;
        let codex_path = std::env::var("CODEX_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_codex").to_string());
        let codex = codex_path.as_str();
        let rg = ["/usr/bin/rg", "/usr/local/bin/rg", "/bin/rg"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .ok_or("rg is not installed (apt-get install ripgrep)")?;
        let tree = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scan-bench-tree");
        ensure_tree(&tree)?;
        let codex_home = tempfile::tempdir().map_err(|err| format!("CODEX_HOME: {err}"))?;
        write_profiles(codex_home.path())?;
        println!(
            "codex binary: {codex}; tree: {} ({FILES} files)",
            tree.display()
        );

        let base = |program: &str| {
            let mut command = Command::new(program);
            command
                .current_dir(&tree)
                .env("CODEX_HOME", codex_home.path())
                .env_remove("RUST_LOG");
            command
        };
        let explain = |profile: &'static str| {
            [
                codex,
                "sandbox",
                "--explain",
                "-P",
                profile,
                "--",
                "/bin/true",
            ]
        };
        let tree_arg = tree.to_string_lossy().into_owned();
        let mut variants = [
            Variant::new(
                "R    rg --files (baseline)",
                [rg, "--files", "--hidden", "--no-ignore", tree_arg.as_str()],
            ),
            Variant::new("S1   codex setup, 1 glob", explain("g1")),
            Variant::new("S10  codex setup, 10 globs", explain("g10")),
            Variant::new("S50  codex setup, 50 globs", explain("g50")),
            Variant::new("N    no globs (nested .git only)", explain("g0")),
        ];
        println!("part 1: {WARM_UPS} warm-up + {rounds} measured rounds, interleaved");
        run_rounds(&base, &mut variants, WARM_UPS, rounds)?;
        print_table(&variants);
        let median = |index: usize| ms(variants[index].median());
        let ratio = median(2) / median(0);
        println!(
            "median(S10) / median(R) = {ratio:.3}   target <= {TARGET_RATIO}   {}",
            verdict(ratio <= TARGET_RATIO)
        );
        println!(
            "median(N) / median(R) = {:.3}   (no globs: nothing to scan with the guard)",
            median(4) / median(0)
        );
        let by_patterns = [median(1), median(2), median(3)];
        let low = by_patterns.iter().copied().fold(f64::INFINITY, f64::min);
        let high = by_patterns.iter().copied().fold(0.0, f64::max);
        let spread = high / low - 1.0;
        println!(
            "1 vs 10 vs 50 patterns: spread {:.1}%   target <= {:.0}%   {}",
            spread * 100.0,
            TARGET_SPREAD * 100.0,
            verdict(spread <= TARGET_SPREAD)
        );

        tree_starts(codex, rg, &tree)?;

        let workspace = tempfile::tempdir().map_err(|err| format!("workspace: {err}"))?;
        for index in 0..100 {
            std::fs::write(workspace.path().join(format!("{index}.secret")), "s")
                .map_err(|err| format!("workspace file: {err}"))?;
        }
        let base = |program: &str| {
            let mut command = Command::new(program);
            command
                .current_dir(workspace.path())
                .env("CODEX_HOME", codex_home.path())
                .env_remove("RUST_LOG");
            command
        };
        let run = |profile: &'static str| [codex, "sandbox", "-P", profile, "--", "/bin/true"];
        let mut masks = [
            Variant::new("M0    codex sandbox, no masks", run("m0")),
            Variant::new("M100  codex sandbox, 100 masks", run("m100")),
        ];
        println!();
        println!("part 2: 10 warm-up + {MASK_ROUNDS} measured rounds, interleaved");
        run_rounds(&base, &mut masks, 10, MASK_ROUNDS)?;
        print_table(&masks);
        println!(
            "100 masks add {:.2} ms to start-up (median)",
            ms(masks[1].median()) - ms(masks[0].median())
        );
        Ok(())
    }

    /// Part 3: starts in the tree with `/tmp` holding `TMP_FILES` more,
    /// with the built-in profiles (an empty `CODEX_HOME`).
    fn tree_starts(codex: &str, rg: &str, tree: &Path) -> Result<(), String> {
        let codex_home = tempfile::tempdir().map_err(|err| format!("CODEX_HOME: {err}"))?;
        let codex_home = codex_home.path();
        let busy_tmp = tempfile::Builder::new()
            .prefix("codex-bench-tmp")
            .tempdir_in("/tmp")
            .map_err(|err| format!("a directory in /tmp: {err}"))?;
        for index in 0..TMP_FILES {
            std::fs::write(busy_tmp.path().join(format!("f{index}")), "")
                .map_err(|err| format!("/tmp file: {err}"))?;
        }
        let base = |program: &str| {
            let mut command = Command::new(program);
            command
                .current_dir(tree)
                .env("CODEX_HOME", codex_home)
                .env_remove("RUST_LOG");
            command
        };
        let workspace = ["-P", ":workspace"];
        let tree_arg = tree.to_string_lossy().into_owned();
        let mut variants = [
            Variant::new(
                "W    codex sandbox -P :workspace",
                [codex, "sandbox", "-P", ":workspace", "--", "/bin/true"],
            ),
            Variant::new(
                "WB   bwrap, same mounts as W",
                raw_bwrap_argv(base(codex), &workspace, "/bin/true")?,
            ),
            Variant::new(
                "D    codex sandbox (default profile)",
                [codex, "sandbox", "--", "/bin/true"],
            ),
            Variant::new(
                "DB   bwrap, same mounts as D",
                raw_bwrap_argv(base(codex), &[], "/bin/true")?,
            ),
            Variant::new(
                "R    rg --files",
                [rg, "--files", "--hidden", "--no-ignore", tree_arg.as_str()],
            ),
        ];
        println!();
        println!(
            "part 3: starts in the tree, {TMP_FILES} files in {}; 5 warm-up + {TREE_START_ROUNDS} rounds",
            busy_tmp.path().display()
        );
        run_rounds(&base, &mut variants, 5, TREE_START_ROUNDS)?;
        print_table(&variants);
        let median = |index: usize| ms(variants[index].median());
        let (w, wb, d, db, r) = (median(0), median(1), median(2), median(3), median(4));
        println!(
            "median(W) / median(WB) = {:.3}   target <= {TARGET_TREE_RATIO}   {}",
            w / wb,
            verdict(w / wb <= TARGET_TREE_RATIO)
        );
        println!(
            "median(D) / median(DB) = {:.3}   target <= {TARGET_TREE_RATIO}   {}",
            d / db,
            verdict(d / db <= TARGET_TREE_RATIO)
        );
        println!(
            "first start: median(W) / median(R) = {:.3}   target <= 1   {}",
            w / r,
            verdict(w <= r)
        );
        Ok(())
    }

    fn print_table(variants: &[Variant]) {
        println!();
        println!("{:<36} {:>10} {:>10}", "variant", "median ms", "p90 ms");
        for variant in variants {
            println!(
                "{:<36} {:>10.2} {:>10.2}",
                variant.label,
                ms(variant.median()),
                ms(variant.p90())
            );
        }
        println!();
    }

    /// Profiles g0, g1, g10, g50 (globs on the workspace) and m0, m100.
    fn write_profiles(codex_home: &Path) -> Result<(), String> {
        let mut patterns: Vec<String> = PATTERNS.iter().map(|p| p.to_string()).collect();
        patterns.extend((0..40).map(|index| format!("**/*.secret{index}")));
        let mut config = String::new();
        for (name, count) in [("g0", 0), ("g1", 1), ("g10", 10), ("g50", 50)] {
            config.push_str(&profile(name, &patterns[..count]));
        }
        config.push_str(&profile("m0", &[]));
        config.push_str(&profile("m100", &["*.secret".to_string()]));
        std::fs::write(codex_home.join("config.toml"), config)
            .map_err(|err| format!("config.toml: {err}"))
    }

    fn profile(name: &str, globs: &[String]) -> String {
        let mut text = format!(
            "[permissions.{name}.filesystem]\n\":root\" = \"read\"\n\
             [permissions.{name}.filesystem.\":workspace_roots\"]\n\".\" = \"write\"\n"
        );
        for glob in globs {
            text.push_str(&format!("{glob:?} = \"none\"\n"));
        }
        text
    }

    /// Generates the tree unless a complete one is already there.
    fn ensure_tree(tree: &Path) -> Result<(), String> {
        let stamp = tree.join(format!(".complete-{FILES}-{DIRS}"));
        if stamp.exists() {
            return Ok(());
        }
        let _ = std::fs::remove_dir_all(tree);
        let fail = |err: std::io::Error| format!("generating {}: {err}", tree.display());
        let per_dir = FILES / DIRS;
        for dir_index in 0..DIRS {
            let dir = tree.join(format!(
                "pkg{}/src{}/mod{}",
                dir_index / 100,
                (dir_index / 10) % 10,
                dir_index % 10
            ));
            std::fs::create_dir_all(&dir).map_err(fail)?;
            for file_index in 0..per_dir {
                std::fs::write(dir.join(format!("file{file_index}.rs")), "").map_err(fail)?;
            }
        }
        for index in 0..10 {
            std::fs::write(tree.join(format!("pkg{index}/.env")), "SECRET=1").map_err(fail)?;
        }
        for index in 0..5 {
            let git = tree.join(format!("pkg1{index}/.git"));
            std::fs::create_dir_all(git.join("objects/pack")).map_err(fail)?;
            std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").map_err(fail)?;
        }
        std::fs::write(&stamp, "").map_err(fail)
    }
}
