//! Temporary roots (`/tmp`, `$TMPDIR`) are shared scratch space: only
//! their top level is protected, nothing below it is scanned, and what
//! other processes and users keep or change there never stops, slows or
//! weakens a start. The workspace keeps every protection, even when it
//! lies in `/tmp` itself (as every [`World`] does).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{TEST_PROFILE_CONFIG, World, assert_code, stderr, stdout, unguarded_pass};

/// The test profile with `/tmp` writable too, as `:workspace` has it.
fn with_slash_tmp() -> String {
    format!("{TEST_PROFILE_CONFIG}\":slash_tmp\" = \"write\"\n")
}

/// Whether `path` exists (a dangling link counts).
fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// A repository at `path` as git makes one, to find or to lose.
fn plant_repository(path: &Path) {
    std::fs::create_dir_all(path.join(".git/objects")).unwrap();
    std::fs::create_dir_all(path.join(".git/refs")).unwrap();
    std::fs::write(path.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
}

#[test]
fn below_the_top_of_a_temporary_root_git_works_at_its_top_it_is_refused() {
    require_sandbox!();
    let world = World::new();
    world.config(&with_slash_tmp());
    // `outside` lies in /tmp, below its top, and in no project root.
    let scratch = world.outside.display().to_string();
    let ws = world.ws.display().to_string();
    let output = world.sh(
        &[],
        &format!(
            "git init -q {scratch}/made && git -c user.name=t -c user.email=t@t -C {scratch}/made \
             commit -q --allow-empty -m first && git clone -q {scratch}/made {scratch}/cloned \
             && echo git-ok; mkdir {ws}/sub && git init -q {ws}/sub 2>/dev/null || echo ws-refused"
        ),
    );
    assert_code(&output, 0);
    let shown = stdout(&output);
    assert!(shown.contains("git-ok"), "{shown}\n{}", stderr(&output));
    assert!(world.outside.join("made/.git/HEAD").is_file());
    assert!(world.outside.join("cloned/.git/HEAD").is_file());
    // The workspace, although in /tmp too, still refuses a new repository
    // (where the guard runs: without it any directory takes one).
    if !unguarded_pass() {
        assert!(shown.contains("ws-refused"), "{shown}");
        assert!(!exists(&world.ws.join("sub/.git")));
    }

    // Other sandboxes running beside this test (without the guard) may
    // hold a masked name at the top of /tmp as their mount point, marked
    // with the sticky bit and empty; the command's own mkdir must fail,
    // and leave nothing else.
    for name in [".git", ".codex", ".agents", ".aws"] {
        let top = Path::new("/tmp").join(name);
        let output = world.sh(
            &[],
            &format!(
                "mkdir {t} && echo made > {t}/mark || echo refused",
                t = top.display()
            ),
        );
        assert!(stdout(&output).contains("refused"), "{}", stderr(&output));
        assert!(!exists(&top.join("mark")), "{} was made", top.display());
    }
}

/// A directory made in a temporary root may hold a repository; moving it
/// whole into the workspace would plant that repository there, so the
/// rename fails as between filesystems (`EXDEV`), and `mv` falls back to
/// copying, where the guard judges each entry. With the guard every
/// writable root is a mount of its own (as under Codex, which binds each
/// writable root), so a file renamed from one root into another gets
/// `EXDEV` from the kernel too, and `mv` copies it.
#[test]
fn a_directory_cannot_move_from_a_temporary_root_into_the_workspace() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard a new repository may be made anywhere");
        return;
    }
    let world = World::new();
    world.config(&with_slash_tmp());
    let program = format!(
        "import os, errno\n\
         os.makedirs('{o}/repo/.git/refs')\n\
         os.makedirs('{o}/plain')\n\
         open('{o}/file', 'w').close()\n\
         for name in ('repo', 'plain', 'file'):\n\
         \x20   try:\n\
         \x20       os.rename('{o}/' + name, '{w}/' + name)\n\
         \x20       print(name, 'moved')\n\
         \x20   except OSError as err:\n\
         \x20       print(name, errno.errorcode[err.errno])\n",
        o = world.outside.display(),
        w = world.ws.display()
    );
    let output = world
        .guarded(&[], &["/usr/bin/python3", "-c", &program])
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(
        stdout(&output),
        "repo EXDEV\nplain EXDEV\nfile EXDEV\n",
        "{}",
        stderr(&output)
    );
    assert!(!exists(&world.ws.join("repo")));
    let file = world.outside.join("file").display().to_string();
    let output = world.sh(&[], &format!("mv {file} . && echo moved"));
    assert_eq!(stdout(&output), "moved\n", "{}", stderr(&output));
    assert!(world.ws.join("file").is_file());
    // `mv` copies instead, and the guard refuses the repository's name.
    let output = world
        .guarded(
            &[],
            &[
                "mv",
                &world.outside.join("repo").display().to_string(),
                &world.ws.display().to_string(),
            ],
        )
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(!exists(&world.ws.join("repo/.git")));
}

