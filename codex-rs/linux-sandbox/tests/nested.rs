//! Existing repositories and tool configs below the top of the workspace
//! stay read-only at any depth, under any name git would read them by,
//! while start-up reads nothing of the tree: the guard refuses every
//! write, creation, removal, move and link inside one as the command runs.
//! And the workspace itself, with every directory above it, stays where it
//! is, so nothing made in `/tmp` can come to lie inside it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::path::Path;
use std::process::Command;

use common::{TEST_PROFILE_CONFIG, World, assert_code, read, stderr, stdout, unguarded_pass};

/// A directory twelve levels below the workspace: deeper than any scan.
const DEEP: &str = "a/b/c/d/e/f/g/h/i/j/k/l";

/// Every way of changing what lies in `git_dir` (relative to the
/// workspace), each expected to fail.
fn attacks(git_dir: &str) -> Vec<String> {
    [
        "echo '[core] fsmonitor = evil' >> {g}/config",
        "echo evil > {g}/hooks/pre-commit",
        "/usr/bin/python3 -c \"import os; os.truncate('{g}/config', 0)\"",
        "/usr/bin/python3 -c \"import os; fd = os.open('{g}/config', os.O_RDWR); os.write(fd, b'x')\"",
        "rm {g}/config",
        "rm -rf {g}",
        "mv {g}/config moved-config",
        "mv {g} moved-git",
        "ln {g}/config hard-link && echo evil >> hard-link",
        "ln -s /tmp {g}/planted-link",
        "mkfifo {g}/planted-fifo",
        "touch outside-file && mv outside-file {g}/planted-file",
        "/usr/bin/python3 -c \"import os; os.open('{g}', os.O_TMPFILE | os.O_WRONLY, 0o600)\"",
        // A descriptor that only names the file (O_PATH), opened again for
        // writing through procfs, with and without O_CREAT.
        "/usr/bin/python3 -c \"import os; p = os.open('{g}/config', os.O_PATH); \
         os.write(os.open('/dev/fd/%d' % p, os.O_WRONLY | os.O_APPEND | os.O_CREAT), b'x')\"",
        "/usr/bin/python3 -c \"import os; p = os.open('{g}/hooks', os.O_PATH); \
         os.open('/proc/self/fd/%d/pre-commit' % p, os.O_WRONLY | os.O_CREAT, 0o755)\"",
    ]
    .iter()
    .map(|attack| attack.replace("{g}", git_dir))
    .collect()
}

/// A repository at `dir` (below the workspace), made by git.
fn repository(world: &World, dir: &str) {
    let path = world.ws.join(dir);
    std::fs::create_dir_all(&path).unwrap();
    let status = Command::new("git")
        .args(["init", "-q"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(path.join(".git/config"), "[core]\n\tbare = false\n").unwrap();
}

/// Runs each attack and asserts, from the host, that `git_dir` is as it
/// was and nothing was planted or moved.
fn assert_unchanged_after_attacks(world: &World, git_dir: &str, options: &[&str]) {
    let config = world.ws.join(git_dir).join("config");
    let before = read(&config).unwrap();
    for attack in attacks(git_dir) {
        let output = world
            .guarded(options, &["sh", "-c", &attack])
            .output()
            .unwrap();
        assert_ne!(output.status.code(), Some(0), "`{attack}` succeeded");
    }
    assert_eq!(read(&config).unwrap(), before);
    let dir = world.ws.join(git_dir);
    for planted in [
        "hooks/pre-commit",
        "planted-link",
        "planted-fifo",
        "planted-file",
    ] {
        assert!(!exists(&dir.join(planted)), "{planted} was planted");
    }
    assert!(!exists(&world.ws.join("moved-git")));
    assert!(!exists(&world.ws.join("moved-config")));
}

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

#[test]
fn a_repository_at_any_depth_stays_read_only() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard only what the scan reaches is read-only");
        return;
    }
    let world = World::new();
    let dir = format!("{DEEP}/repo");
    repository(&world, &dir);
    let git_dir = format!("{dir}/.git");
    // Control: without the guard the scan stops 8 levels down, and every
    // attack of the list has its effect.
    let control = world
        .guarded(
            &["--disable", "guard_protected_names"],
            &["sh", "-c", &format!("echo control >> {git_dir}/config")],
        )
        .output()
        .unwrap();
    assert_code(&control, 0);
    assert!(
        read(&world.ws.join(&git_dir).join("config"))
            .unwrap()
            .ends_with("control\n")
    );
    assert_unchanged_after_attacks(&world, &git_dir, &[]);
    // Its working files stay writable.
    let output = world.sh(&[], &format!("echo work > {dir}/file && rm {dir}/file"));
    assert_code(&output, 0);
}

