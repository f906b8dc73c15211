//! Nothing left behind: after a run the host holds exactly what the
//! command wrote. Masks over missing paths need mount points, which the
//! launch makes and removes again; with the guard (the default) a missing
//! protected name needs no mask at all. Run by both passes, guarded and
//! unguarded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{TEST_PROFILE_CONFIG, World, assert_code, stdout};

/// Everything in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A profile writing `dir` and denying a missing path in it.
fn writing(dir: &Path) -> String {
    format!(
        "{TEST_PROFILE_CONFIG}\"{}\" = \"write\"\n\"{}/keys/prod\" = \"deny\"\n",
        dir.display(),
        dir.display()
    )
}

#[test]
fn an_empty_directory_is_still_empty_after_a_run_and_git_clone_works_there() {
    require_sandbox!();
    let world = World::new();
    let empty = world.outside.join("empty");
    std::fs::create_dir(&empty).unwrap();
    world.config(&format!(
        "{TEST_PROFILE_CONFIG}\"{}\" = \"write\"\n",
        empty.display()
    ));
    let output = world
        .command_in(&empty, &[], &["ls", "-A"])
        .output()
        .unwrap();
    assert_code(&output, 0);
    // Without the guard the missing protected names are masked: empty
    // read-only directories inside, never on the host.
    let shown = stdout(&output);
    assert!(
        shown
            .lines()
            .all(|name| [".git", ".codex", ".agents", ".aws"].contains(&name)),
        "{shown}"
    );
    world.config(&writing(&empty));
    assert_code(
        &world.command_in(&empty, &[], &["true"]).output().unwrap(),
        0,
    );
    assert!(
        entries(&empty).is_empty(),
        "left behind: {:?}",
        entries(&empty)
    );
    assert!(
        entries(&world.ws).iter().all(|name| name == ".git"),
        "left in the workspace: {:?}",
        entries(&world.ws)
    );
    let cloned = Command::new("git")
        .args(["clone", "-q"])
        .arg(&world.ws)
        .arg(".")
        .current_dir(&empty)
        .output()
        .unwrap();
    assert!(
        cloned.status.success(),
        "{}",
        String::from_utf8_lossy(&cloned.stderr)
    );
}

#[test]
fn masked_missing_paths_stay_uncreatable_during_the_run() {
    require_sandbox!();
    let world = World::new();
    let root = world.outside.join("root");
    std::fs::create_dir(&root).unwrap();
    world.config(&writing(&root));
    let output = world
        .command_in(
            &root,
            &[],
            &[
                "sh",
                "-c",
                "mkdir -p keys/prod 2>/dev/null && echo MADE-KEYS; mkdir .git 2>/dev/null && echo MADE-GIT; true",
            ],
        )
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "", "a masked or guarded path was created");
    assert!(
        entries(&root).is_empty(),
        "left behind: {:?}",
        entries(&root)
    );
}

/// Two overlapping runs in one root: the one that ends first must not
/// take away the masks the other still relies on, and the last one leaves
/// nothing.
#[test]
fn overlapping_runs_keep_each_others_masks_and_leave_nothing() {
    require_sandbox!();
    let world = World::new();
    let root = world.outside.join("shared");
    std::fs::create_dir(&root).unwrap();
    world.config(&writing(&root));
    let long = world
        .command_in(
            &root,
            &[],
            &[
                "sh",
                "-c",
                "sleep 1; mkdir -p keys/prod 2>/dev/null && echo MADE-KEYS; \
                 mkdir .agents 2>/dev/null && echo MADE-AGENTS; true",
            ],
        )
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let short = world.command_in(&root, &[], &["true"]).output().unwrap();
        assert_code(&short, 0);
    }
    let long = long.wait_with_output().unwrap();
    assert_code(&long, 0);
    assert_eq!(
        stdout(&long),
        "",
        "protection was lost when the short runs ended"
    );
    assert!(
        entries(&root).is_empty(),
        "left behind: {:?}",
        entries(&root)
    );
}

/// In a directory this user cannot write, nothing is masked (nothing could
/// be made there anyway) and the command runs, read-only there.
#[test]
fn a_directory_the_user_cannot_write_still_runs() {
    require_sandbox!();
    if nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED for root, who may write anywhere: the unprivileged pass runs it");
        return;
    }
    let world = World::new();
    let closed = Path::new("/usr/share");
    world.config(&writing(closed));
    let output = world
        .command_in(closed, &[], &["sh", "-c", "ls >/dev/null && echo RAN"])
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "RAN\n");
}