/// What others keep in `/tmp` is not the sandbox's business: 300
/// repositories and links to the whole disk beside the workspace are
/// neither scanned nor mounted (they used to exceed the mount limit and
/// refuse every start).
#[test]
fn what_others_keep_in_tmp_changes_nothing() {
    require_sandbox!();
    let world = World::new();
    world.config(&with_slash_tmp());
    let others = world.outside.join("others");
    for index in 0..300 {
        plant_repository(&others.join(format!("r{index}")));
    }
    std::os::unix::fs::symlink("/", others.join("root")).unwrap();
    std::os::unix::fs::symlink("/usr", others.join("usr")).unwrap();
    let output = world.run(&["--explain"], &["true"]);
    assert_code(&output, 0);
    let explained = stdout(&output);
    assert!(
        !explained.contains(&others.display().to_string()),
        "{explained}"
    );
    assert_code(&world.run(&[], &["true"]), 0);
}

/// Another process creating and deleting repositories in `/tmp` (and,
/// with the guard, which needs no scan of the workspace, in the workspace
/// too) while sandboxes start: none of 200 starts fails, and no deleted
/// directory comes back.
#[test]
fn starts_never_fail_while_repositories_come_and_go() {
    require_sandbox!();
    let world = World::new();
    world.config(&with_slash_tmp());
    let mut places: Vec<PathBuf> = (0..8)
        .map(|index| world.outside.join(format!("churn{index}")))
        .collect();
    if !unguarded_pass() {
        places.extend((0..8).map(|index| world.ws.join(format!("churn{index}"))));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = Arc::clone(&stop);
        let places = places.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for place in &places {
                    plant_repository(place);
                }
                for place in &places {
                    let _ = std::fs::remove_dir_all(place);
                }
            }
        })
    };
    let mut failures = Vec::new();
    for _ in 0..200 {
        let output = world.run(&[], &["true"]);
        if output.status.code() != Some(0) {
            failures.push(stderr(&output));
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of 200 starts failed, first: {}",
        failures.len(),
        failures[0]
    );
    for place in &places {
        assert!(!exists(place), "{} came back", place.display());
    }
}

/// A `$TMPDIR` inside the workspace is no scratch space: what is made
/// there lies in the project, where host tools find it.
#[test]
fn a_tmpdir_inside_the_workspace_keeps_the_workspaces_rules() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard a new repository may be made anywhere");
        return;
    }
    let world = World::new();
    let tmpdir = world.ws.join("tmpd");
    std::fs::create_dir(&tmpdir).unwrap();
    let output = world
        .guarded(
            &["-P", ":workspace"],
            &["sh", "-c", "mkdir tmpd/x && mkdir tmpd/x/.git && echo made"],
        )
        .env("TMPDIR", &tmpdir)
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(!exists(&tmpdir.join("x/.git")));
    assert!(tmpdir.join("x").is_dir());
}

/// An empty `.git` or `.codex` that appears at the top of a temporary root
/// while the command runs (another process left it; one there at start is
/// mounted read-only) is not filled: it is what host git finds above every
/// directory there without a repository of its own. Below the top a
/// repository may still be made.
#[test]
fn an_empty_protected_directory_appearing_at_the_top_of_a_temporary_root_stays_empty() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard what appears during a run is not protected");
        return;
    }
    for (profile, expect_filled) in [(":workspace", false), (":danger-full-access", true)] {
        let world = World::new();
        let tmpdir = world.outside.join("tmpd");
        std::fs::create_dir(&tmpdir).unwrap();
        let child = world
            .guarded(
                &["-P", profile],
                &[
                    "sh",
                    "-c",
                    "cd \"$TMPDIR\"; i=0; while [ ! -d .codex ] && [ $i -lt 200 ]; do sleep 0.05; \
                     i=$((i+1)); done; mkdir .git/objects .git/refs; echo 'ref: refs/heads/main' > \
                     .git/HEAD; echo x > .codex/config.toml; mkdir -p below/.git && echo below-ok",
                ],
            )
            .env("TMPDIR", &tmpdir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        for name in [".git", ".codex"] {
            std::fs::create_dir(tmpdir.join(name)).unwrap();
        }
        let output = child.wait_with_output().unwrap();
        assert!(stdout(&output).contains("below-ok"), "{}", stderr(&output));
        let filled = exists(&tmpdir.join(".git/HEAD"))
            || exists(&tmpdir.join(".git/objects"))
            || exists(&tmpdir.join(".codex/config.toml"));
        assert_eq!(filled, expect_filled, "{profile}: {}", stderr(&output));
    }
}

