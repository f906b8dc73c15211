//! Exit statuses, signals and process lifetime, checked from the host.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{World, assert_code, stderr};

#[test]
fn the_commands_exit_status_passes_through() {
    require_sandbox!();
    let world = World::new();
    for code in [0, 1, 7, 42, 255] {
        assert_code(&world.sh(&[], &format!("exit {code}")), code);
    }
}

#[test]
fn a_signal_death_comes_back_as_128_plus_n() {
    require_sandbox!();
    let world = World::new();
    assert_code(&world.sh(&[], "kill -TERM $$"), 128 + 15);
    assert_code(&world.sh(&[], "kill -KILL $$"), 128 + 9);
    assert_code(&world.sh(&[], "kill -SEGV $$"), 128 + 11);
}

/// Host pids whose command line is exactly `argv`.
fn pids_running(argv: &[&str]) -> Vec<u32> {
    let wanted = argv.join("\0") + "\0";
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
                .is_ok_and(|cmdline| cmdline == wanted.as_bytes())
        })
        .collect()
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// Starts `child` (which runs `count` sandboxed `sleep MARKER`), waits
/// for the sleeps, sends `signal` to `child` and checks that every sleep
/// ends. `start` gets the world and a sleep duration unique to the caller.
fn killing_ends_every_sleep(
    tag: u32,
    count: usize,
    signal: i32,
    start: impl FnOnce(&World, &str) -> std::process::Child,
) {
    let world = World::new();
    // A duration unique to this test process, to find its sleeps on the host.
    let marker = (600_000 + tag * 100_000 + std::process::id() % 90_000).to_string();
    let mut child = start(&world, &marker);
    let sleeps = ["sleep", marker.as_str()];
    assert!(
        wait_until(Duration::from_secs(10), || pids_running(&sleeps).len()
            == count),
        "the sandboxed sleeps never started: {:?}",
        pids_running(&sleeps)
    );
    // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let _ = child.wait();
    assert!(
        wait_until(Duration::from_secs(10), || pids_running(&sleeps).is_empty()),
        "sandboxed processes outlived what was killed: {:?}",
        pids_running(&sleeps)
    );
}

fn killing_the_sandbox_kills_the_tree(signal: i32) {
    killing_ends_every_sleep(signal as u32, 3, signal, |world, marker| {
        let script = format!("sleep {marker} & sleep {marker} & (sleep {marker} &) ; wait");
        world
            .command(&[], &["sh", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
}

#[test]
fn sigkill_on_the_sandbox_kills_every_sandboxed_process() {
    require_sandbox!();
    killing_the_sandbox_kills_the_tree(libc::SIGKILL);
}

#[test]
fn sigterm_on_the_sandbox_kills_every_sandboxed_process() {
    require_sandbox!();
    killing_the_sandbox_kills_the_tree(libc::SIGTERM);
}

#[test]
fn the_command_runs_in_the_workspace_with_its_arguments_intact() {
    require_sandbox!();
    let world = World::new();
    let output = world.run(
        &[],
        &[
            "sh",
            "-c",
            "pwd; printf '%s|' \"$@\"",
            "sh",
            "a b",
            "--bind",
            "",
            "*",
        ],
    );
    assert_code(&output, 0);
    let out = common::stdout(&output);
    assert_eq!(
        out,
        format!("{}\na b|--bind||*|", world.ws.display()),
        "{}",
        stderr(&output)
    );
}

#[test]
fn sigint_on_the_sandbox_kills_every_sandboxed_process() {
    require_sandbox!();
    killing_the_sandbox_kills_the_tree(libc::SIGINT);
}

/// The agent that started the sandbox dies: the helper, reparented, must
/// end the sandbox rather than let the command run on.
#[test]
fn killing_the_parent_of_the_sandbox_kills_every_sandboxed_process() {
    require_sandbox!();
    killing_ends_every_sleep(3, 2, libc::SIGKILL, |world, marker| {
        let script = format!("sleep {marker} & sleep {marker} & wait");
        let sandbox = world.command(&[], &["sh", "-c", &script]);
        // The parent: a shell that starts the helper and waits for it.
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("\"$@\" & wait")
            .arg("parent")
            .arg(sandbox.get_program())
            .args(sandbox.get_args())
            .env("CODEX_HOME", &world.codex_home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
}

/// A command that daemonizes (double fork, new session) and exits at once:
/// the daemon must not outlive the sandbox.
#[test]
fn a_daemon_started_by_the_command_does_not_outlive_the_sandbox() {
    require_sandbox!();
    let world = World::new();
    let marker = (700_000 + std::process::id() % 90_000).to_string();
    let output = world.sh(
        &[],
        &format!("(setsid sleep {marker} > /dev/null 2>&1 < /dev/null &) ; sleep 0.2; exit 0"),
    );
    assert_code(&output, 0);
    let sleeps = ["sleep", marker.as_str()];
    assert!(
        wait_until(Duration::from_secs(5), || pids_running(&sleeps).is_empty()),
        "a daemon outlived the sandbox: {:?}",
        pids_running(&sleeps)
    );
}

/// Quiet when healthy: what is only informational (bwrap too old for
/// `--argv0`, the bundled bwrap in use, no `/proc` here) is said on the
/// first run of this host and version, never again; a second run prints
/// nothing of ours.
#[test]
fn a_repeated_run_prints_nothing_of_ours() {
    require_sandbox!();
    let world = World::new();
    let first = world.run(&[], &["true"]);
    assert_code(&first, 0);
    for line in stderr(&first).lines() {
        assert!(line.contains(": warning: "), "not a notice: {line}");
    }
    let second = world.run(&[], &["true"]);
    assert_code(&second, 0);
    assert_eq!(stderr(&second), "", "the second run spoke");
}

/// No zombies: bwrap's init can outlive the bwrap `codex` waits for, and
/// would be left to the nearest subreaper (an agent that is PID 1 of its
/// container never reaps it). Here a small Python program is that
/// subreaper (a process of its own, so the other tests' orphans are not
/// counted), and reaps nothing but its direct children: after 50 runs it
/// holds no zombie.
#[test]
fn fifty_runs_leave_no_zombie_to_a_subreaper() {
    require_sandbox!();
    const SUBREAPER: &str = r#"
import ctypes, os, subprocess, sys, time
PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
for _ in range(50):
    subprocess.run(sys.argv[1:], check=True, stdin=subprocess.DEVNULL)
time.sleep(0.2)
zombies = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    fields = stat.rsplit(") ", 1)[-1].split()
    if fields[:2] == ["Z", str(os.getpid())]:
        zombies.append(stat)
print(len(zombies), zombies[:1])
"#;
    let world = World::new();
    let run = world.command(&[], &["true"]);
    let mut subreaper = std::process::Command::new("/usr/bin/python3");
    subreaper.arg("-c").arg(SUBREAPER).arg(run.get_program());
    subreaper.args(run.get_args());
    for (key, value) in run.get_envs() {
        if let Some(value) = value {
            subreaper.env(key, value);
        }
    }
    let output = subreaper.output().unwrap();
    assert_code(&output, 0);
    assert_eq!(common::stdout(&output), "0 []\n");
}

/// Unsandboxed (`:danger-full-access`) the command still runs in the
/// directory `-C` names, as every sandboxed profile does.
#[test]
fn the_unsandboxed_profile_runs_in_the_named_directory() {
    let world = World::new();
    let output = world.run(&["-P", ":danger-full-access"], &["pwd"]);
    assert_code(&output, 0);
    assert_eq!(
        common::stdout(&output).trim_end(),
        world.ws.display().to_string()
    );
}