/// A shallow repository is read-only in both pipelines (bound read-only
/// by the scan without the guard).
#[test]
fn a_nested_repository_stays_read_only_in_every_pipeline() {
    require_sandbox!();
    let world = World::new();
    repository(&world, "vendor/lib");
    assert_unchanged_after_attacks(&world, "vendor/lib/.git", &[]);
}

/// A git directory under an ordinary name (a `.git` file's `gitdir:`, a
/// bare repository) is a repository too: git runs its hooks and config.
#[test]
fn a_git_directory_under_another_name_stays_read_only() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard a bare repository is not protected");
        return;
    }
    let world = World::new();
    let worktree = world.ws.join(DEEP).join("wt");
    std::fs::create_dir_all(&worktree).unwrap();
    let separate = world.ws.join("store/realgit");
    std::fs::create_dir_all(separate.parent().unwrap()).unwrap();
    let status = Command::new("git")
        .args(["init", "-q", "--separate-git-dir"])
        .arg(&separate)
        .arg(&worktree)
        .status()
        .unwrap();
    assert!(status.success());
    let bare = world.ws.join("fixtures/bare.git");
    let status = Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&bare)
        .status()
        .unwrap();
    assert!(status.success());
    // A legacy symref: HEAD a symbolic link to a branch not yet made.
    let legacy = world.ws.join("fixtures/legacy");
    for dir in ["objects", "refs/heads", "hooks"] {
        std::fs::create_dir_all(legacy.join(dir)).unwrap();
    }
    std::os::unix::fs::symlink("refs/heads/main", legacy.join("HEAD")).unwrap();
    std::fs::write(legacy.join("config"), "[core]\n\tbare = true\n").unwrap();
    for git_dir in ["store/realgit", "fixtures/bare.git", "fixtures/legacy"] {
        assert_unchanged_after_attacks(&world, git_dir, &[]);
    }
    let output = world.sh(&[], &format!("echo work > {DEEP}/wt/file"));
    assert_code(&output, 0);
}

/// A process of the command may make a mount namespace of its own and
/// bind a repository, or the whole workspace, anywhere there, where its
/// files read back under other paths (`/tmp/...`, scratch space). Another
/// process of the command reaching those binds from the sandbox's view,
/// through `/proc/PID/root`, changes nothing: the guard judges only what
/// lies on the sandbox's own mounts.
#[test]
fn a_nested_namespaces_binds_change_nothing() {
    require_sandbox!();
    require_own_proc!("a nested bwrap mounts its own /proc");
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard binds of the read-only mounts stay read-only");
        return;
    }
    let world = World::new();
    world.config(&format!(
        "{TEST_PROFILE_CONFIG}\":slash_tmp\" = \"write\"\n"
    ));
    repository(&world, DEEP);
    let config = world.ws.join(DEEP).join(".git/config");
    let before = read(&config).unwrap();
    // Scratch space: below the top of /tmp, beside the workspace.
    let bound = world.ws.parent().unwrap().join("bound-ws");
    std::fs::create_dir(&bound).unwrap();
    let bound = bound.display();
    // The child binds the repository onto `mp` and the workspace onto
    // `bound` in its own namespace; exit 90 means it could not, and the
    // attack below would prove nothing.
    let script = format!(
        r#"mkdir mp
/usr/bin/python3 - {DEEP}/.git {bound} <<'EOF' &
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x10000000, 0x20000, 4096, 16384, 1 << 18
assert libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0
assert libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0
assert libc.mount(sys.argv[1].encode(), b"mp", None, MS_BIND, None) == 0
assert libc.mount(os.getcwd().encode(), sys.argv[2].encode(), None, MS_BIND | MS_REC, None) == 0
time.sleep(30)
EOF
child=$!
there=/proc/$child/root
for i in $(seq 200); do [ -e "$there$PWD/mp/HEAD" ] && [ -e $there{bound}/mp ] && break; sleep 0.05; done
[ -e $there{bound}/mp ] && cat "$there$PWD/mp/HEAD" >/dev/null || exit 90
echo evil >> "$there$PWD/mp/config" && exit 91
echo evil > "$there$PWD/mp/hooks/pre-commit" && exit 92
mkdir $there{bound}/.codex && exit 93
mkdir $there{bound}/sub && mkdir $there{bound}/sub/.git && exit 94
kill $child
exit 0"#
    );
    let output = world.sh(&[], &script);
    assert_code(&output, 0);
    assert!(stderr(&output).contains("mount of another mount namespace"));
    assert_eq!(read(&config).unwrap(), before);
    assert!(!exists(&world.ws.join(DEEP).join(".git/hooks/pre-commit")));
    assert!(!exists(&world.ws.join(".codex")));
    assert!(!exists(&world.ws.join("sub/.git")));
}