/// Runs `script` in `world` under `profile` with `$TMPDIR` at `tmpdir`.
fn run_with_tmpdir(world: &World, profile: &str, tmpdir: &Path, script: &str) -> String {
    let output = world
        .guarded(&["-P", profile], &["sh", "-c", script])
        .env("TMPDIR", tmpdir)
        .output()
        .unwrap();
    stderr(&output)
}

/// The top of a temporary root does not become a bare repository (`git
/// init --bare "$TMPDIR"`): it would be the repository of every directory
/// there without one of its own. Unsandboxed it does (the control).
#[test]
fn the_top_of_a_temporary_root_does_not_become_a_repository() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: the guard refuses what completes a repository");
        return;
    }
    for (profile, expect_repository) in [(":workspace", false), (":danger-full-access", true)] {
        let world = World::new();
        let tmpdir = world.outside.join("tmpd");
        std::fs::create_dir(&tmpdir).unwrap();
        let shown = run_with_tmpdir(
            &world,
            profile,
            &tmpdir,
            "cd \"$TMPDIR\"; mkdir objects refs; echo 'ref: refs/heads/main' > HEAD",
        );
        let repository = exists(&tmpdir.join("HEAD"))
            && exists(&tmpdir.join("objects"))
            && exists(&tmpdir.join("refs"));
        assert_eq!(repository, expect_repository, "{profile}: {shown}");
    }
}

/// A workspace whose `.git` file names a git directory in a temporary
/// root: that directory is bound read-only, and its parent, scratch space
/// as it is, cannot be renamed away to free the path for a planted one.
#[test]
fn a_git_directory_bound_in_a_temporary_root_keeps_its_path() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: the guard refuses moving a directory holding a mount");
        return;
    }
    for (profile, expect_planted) in [(":workspace", false), (":danger-full-access", true)] {
        let world = World::new();
        let tmpdir = world.outside.join("tmpd");
        let gitdir = tmpdir.join("store/realgit");
        plant_repository(&gitdir);
        let gitdir = gitdir.join(".git");
        std::fs::remove_dir_all(world.ws.join(".git")).unwrap();
        std::fs::write(
            world.ws.join(".git"),
            format!("gitdir: {}\n", gitdir.display()),
        )
        .unwrap();
        let shown = run_with_tmpdir(
            &world,
            profile,
            &tmpdir,
            "cd \"$TMPDIR\"; mv store store.old; mkdir -p store/realgit/.git && \
             echo planted > store/realgit/.git/config",
        );
        let planted = std::fs::read_to_string(gitdir.join("config"))
            .is_ok_and(|text| text.contains("planted"));
        assert_eq!(planted, expect_planted, "{profile}: {shown}");
    }
}

/// What another user links below the top of a temporary root refuses no
/// start: a linked worktree of the workspace's repository recorded in
/// `$TMPDIR` and gone (the directory removed, the worktree not pruned),
/// whose path someone made a symlink, is scratch, not a path of git's
/// configuration the start must keep (it refused every start, 78).
#[test]
fn a_link_below_the_top_of_a_temporary_root_refuses_no_start() {
    require_sandbox!();
    let world = World::new();
    let tmpdir = world.outside.join("tmpd");
    std::fs::create_dir_all(&tmpdir).unwrap();
    std::fs::write(
        world.ws.join(".git/config"),
        "[core]\n\thooksPath = .husky\n",
    )
    .unwrap();
    let admin = world.ws.join(".git/worktrees/gone");
    std::fs::create_dir_all(&admin).unwrap();
    std::fs::write(
        admin.join("gitdir"),
        format!("{}\n", tmpdir.join("gone/.git").display()),
    )
    .unwrap();
    std::os::unix::fs::symlink(&world.outside, tmpdir.join("gone")).unwrap();
    let output = world
        .guarded(&["-P", ":workspace"], &["true"])
        .env("TMPDIR", &tmpdir)
        .output()
        .unwrap();
    assert_code(&output, 0);
}
