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

fn killing_the_sandbox_kills_the_tree(signal: i32) {
    let world = World::new();
    // A duration unique to this test process, to find its sleeps on the host.
    let marker = (900_000 + std::process::id() % 90_000 + signal as u32).to_string();
    let script = format!("sleep {marker} & sleep {marker} & (sleep {marker} &) ; wait");
    let mut child = world
        .command(&[], &["sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sleeps = ["sleep", marker.as_str()];
    assert!(
        wait_until(Duration::from_secs(10), || pids_running(&sleeps).len() == 3),
        "the sandboxed sleeps never started: {:?}",
        pids_running(&sleeps)
    );
    // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let _ = child.wait();
    assert!(
        wait_until(Duration::from_secs(10), || pids_running(&sleeps).is_empty()),
        "sandboxed processes outlived the sandbox: {:?}",
        pids_running(&sleeps)
    );
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