/// What the guard knows of a directory is asked anew on every call: a
/// directory the command has written in, replaced meanwhile by a
/// repository from outside the sandbox (another sandbox, the host), is
/// read-only from then on.
#[test]
fn a_repository_swapped_in_from_outside_is_read_only_at_once() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard a repository made during the run is writable");
        return;
    }
    let world = World::new();
    repository(&world, "incoming/repo");
    let script = "mkdir -p store/g && : > store/g/probe && echo primed && \
                  while [ ! -e swapped ]; do sleep 0.02; done && \
                  echo evil >> store/g/config";
    let mut child = world
        .guarded(&[], &["sh", "-c", script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "primed\n");
    std::fs::rename(world.ws.join("store"), world.ws.join("old-store")).unwrap();
    std::fs::create_dir(world.ws.join("store")).unwrap();
    std::fs::rename(
        world.ws.join("incoming/repo/.git"),
        world.ws.join("store/g"),
    )
    .unwrap();
    let before = read(&world.ws.join("store/g/config")).unwrap();
    std::fs::write(world.ws.join("swapped"), "").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(read(&world.ws.join("store/g/config")).unwrap(), before);
}

/// A directory above the workspace renamed while the command runs (by
/// another sandbox sharing `/tmp`, or the host) moves the workspace's
/// path, here from one place in scratch space to another: what lies in
/// the workspace is still judged as the workspace's.
#[test]
fn a_rename_above_the_workspace_changes_nothing() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard a new repository may be made below the top");
        return;
    }
    let world = World::new();
    world.config(&format!(
        "{TEST_PROFILE_CONFIG}\":slash_tmp\" = \"write\"\n"
    ));
    repository(&world, "vendor/lib");
    let config = world.ws.join("vendor/lib/.git/config");
    let before = read(&config).unwrap();
    let script = "echo ready && while [ ! -e renamed ]; do sleep 0.02; done; \
                  mkdir .codex; mkdir -p sub && mkdir sub/.git; \
                  echo evil >> vendor/lib/.git/config; \
                  echo evil > vendor/lib/.git/hooks/pre-commit; \
                  echo work > file && echo done";
    let mut child = world
        .guarded(&[], &["sh", "-c", script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "ready\n");
    let base = world.ws.parent().unwrap().to_path_buf();
    let moved = base.with_file_name(format!(
        "{}-moved",
        base.file_name().unwrap().to_string_lossy()
    ));
    std::fs::rename(&base, &moved).unwrap();
    std::fs::write(moved.join("ws/renamed"), "").unwrap();
    let output = child.wait_with_output().unwrap();
    std::fs::rename(&moved, &base).unwrap();
    assert!(stdout(&output).ends_with("done\n"), "{}", stderr(&output));
    assert_eq!(read(&world.ws.join("file")).as_deref(), Some("work\n"));
    assert!(!exists(&world.ws.join(".codex")));
    assert!(!exists(&world.ws.join("sub/.git")));
    assert_eq!(read(&config).unwrap(), before);
    assert!(!exists(&world.ws.join("vendor/lib/.git/hooks/pre-commit")));
}

/// Whether a directory is a git directory is asked of the directory
/// itself, not of a path string: a separate gitdir moved (with its
/// ordinary parent) so deep that its path leaves no room for `/HEAD`
/// below `PATH_MAX` is still one.
#[test]
fn a_git_directory_too_deep_to_name_is_still_one() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard a separate gitdir is protected only where it was");
        return;
    }
    let world = World::new();
    let worktree = world.ws.join("wt");
    std::fs::create_dir_all(&worktree).unwrap();
    std::fs::create_dir_all(world.ws.join("store")).unwrap();
    let status = Command::new("git")
        .args(["init", "-q", "--separate-git-dir"])
        .arg(world.ws.join("store/realgit"))
        .arg(&worktree)
        .status()
        .unwrap();
    assert!(status.success());
    let config = world.ws.join("store/realgit/config");
    let before = read(&config).unwrap();
    // Directories of 200 bytes until the gitdir's path is 4093 bytes long,
    // made on the host (the guard refuses to move a directory holding a
    // repository), `store` moved to their bottom.
    let deepen = r#"ws=$(pwd -P); need=$((4093 - ${#ws} - 14)); rel=""
while [ $need -gt 0 ]; do n=$((need - 1)); [ $n -gt 200 ] && n=200
  [ $((need - 1 - n)) -eq 1 ] && n=$((n - 1))
  c=$(printf "%${n}s" "" | tr " " d); mkdir "$c" && cd "$c" || exit 90
  rel="$rel/$c"; need=$((need - n - 1)); done
