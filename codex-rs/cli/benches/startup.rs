//! Start-up cost of `codex sandbox`, measured against raw bwrap.
//!
//! Run with `cargo bench -p codex-cli --bench startup` (or `just bench`).
//! It prints numbers and never fails on a threshold; it exits non-zero only
//! when it cannot run at all (no usable bwrap, a variant that does not exit
//! 0), with the reason. On other systems it prints that it was skipped.
//!
//! # What is timed
//!
//! Wall-clock time from spawning to reaping (`wait4`) of three commands, in
//! one process, interleaved round by round so that drift (CPU frequency,
//! page cache, other load) hits all three alike; the order within a round
//! alternates (A B C, then C B A) so that no variant always runs right after
//! another. 20 warm-up rounds are discarded, then 300 rounds are measured
//! (`CODEX_BENCH_ITERATIONS=N` to change that).
//!
//! - **A** `codex sandbox -- /bin/true`: the built-in `:workspace` profile
//!   with the network off, started in a fresh temporary workspace, with
//!   `CODEX_HOME` an empty temporary directory so no user configuration
//!   applies and `RUST_LOG` removed so no logging is set up.
//! - **B** raw bwrap with the same isolation. Its argv is not written here
//!   by hand: it is the command `codex sandbox --explain -- /bin/true`
//!   prints for the same workspace and `CODEX_HOME` (the line after the
//!   `bwrap command` header), split with `shell-words`, minus `--seccomp FD`
//!   and `--json-status-fd FD`, which name descriptors only a launching
//!   `codex` holds. So B is the same bwrap binary with the same namespaces
//!   and the same mount list, and A - B is what `codex` adds: its own exec
//!   and start-up, policy resolution, host probes, the seccomp filter and
//!   the two pipes.
//! - **C** plain `/bin/true`: the cost of spawning any process, for context.
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
    use std::ffi::OsString;
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// Rounds run and discarded before measuring.
    const WARM_UPS: usize = 20;
    /// Measured rounds unless `CODEX_BENCH_ITERATIONS` says otherwise.
    const DEFAULT_ITERATIONS: usize = 300;
    /// Target for median(A) / median(B).
    const TARGET_RATIO: f64 = 1.3;
    /// Target for the peak RSS of `codex`, in MiB.
    const TARGET_RSS_MIB: f64 = 8.0;

    /// One variant under test and what was measured for it.
    struct Variant {
        label: &'static str,
        argv: Vec<OsString>,
        times: Vec<Duration>,
        /// Largest `ru_maxrss` seen, in KiB.
        max_rss_kib: i64,
    }

    /// What one reaped run cost.
    struct Sample {
        wall: Duration,
        max_rss_kib: i64,
    }

    pub fn main() -> Result<(), String> {
        let iterations = iterations()?;
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

        let raw_bwrap = raw_bwrap_argv(base(codex))?;
        let mut variants = [
            Variant::new(
                "A  codex sandbox -- /bin/true",
                [codex, "sandbox", "--", "/bin/true"],
            ),
            Variant::new("B  bwrap (same flags) /bin/true", raw_bwrap),
            Variant::new("C  /bin/true", ["/bin/true"]),
        ];
        for variant in &variants {
            check_runs(base, &variant.argv)?;
        }

        println!(
            "startup bench: {WARM_UPS} warm-up + {iterations} measured rounds, interleaved; workspace {}",
            workspace.path().display()
        );
        println!(
            "B = {}",
            shell_words::join(variants[1].argv.iter().map(|a| a.to_string_lossy()))
        );
        for round in 0..WARM_UPS + iterations {
            for index in round_order(round) {
                let variant = &mut variants[index];
                let sample = run_once(base, &variant.argv)?;
                if round >= WARM_UPS {
                    variant.times.push(sample.wall);
                    variant.max_rss_kib = variant.max_rss_kib.max(sample.max_rss_kib);
                }
            }
        }
        report(&mut variants);
        Ok(())
    }

    impl Variant {
        fn new<S: Into<OsString>>(label: &'static str, argv: impl IntoIterator<Item = S>) -> Self {
            Variant {
                label,
                argv: argv.into_iter().map(Into::into).collect(),
                times: Vec::new(),
                max_rss_kib: 0,
            }
        }
    }

    fn iterations() -> Result<usize, String> {
        match std::env::var("CODEX_BENCH_ITERATIONS") {
            Err(_) => Ok(DEFAULT_ITERATIONS),
            Ok(value) => match value.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "CODEX_BENCH_ITERATIONS must be a positive integer, got {value:?}"
                )),
            },
        }
    }

    /// A B C on even rounds, C B A on odd ones.
    fn round_order(round: usize) -> [usize; 3] {
        if round.is_multiple_of(2) {
            [0, 1, 2]
        } else {
            [2, 1, 0]
        }
    }

    /// The bwrap argv `codex sandbox --explain` prints, without the two
    /// descriptor arguments only a launching `codex` can fill in.
    fn raw_bwrap_argv(mut explain: Command) -> Result<Vec<OsString>, String> {
        let output = explain
            .args(["sandbox", "--explain", "--", "/bin/true"])
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("running codex sandbox --explain: {err}"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "codex sandbox --explain failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        if text.contains("no usable bwrap found") {
            return Err(
                "no usable bwrap on PATH; install bubblewrap (e.g. apt-get install bubblewrap)"
                    .into(),
            );
        }
        let line = text
            .lines()
            .skip_while(|line| !line.starts_with("bwrap command"))
            .nth(1)
            .ok_or_else(|| format!("no bwrap command line in the --explain output:\n{text}"))?;
        let words = shell_words::split(line.trim())
            .map_err(|err| format!("cannot split the bwrap command {line:?}: {err}"))?;
        let mut argv = Vec::with_capacity(words.len());
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            if word == "--" {
                argv.push(word);
                argv.extend(words.by_ref());
                break;
            }
            if word == "--seccomp" || word == "--json-status-fd" {
                words.next();
                continue;
            }
            argv.push(word);
        }
        Ok(argv.into_iter().map(OsString::from).collect())
    }

    /// Runs `argv` once with its output captured and fails with that
    /// output unless it succeeds, so a broken setup is reported clearly
    /// instead of being timed.
    fn check_runs(base: impl Fn(&str) -> Command, argv: &[OsString]) -> Result<(), String> {
        let shown = shell_words::join(argv.iter().map(|a| a.to_string_lossy()));
        let (program, args) = split_program(argv)?;
        let output = base(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("cannot start {shown}: {err}"))?;
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "{shown} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }

    fn split_program(argv: &[OsString]) -> Result<(&str, &[OsString]), String> {
        let (program, args) = argv.split_first().ok_or("empty command")?;
        let program = program.to_str().ok_or_else(|| {
            format!(
                "program path is not UTF-8: {}",
                Path::new(program).display()
            )
        })?;
        Ok((program, args))
    }

    /// Spawns `argv` with null stdio, reaps it with `wait4` and returns the
    /// wall time and `ru_maxrss`. A non-zero exit is an error: timings of a
    /// failing sandbox would be meaningless.
    fn run_once(base: impl Fn(&str) -> Command, argv: &[OsString]) -> Result<Sample, String> {
        let (program, args) = split_program(argv)?;
        let mut command = base(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        reset_peak_rss();
        let start = Instant::now();
        let child = command
            .spawn()
            .map_err(|err| format!("cannot start {program}: {err}"))?;
        let pid = libc::pid_t::try_from(child.id()).map_err(|err| err.to_string())?;
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero `rusage` (integers and timevals) is valid.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: `pid` is our child, not yet reaped (`child` is never
            // waited on; dropping a `Child` does not wait), and both
            // pointers are to live, writable locals.
            let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if reaped == pid {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("wait4 on {program}: {err}"));
            }
        }
        let wall = start.elapsed();
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(format!("{program} ended with wait status {status:#x}"));
        }
        Ok(Sample {
            wall,
            max_rss_kib: usage.ru_maxrss,
        })
    }

    /// Resets this process's RSS high-water mark to its current RSS, so a
    /// child spawned next does not inherit an old peak of ours. Best
    /// effort: without it the RSS figures only get a higher floor, which C
    /// shows.
    fn reset_peak_rss() {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }

    fn report(variants: &mut [Variant]) {
        println!();
        println!(
            "{:<34} {:>10} {:>10} {:>14}",
            "variant", "median ms", "p90 ms", "max RSS MiB"
        );
        let mut medians = Vec::new();
        for variant in variants.iter_mut() {
            variant.times.sort_unstable();
            let median = percentile(&variant.times, 50);
            medians.push(median);
            println!(
                "{:<34} {:>10.3} {:>10.3} {:>14.2}",
                variant.label,
                ms(median),
                ms(percentile(&variant.times, 90)),
                mib(variant.max_rss_kib)
            );
        }
        println!();
        let ratio = ms(medians[0]) / ms(medians[1]).max(f64::MIN_POSITIVE);
        println!(
            "median(A) / median(B) = {ratio:.3}   target <= {TARGET_RATIO}   {}",
            verdict(ratio <= TARGET_RATIO)
        );
        println!(
            "codex - bwrap (median) = {:.3} ms",
            ms(medians[0]) - ms(medians[1])
        );
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

    fn verdict(met: bool) -> &'static str {
        if met { "met" } else { "NOT met" }
    }

    /// Nearest-rank percentile of sorted, non-empty `times`.
    fn percentile(times: &[Duration], pct: usize) -> Duration {
        let rank = (times.len() * pct).div_ceil(100).max(1);
        times.get(rank - 1).copied().unwrap_or_default()
    }

    fn ms(duration: Duration) -> f64 {
        duration.as_secs_f64() * 1000.0
    }

    fn mib(kib: i64) -> f64 {
        kib as f64 / 1024.0
    }
}
