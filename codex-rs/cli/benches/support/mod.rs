//! Timing helpers shared by the benchmarks: spawn-to-reap wall time and
//! peak RSS of a child, interleaved rounds, percentiles.
#![allow(dead_code)] // each bench uses a different subset

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One command under test and what was measured for it.
pub struct Variant {
    /// Shown in the report.
    pub label: String,
    /// The command.
    pub argv: Vec<OsString>,
    /// Environment variables set for this variant only.
    pub env: Vec<(OsString, OsString)>,
    /// Wall times of the measured rounds.
    pub times: Vec<Duration>,
    /// Largest `ru_maxrss` seen, in KiB.
    pub max_rss_kib: i64,
}

impl Variant {
    /// A variant running `argv`.
    pub fn new<S: Into<OsString>>(label: &str, argv: impl IntoIterator<Item = S>) -> Self {
        Variant {
            label: label.to_string(),
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            times: Vec::new(),
            max_rss_kib: 0,
        }
    }

    /// The same variant with `name=value` in its environment.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The median of the measured times.
    pub fn median(&self) -> Duration {
        let mut times = self.times.clone();
        times.sort_unstable();
        percentile(&times, 50)
    }

    /// The 90th percentile of the measured times.
    pub fn p90(&self) -> Duration {
        let mut times = self.times.clone();
        times.sort_unstable();
        percentile(&times, 90)
    }
}

/// What one reaped run cost.
pub struct Sample {
    /// Spawn to reap.
    pub wall: Duration,
    /// `ru_maxrss` of the child (and the descendants it reaped), KiB.
    pub max_rss_kib: i64,
}

/// A positive integer from the environment variable `name`, or `default`.
pub fn count_from_env(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => match value.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, got {value:?}")),
        },
    }
}

/// Runs `warm_ups` discarded rounds then `rounds` measured ones; every
/// round runs each variant once, forwards on even rounds and backwards on
/// odd ones, so drift hits all alike and no variant always follows another.
pub fn run_rounds(
    base: &impl Fn(&str) -> Command,
    variants: &mut [Variant],
    warm_ups: usize,
    rounds: usize,
) -> Result<(), String> {
    for variant in variants.iter() {
        check_runs(base, variant)?;
    }
    for round in 0..warm_ups + rounds {
        let order: Vec<usize> = if round.is_multiple_of(2) {
            (0..variants.len()).collect()
        } else {
            (0..variants.len()).rev().collect()
        };
        for index in order {
            let variant = &mut variants[index];
            let sample = run_once(base, variant)?;
            if round >= warm_ups {
                variant.times.push(sample.wall);
                variant.max_rss_kib = variant.max_rss_kib.max(sample.max_rss_kib);
            }
        }
    }
    Ok(())
}

fn command_for(base: &impl Fn(&str) -> Command, variant: &Variant) -> Result<Command, String> {
    let (program, args) = variant.argv.split_first().ok_or("empty command")?;
    let program = program.to_str().ok_or_else(|| {
        format!(
            "program path is not UTF-8: {}",
            Path::new(program).display()
        )
    })?;
    let mut command = base(program);
    command
        .args(args)
        .envs(variant.env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null());
    Ok(command)
}

/// Runs the variant once with its output captured and fails with that
/// output unless it succeeds, so a broken setup is reported clearly
/// instead of being timed.
pub fn check_runs(base: &impl Fn(&str) -> Command, variant: &Variant) -> Result<(), String> {
    let shown = shell_words::join(variant.argv.iter().map(|a| a.to_string_lossy()));
    let output = command_for(base, variant)?
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

/// Spawns the variant with null stdio, reaps it with `wait4` and returns
/// the wall time and `ru_maxrss`. A non-zero exit is an error: timings of
/// a failing run would be meaningless.
pub fn run_once(base: &impl Fn(&str) -> Command, variant: &Variant) -> Result<Sample, String> {
    let mut command = command_for(base, variant)?;
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let program = variant.argv[0].to_string_lossy().into_owned();
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
        // waited on; dropping a `Child` does not wait), and both pointers
        // are to live, writable locals.
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
/// child spawned next does not inherit an old peak of ours. Best effort:
/// without it the RSS figures only get a higher floor.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// "met" or "NOT met".
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// Nearest-rank percentile of sorted, non-empty `times`.
pub fn percentile(times: &[Duration], pct: usize) -> Duration {
    let rank = (times.len() * pct).div_ceil(100).max(1);
    times.get(rank - 1).copied().unwrap_or_default()
}

/// Milliseconds.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// KiB to MiB.
pub fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

/// The bwrap argv a start of `codex sandbox OPTIONS -- COMMAND` runs, as
/// `codex sandbox --explain` prints it (`explain` is the codex command
/// with its working directory and environment set), ready to run by hand:
/// without the descriptor arguments only a launching `codex` can fill in
/// (`--seccomp`, `--json-status-fd`), and with COMMAND in place of the
/// inner stage where the guard would run one, so the raw bwrap has the
/// same namespaces and the very same mounts, and nothing of codex's own.
pub fn raw_bwrap_argv(
    mut explain: Command,
    options: &[&str],
    command: &str,
) -> Result<Vec<OsString>, String> {
    let output = explain
        .arg("sandbox")
        .args(options)
        .args(["--explain", "--", command])
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
    if text.contains("no usable bwrap") {
        return Err(
            "no usable bwrap on PATH; install bubblewrap (e.g. apt-get install bubblewrap)".into(),
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
            argv.extend([word, command.to_string()]);
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

/// Where a bench's workspace lies on a memory filesystem, so the disk's
/// writeback does not hide what the sandbox costs: a `tmpfs` mounted on a
/// fresh directory of `/var/tmp` when the bench runs as root (unmounted
/// when dropped), else that directory on the disk. Never `/dev/shm`: the
/// sandbox gives `/dev` a fresh instance, so a workspace there is not
/// found inside it.
pub struct MemoryFs {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl MemoryFs {
    /// Makes the directory and mounts a `tmpfs` of `size` (`mount`'s
    /// spelling, `2g`) on it where it can.
    pub fn new(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir_in("/var/tmp").map_err(|err| err.to_string())?;
        // SAFETY: geteuid has no preconditions.
        let mounted = unsafe { libc::geteuid() } == 0
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "codex-bench"])
                .arg(dir.path())
                .status()
                .is_ok_and(|status| status.success());
        Ok(MemoryFs { dir, mounted })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where it lies, for a report.
    pub fn kind(&self) -> &'static str {
        if self.mounted {
            "a memory filesystem"
        } else {
            "the disk (/var/tmp; a tmpfs needs root)"
        }
    }
}

impl Drop for MemoryFs {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(self.dir.path()).status();
        }
    }
}