cd "$ws"; rel=${rel#/}; mv store "$rel/store" && printf %s "$rel" > rel"#;
    let host = |script: &str| {
        Command::new("sh")
            .args(["-c", script])
            .current_dir(&world.ws)
            .status()
            .unwrap()
    };
    assert!(host(deepen).success());
    let output = world.sh(
        &[],
        r#"cd "$(cat rel)/store" && echo evil >> realgit/config && echo WROTE; echo ran"#,
    );
    assert!(host(r#"mv "$(cat rel)/store" store"#).success());
    assert!(stdout(&output).ends_with("ran\n"), "{}", stderr(&output));
    assert!(!stdout(&output).contains("WROTE"), "{}", stderr(&output));
    assert_eq!(read(&config).unwrap(), before);
}

/// The workspace, here in `/tmp` and so inside a temporary root, cannot be
/// moved, replaced or removed, nor can any directory above it: moved away
/// it would be scratch space, and could come back holding a repository.
#[test]
fn the_workspace_and_the_directories_above_it_stay_put() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard a new repository may be made anywhere");
        return;
    }
    let world = World::new();
    world.config(&format!(
        "{TEST_PROFILE_CONFIG}\":slash_tmp\" = \"write\"\n"
    ));
    let ws = world.ws.display().to_string();
    let base = world.ws.parent().unwrap().display().to_string();
    let moved = format!("{base}-moved");
    let attacks = [
        format!("mv {base} {moved} && mkdir {moved}/ws/sub && mkdir {moved}/ws/sub/.git"),
        format!("mv {ws} {base}/elsewhere && mkdir {base}/elsewhere/.git"),
        format!("cd / && rm -rf {ws}"),
    ];
    for attack in &attacks {
        let output = world.sh(&[], attack);
        assert_ne!(output.status.code(), Some(0), "`{attack}` succeeded");
    }
    assert!(world.ws.join(".git").is_dir());
    assert!(!exists(&world.ws.join("sub/.git")));
    assert!(!exists(Path::new(&moved)));
    assert!(!exists(&world.ws.parent().unwrap().join("elsewhere")));
    let output = world.sh(&[], &format!("ls {ws}/.git/HEAD"));
    assert_code(&output, 0);
}

/// A directory whose path the guard cannot see (deeper than `PATH_MAX`)
/// or that merely looks deleted never moves into the workspace.
#[test]
fn a_directory_the_guard_cannot_place_never_moves_into_the_workspace() {
    require_sandbox!();
    if unguarded_pass() {
        eprintln!("SKIPPED: without the guard a new repository may be made anywhere");
        return;
    }
    let world = World::new();
    world.config(&format!(
        "{TEST_PROFILE_CONFIG}\":slash_tmp\" = \"write\"\n"
    ));
    // Made from the host: the guard, which cannot see a path that long,
    // refuses to make anything there.
    let deep = "import os, sys\n\
         fd = os.open(sys.argv[1], os.O_RDONLY)\n\
         for depth in range(40):\n\
         \x20   os.mkdir('d' * 200, dir_fd=fd)\n\
         \x20   fd = os.open('d' * 200, os.O_RDONLY, dir_fd=fd)\n\
         os.mkdir('repo', dir_fd=fd)\n\
         os.mkdir('repo/.git', dir_fd=fd)\n";
    let made = Command::new("/usr/bin/python3")
        .args(["-c", deep])
        .arg(&world.outside)
        .status()
        .unwrap();
    assert!(made.success());
    let program = format!(
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         base = '{o}'\n\
         fd = os.open(base, os.O_RDONLY)\n\
         for depth in range(40):\n\
         \x20   fd = os.open('d' * 200, os.O_RDONLY, dir_fd=fd)\n\
         r = libc.renameat(fd, b'repo', -100, b'{w}/from-deep')\n\
         print('deep:', r, ctypes.get_errno())\n\
         os.makedirs(base + '/x (deleted)/repo/.git')\n\
         r = libc.renameat(-100, (base + '/x (deleted)/repo').encode(), -100, b'{w}/from-deleted')\n\
         print('deleted:', r, ctypes.get_errno())\n",
        o = world.outside.display(),
        w = world.ws.display()
    );
    let output = world
        .guarded(&[], &["/usr/bin/python3", "-c", &program])
        .output()
        .unwrap();
    assert_code(&output, 0);
    let shown = stdout(&output);
    // ENAMETOOLONG: the guard judges nothing by a path it cannot read.
    assert!(
        shown.contains("deep: -1 36"),
        "{shown}\n{}",
        stderr(&output)
    );
    assert!(shown.contains("deleted: -1 18"), "{shown}");
    assert!(!exists(&world.ws.join("from-deep")));
    assert!(!exists(&world.ws.join("from-deleted")));
    // The deep tree is the test's to remove: std's remove_dir_all copes.
    std::fs::remove_dir_all(&world.outside).unwrap();
}
