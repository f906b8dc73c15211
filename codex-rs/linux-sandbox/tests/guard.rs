//! The protected-name guard, checked from the host: no way of creating a
//! new `.git`, `.codex` or `.agents` below a writable root gets through,
//! and every ordinary way of creating files still works as it would
//! without the guard.
//!
//! Each attack also runs with the guard disabled, as a control that proves
//! the attack would create the entry and the host-side check would see it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::{World, assert_code, legacy_pass, no_proc_pass, read, stderr, stdout};

/// The guard turned off, for the controls.
const UNGUARDED: &[&str] = &["--disable", "guard_protected_names"];

/// Runs `script` with `sh -c` in the workspace, with the guard in every
/// pass (plus `options`).
fn guarded_sh(world: &World, options: &[&str], script: &str) -> Output {
    world
        .guarded(options, &["sh", "-c", script])
        .output()
        .expect("run helper")
}

/// Runs a Python program in the workspace under the guard.
fn guarded_python(world: &World, options: &[&str], program: &str) -> Output {
    world
        .guarded(options, &["/usr/bin/python3", "-c", program])
        .output()
        .expect("run helper")
}

/// One way of planting a protected entry, and where it would appear.
struct Attack {
    name: &'static str,
    /// `sh -c` script, or a Python program when `python` is set.
    script: &'static str,
    python: bool,
    /// The entry, relative to the workspace, that must not appear.
    planted: &'static str,
    /// Whether the path goes through the sandbox's `/proc`, which the
    /// no-proc pass does not mount: there even the control plants nothing.
    through_proc: bool,
}

/// Prepared in the workspace before each attack: a subdirectory, a file
/// and a directory to move.
const SETUP: &str = "mkdir -p sub moved && echo payload > file";

const ATTACKS: &[Attack] = &[
    Attack {
        name: "mkdir -p sub/.git",
        script: "mkdir -p sub/.git/hooks",
        python: false,
        planted: "sub/.git",
        through_proc: false,
    },
    Attack {
        name: "mkdir with a trailing slash",
        script: "mkdir sub/.codex/",
        python: false,
        planted: "sub/.codex",
        through_proc: false,
    },
    Attack {
        name: "another case (.GIT)",
        script: "mkdir sub/.GIT",
        python: false,
        planted: "sub/.GIT",
        through_proc: false,
    },
    Attack {
        name: "a trailing dot (vfat drops it)",
        script: "mkdir sub/.git.",
        python: false,
        planted: "sub/.git.",
        through_proc: false,
    },
    Attack {
        name: "a long s (case folding: s)",
        script: "mkdir sub/.agent\u{17f}",
        python: false,
        planted: "sub/.agent\u{17f}",
        through_proc: false,
    },
    Attack {
        name: "mv file sub/.git",
        script: "mv file sub/.git",
        python: false,
        planted: "sub/.git",
        through_proc: false,
    },
    Attack {
        name: "mv dir sub/.agents",
        script: "mv moved sub/.agents",
        python: false,
        planted: "sub/.agents",
        through_proc: false,
    },
    Attack {
        name: "hard link",
        script: "ln file sub/.git",
        python: false,
        planted: "sub/.git",
        through_proc: false,
    },
    Attack {
        name: "symbolic link",
        script: "ln -s /tmp sub/.git",
        python: false,
        planted: "sub/.git",
        through_proc: false,
    },
    Attack {
        name: "mkfifo (mknod)",
        script: "mkfifo sub/.git",
        python: false,
        planted: "sub/.git",
        through_proc: false,
    },
    Attack {
        name: "redirect into a new file",
        script: "echo 'gitdir: /tmp/evil' > sub/.git",
        python: false,
        planted: "sub/.git",
        through_proc: false,
    },
    Attack {
        name: "relative to a changed directory",
        script: "cd sub && echo x > .codex",
        python: false,
        planted: "sub/.codex",
        through_proc: false,
    },
    Attack {
        name: "through a dangling symbolic link",
        script: "ln -s sub/.git dangling && echo 'gitdir: /tmp/evil' > dangling",
        python: false,
        planted: "sub/.git",
        through_proc: false,
    },
    Attack {
        name: "through /dev/fd",
        script: "exec 3<sub && mkdir /dev/fd/3/.git",
        python: false,
        planted: "sub/.git",
        through_proc: true,
    },
    Attack {
        name: "mkdirat relative to a descriptor",
        script: "import os; os.mkdir('.agents', dir_fd=os.open('sub', os.O_RDONLY))",
        python: true,
        planted: "sub/.agents",
        through_proc: false,
    },
    Attack {
        name: "O_TMPFILE then linkat(AT_EMPTY_PATH)",
        script: "import ctypes, os\n\
                 fd = os.open('sub', os.O_TMPFILE | os.O_WRONLY, 0o600)\n\
                 os.write(fd, b'gitdir: /tmp/evil')\n\
                 libc = ctypes.CDLL(None, use_errno=True)\n\
                 if libc.linkat(fd, b'', -100, b'sub/.git', 0x1000) != 0:\n\
                 \x20   raise OSError(ctypes.get_errno(), 'linkat')",
        python: true,
        planted: "sub/.git",
        through_proc: false,
    },
    Attack {
        name: "renameat2 RENAME_NOREPLACE",
        script: "import ctypes, os\n\
                 libc = ctypes.CDLL(None, use_errno=True)\n\
                 if libc.renameat2(-100, b'file', -100, b'sub/.codex', 1) != 0:\n\
                 \x20   raise OSError(ctypes.get_errno(), 'renameat2')",
        python: true,
        planted: "sub/.codex",
        through_proc: false,
    },
];

fn run_attack(world: &World, attack: &Attack, options: &[&str]) -> Output {
    let setup = guarded_sh(world, UNGUARDED, SETUP);
    assert_code(&setup, 0);
    if attack.python {
        guarded_python(world, options, attack.script)
    } else {
        guarded_sh(world, options, attack.script)
    }
}

fn clean(world: &World) {
    for entry in std::fs::read_dir(&world.ws).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            make_removable(&path);
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

/// Opens up every directory below `dir` (overlayfs leaves its work
/// directory mode 000).
fn make_removable(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            make_removable(&path);
        }
    }
}

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

#[test]
fn no_new_protected_entry_can_be_planted() {
    require_sandbox!();
    let world = World::new();
    let mut table = Vec::new();
    for attack in ATTACKS {
        let planted = world.ws.join(attack.planted);
        clean(&world);
        let control = run_attack(&world, attack, UNGUARDED);
        if attack.through_proc && no_proc_pass() {
            let output = run_attack(&world, attack, &[]);
            assert!(!exists(&planted), "{:?}: {}", attack.name, stderr(&output));
            table.push(format!(
                "{:<36} no /proc in this pass: planted neither with nor without the guard",
                attack.name
            ));
            continue;
        }
        assert!(
            exists(&planted),
            "control for {:?}: without the guard the attack must plant {} (stderr: {})",
            attack.name,
            planted.display(),
            stderr(&control)
        );
        clean(&world);
        let output = run_attack(&world, attack, &[]);
        let refused = stderr(&output).contains("refused to create");
        table.push(format!(
            "{:<36} planted without guard: yes  with guard: {}",
            attack.name,
            if exists(&planted) { "YES" } else { "no" }
        ));
        assert!(
            !exists(&planted),
            "{:?} planted {} under the guard (stdout: {}, stderr: {})",
            attack.name,
            planted.display(),
            stdout(&output),
            stderr(&output)
        );
        assert!(
            refused,
            "{:?}: no refusal reported: {}",
            attack.name,
            stderr(&output)
        );
    }
    println!("{}", table.join("\n"));
}

/// Flips a path between an allowed and a protected name in one thread
/// while another creates it, so that the string the kernel sees changes
/// between the supervisor's check and any second read.
const RACE: &str = r#"
import ctypes, os, threading
libc = ctypes.CDLL(None, use_errno=True)
path = ctypes.create_string_buffer(b"sub/aaaa", 16)
stop = False
def flip():
    while not stop:
        ctypes.memmove(path, b"sub/.git", 8)
        ctypes.memmove(path, b"sub/aaaa", 8)
threading.Thread(target=flip, daemon=True).start()
made = refused = 0
for _ in range(3000):
    if libc.mkdir(path, 0o755) == 0:
        made += 1
        os.rmdir("sub/aaaa") if os.path.isdir("sub/aaaa") else None
    elif ctypes.get_errno() == 1:
        refused += 1
stop = True
print(f"made={made} refused={refused}")
"#;

#[test]
fn rewriting_the_path_during_the_call_plants_nothing() {
    require_sandbox!();
    let world = World::new();
    let planted = world.ws.join("sub/.git");
    // Control: without the guard the racing creation plants .git.
    assert_code(&guarded_sh(&world, UNGUARDED, "mkdir sub"), 0);
    let control = guarded_python(&world, UNGUARDED, RACE);
    assert!(exists(&planted), "control: {}", stderr(&control));
    clean(&world);
    assert_code(&guarded_sh(&world, UNGUARDED, "mkdir sub"), 0);
    let output = guarded_python(&world, &[], RACE);
    let counts = stdout(&output);
    assert!(!exists(&planted), "the race planted sub/.git: {counts}");
    // Both names reached the supervisor: the race was real.
    let count = |key: &str| -> u32 {
        counts
            .split_whitespace()
            .find_map(|field| field.strip_prefix(key))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {counts:?}: {}", stderr(&output)))
    };
    assert!(count("made=") > 0 && count("refused=") > 0, "{counts}");
}

/// Ordinary creation, writing and removal, in every way the guard
/// intercepts; the output and the tree it leaves must be the same with and
/// without the guard.
const ORDINARY: &str = r#"
umask 027
mkdir d && mkdir -p a/b/c && touch f && echo hi > g && echo more >> g
ln -s g link && echo via >> link
ln -s newtarget dangling && echo created > dangling
ln g hard && mv hard renamed && mkfifo p
cat p > fifo_out & echo through-fifo > p; wait
mkdir d 2>/dev/null || echo "mkdir d again: refused"
(echo out > /dev/stdout) > redirected
(echo err > /dev/stderr) 2> redirected_err
echo discarded > /dev/null
/usr/bin/python3 - <<'PY'
import ctypes, fcntl, os, subprocess
PROC_WRITES = True
libc = ctypes.CDLL(None, use_errno=True)
def flags(name, extra):
    fd = libc.open(name, os.O_CREAT | os.O_WRONLY | extra, 0o644)
    return fcntl.fcntl(fd, fcntl.F_GETFD) if fd >= 0 else -ctypes.get_errno()
print("no cloexec:", flags(b"plain", 0), "cloexec:", flags(b"cloexec", os.O_CLOEXEC))
print("excl on existing:", flags(b"plain", os.O_EXCL))
def errno_of(path, extra=0):
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | extra, 0o644))
        return 0
    except OSError as err:
        return err.errno
os.symlink("loop", "loop")
for path, extra in [("d", 0), ("fresh/", 0), ("g/", 0), ("nodir/x", 0), ("loop", 0),
                    ("link", os.O_NOFOLLOW), ("link", os.O_EXCL), ("dangling", 0)]:
    print("open", path, extra, "->", errno_of(path, extra))
print("creat:", libc.creat(b"by_creat", 0o666) >= 0)
os.mkdir("dirx")
os.mkdir("inner", dir_fd=os.open("dirx", os.O_RDONLY))
os.rename("renamed", "d/renamed")
print("exchange:", libc.renameat2(-100, b"f", -100, b"g", 2), open("f").read().strip())
print("noreplace:", libc.renameat2(-100, b"f", -100, b"g", 1), ctypes.get_errno())
def write_open(path, flags):
    try:
        fd = os.open(path, flags)
        os.close(fd)
        return 0
    except OSError as err:
        return err.errno
fd = os.open("g", os.O_WRONLY | os.O_APPEND)
os.write(fd, b"appended\n")
os.close(fd)
fd = os.open("g", os.O_RDWR)
print("read-write:", os.read(fd, 2))
os.close(fd)
sibling = subprocess.Popen(["sleep", "5"])
proc_writes = [(f"/proc/{sibling.pid}/comm", os.O_WRONLY)] if PROC_WRITES else []
for path, extra in [("missing", os.O_WRONLY), ("d", os.O_WRONLY), ("d", os.O_RDWR | os.O_DIRECTORY),
                    ("link", os.O_WRONLY | os.O_NOFOLLOW), ("/dev/null", os.O_WRONLY),
                    *proc_writes, ("g", os.O_RDONLY | os.O_TRUNC)]:
    print("write-open", path.replace(str(sibling.pid), "CHILD"), extra, "->", write_open(path, extra))
sibling.kill()
sibling.wait()
os.truncate("f", 1)
print("truncated:", os.path.getsize("f"), "g:", os.path.getsize("g"))
for path in ["d", "missing"]:
    try:
        os.truncate(path, 0)
    except OSError as err:
        print("truncate", path, "->", err.errno)
r, w = os.pipe()
fd = os.open(f"/proc/self/fd/{w}", os.O_WRONLY)
os.write(fd, b"via proc")
print(os.read(r, 20))
if PROC_WRITES:
    fd = os.open("/proc/self/comm", os.O_WRONLY)
    os.write(fd, b"renamed-proc")
    os.close(fd)
    print("comm:", open("/proc/self/comm").read().strip())
    import threading
    done = threading.Event()
    ids = []
    def sleeper():
        ids.append(threading.get_native_id())
        done.wait()
    thread = threading.Thread(target=sleeper)
    thread.start()
    while not ids:
        pass
    fd = os.open(f"/proc/self/task/{ids[0]}/comm", os.O_WRONLY)
    os.write(fd, b"other-thread")
    os.close(fd)
    print("thread comm:", open(f"/proc/self/task/{ids[0]}/comm").read().strip())
    done.set()
    thread.join()
tmp = os.open("d", os.O_TMPFILE | os.O_WRONLY, 0o600)
os.write(tmp, b"unnamed")
print("tmpfile linked:", libc.linkat(-100, f"/proc/self/fd/{tmp}".encode(), -100, b"from_tmpfile", 0x400))
os.unlink("by_creat")
os.rmdir("dirx/inner")
for remove, path in [(os.rmdir, "a"), (os.unlink, "d"), (os.rmdir, "missing")]:
    try:
        remove(path)
    except OSError as err:
        print("remove", path, "->", err.errno)
PY
find . -path ./.git -prune -o -path ./.codex -prune -o -path ./.agents -prune -o -path ./.aws -prune -o -printf '%p %y %m %s %l\n' | sort
cat fifo_out redirected redirected_err dangling newtarget
"#;

#[test]
fn ordinary_creation_works_as_without_the_guard() {
    require_sandbox!();
    let world = World::new();
    // The legacy pipeline's Landlock domain grants /proc no writes, with or
    // without the guard; the bubblewrap passes check them.
    let script = if legacy_pass() {
        ORDINARY.replace("PROC_WRITES = True", "PROC_WRITES = False")
    } else {
        ORDINARY.to_owned()
    };
    let unguarded = guarded_sh(&world, UNGUARDED, &script);
    assert_code(&unguarded, 0);
    let expected = stdout(&unguarded);
    assert!(expected.contains("through-fifo"), "{expected}");
    clean(&world);
    let output = guarded_sh(&world, &[], &script);
    assert_code(&output, 0);
    assert_eq!(stdout(&output), expected, "stderr: {}", stderr(&output));
    assert!(!stderr(&output).contains("refused"), "{}", stderr(&output));
    let mode = std::fs::metadata(world.ws.join("d"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750, "the command's umask applies");
}

/// Umask changes between creations: in the creating thread, in another
/// thread of its process, in a parent after a fork. The supervisor keeps a
/// thread's umask between its calls, so each change must reach it.
const UMASK_CHANGES: &str = r#"
import os, threading
def make(name):
    os.close(os.open(name, os.O_CREAT | os.O_WRONLY, 0o666))
os.umask(0o022); make("a")
os.umask(0o077); make("b")
t = threading.Thread(target=lambda: os.umask(0o027)); t.start(); t.join()
make("c")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.read(r, 1); make("d"); os.mkdir("d-dir"); os._exit(0)
os.umask(0o002); os.write(w, b"x"); os.waitpid(pid, 0)
make("e")
os.umask(0o022); os.umask(0o007); make("f")
"#;

#[test]
fn every_umask_change_applies_to_the_next_creation() {
    require_sandbox!();
    let world = World::new();
    let expected = [
        ("a", 0o644),
        ("b", 0o600),
        ("c", 0o640),
        ("d", 0o640),
        ("d-dir", 0o750),
        ("e", 0o664),
        ("f", 0o660),
    ];
    let modes = |world: &World| -> Vec<(&'static str, u32)> {
        expected
            .iter()
            .map(|(name, _)| {
                let mode = std::fs::metadata(world.ws.join(name))
                    .unwrap_or_else(|err| panic!("{name}: {err}"))
                    .permissions()
                    .mode();
                (*name, mode & 0o777)
            })
            .collect()
    };
    // Control: the same modes without the guard, the kernel's own.
    let control = guarded_python(&world, UNGUARDED, UMASK_CHANGES);
    assert_code(&control, 0);
    assert_eq!(modes(&world), expected, "control");
    clean(&world);
    let output = guarded_python(&world, &[], UMASK_CHANGES);
    assert_code(&output, 0);
    assert_eq!(modes(&world), expected, "{}", stderr(&output));
}

/// `openat2` carries its flags out of the filter's reach: `ENOSYS`, to
/// which its callers fall back to `openat`.
const OPENAT2: &str = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
how = (ctypes.c_uint64 * 3)(0o101, 0o644, 0)
libc.syscall.restype = ctypes.c_long
fd = libc.syscall(437, -100, b"via_openat2", how, 24)
print("openat2:", fd if fd >= 0 else -ctypes.get_errno())
"#;

#[test]
fn openat2_answers_enosys_under_the_guard() {
    require_sandbox!();
    let world = World::new();
    let control = guarded_python(&world, UNGUARDED, OPENAT2);
    assert!(
        stdout(&control).starts_with("openat2: "),
        "{}",
        stderr(&control)
    );
    assert!(
        exists(&world.ws.join("via_openat2")),
        "control: {}",
        stdout(&control)
    );
    clean(&world);
    let output = guarded_python(&world, &[], OPENAT2);
    assert_eq!(stdout(&output), format!("openat2: -{}\n", libc::ENOSYS));
    assert!(!exists(&world.ws.join("via_openat2")));
}

/// `clone3` carries its flags (`CLONE_NEWNS`, `CLONE_FS`) out of the
/// filter's reach: `ENOSYS`, on which glibc falls back to `clone`, whose
/// flags the guard notes. A size too small for any `struct clone_args`
/// makes the kernel refuse it (`EINVAL`) before anything is cloned.
const CLONE3: &str = r#"
import ctypes, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
args = (ctypes.c_uint64 * 8)()
result = libc.syscall(435, args, 8)
print("clone3:", result if result >= 0 else -ctypes.get_errno())
t = threading.Thread(target=lambda: None); t.start(); t.join()
print(subprocess.run(["true"]).returncode)
"#;

#[test]
fn clone3_answers_enosys_under_the_guard_and_threads_and_children_still_start() {
    require_sandbox!();
    let world = World::new();
    let control = guarded_python(&world, UNGUARDED, CLONE3);
    assert_eq!(
        stdout(&control),
        format!("clone3: -{}\n0\n", libc::EINVAL),
        "{}",
        stderr(&control)
    );
    let output = guarded_python(&world, &[], CLONE3);
    assert_eq!(
        stdout(&output),
        format!("clone3: -{}\n0\n", libc::ENOSYS),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_nested_mount_namespace_cannot_create_files() {
    require_sandbox!();
    let world = World::new();
    let script = "unshare -Urm sh -c 'echo x > nested' && echo created";
    let control = guarded_sh(&world, UNGUARDED, script);
    if !stdout(&control).contains("created") {
        println!(
            "SKIPPED: no nested user and mount namespace in the sandbox here: {}",
            stderr(&control)
        );
        return;
    }
    assert_eq!(read(&world.ws.join("nested")).as_deref(), Some("x\n"));
    clean(&world);
    let output = guarded_sh(&world, &[], script);
    assert!(!exists(&world.ws.join("nested")));
    // The legacy pipeline stops it sooner: Landlock refuses the nested
    // namespace's uid_map (no /proc writes) or its mounts, as root or not.
    assert!(
        stderr(&output).contains("mount namespace or root of its own")
            || (legacy_pass() && !stdout(&output).contains("created")),
        "{}",
        stderr(&output)
    );
}

/// Opens that procfs entries of other processes would allow: the
/// supervisor opens what a held call names, so it must never reach its own
/// `mem` (the command's parent is the supervisor) or another process's.
/// The caller's own entry still works.
const PROC_OPENS: &str = r#"
import os
def attempt(path, flags):
    try:
        os.close(os.open(path, flags))
        return "opened"
    except OSError as err:
        return f"errno {err.errno}"
parent = os.getppid()
for entry in ["mem", "environ", "fd/2"]:
    print(f"/proc/PARENT/{entry}", attempt(f"/proc/{parent}/{entry}", os.O_RDWR | os.O_CREAT))
print("own fd", attempt("/proc/self/fd/1", os.O_WRONLY | os.O_CREAT))
print("own comm", attempt("/proc/self/comm", os.O_WRONLY | os.O_CREAT))
"#;

#[test]
fn held_opens_never_reach_another_processs_proc_entry() {
    require_sandbox!();
    require_own_proc!();
    let world = World::new();
    let output = guarded_python(&world, &[], PROC_OPENS);
    let out = stdout(&output);
    for entry in ["mem", "environ", "fd/2"] {
        let line = format!("/proc/PARENT/{entry} errno {}", libc::EACCES);
        assert!(out.contains(&line), "{entry}: {out}{}", stderr(&output));
    }
    assert!(out.contains("own fd opened"), "{out}");
    // The legacy pipeline's Landlock domain grants /proc no writes.
    let own_comm = if legacy_pass() {
        format!("own comm errno {}", libc::EACCES)
    } else {
        "own comm opened".to_owned()
    };
    assert!(out.contains(&own_comm), "{out}");
}

#[test]
fn an_overlay_mounted_in_a_nested_namespace_cannot_copy_up_a_protected_name() {
    require_sandbox!();
    let world = World::new();
    // A readable repository outside the writable roots as the lower layer.
    let lower = world.outside.join("lower");
    std::fs::create_dir_all(lower.join(".git")).unwrap();
    std::fs::write(lower.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    let ws = world.ws.display();
    let script = format!(
        "mkdir -p u w m && unshare -Urm sh -c 'mount -t overlay copyup -o lowerdir={},upperdir={ws}/u,workdir={ws}/w {ws}/m && touch -c {ws}/m/.git/HEAD' && echo copied",
        lower.display()
    );
    let planted = world.ws.join("u/.git");
    let control = guarded_sh(&world, UNGUARDED, &script);
    if !stdout(&control).contains("copied") {
        println!(
            "SKIPPED: no overlay in a nested user and mount namespace in the sandbox here: {}",
            stderr(&control)
        );
        return;
    }
    assert!(exists(&planted), "control: copy-up must plant u/.git");
    clean(&world);
    let output = guarded_sh(&world, &[], &script);
    assert!(!exists(&planted), "copy-up planted u/.git under the guard");
    // In the legacy pipeline Landlock refuses the nested namespace's
    // uid_map or the mount before the guard sees it.
    assert!(
        stderr(&output).contains("refused a filesystem mount")
            || (legacy_pass() && !stdout(&output).contains("copied")),
        "{}",
        stderr(&output)
    );
}

/// Binds a Unix socket to `sub/NAME` (relative, from the working
/// directory) and an Internet socket to loopback; prints what happened.
const BINDS: &str = r#"
import os, socket, sys
os.makedirs("sub", exist_ok=True)
for name in sys.argv[1:]:
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        unix.bind(f"sub/{name}")
        print(name, "bound")
    except OSError as err:
        print(name, "errno", err.errno)
tcp = socket.socket()
tcp.bind(("127.0.0.1", 0))
print("tcp port", "yes" if tcp.getsockname()[1] > 0 else "no")
"#;

#[test]
fn a_unix_socket_cannot_be_bound_to_a_protected_name() {
    require_sandbox!();
    let world = World::new();
    let network = common::NETWORK_ENABLED;
    let run = |options: &[&str]| {
        world
            .guarded(
                options,
                &["/usr/bin/python3", "-c", BINDS, ".git", "ordinary.sock"],
            )
            .output()
            .expect("run helper")
    };
    let control = run(&[network, UNGUARDED].concat());
    assert!(
        stdout(&control).contains(".git bound"),
        "control: {}",
        stderr(&control)
    );
    assert!(exists(&world.ws.join("sub/.git")));
    clean(&world);
    let output = run(network);
    let out = stdout(&output);
    assert!(
        out.contains(&format!(".git errno {}", libc::EPERM)),
        "{out}{}",
        stderr(&output)
    );
    assert!(!exists(&world.ws.join("sub/.git")));
    // Ordinary binds still work, relative to the working directory.
    assert!(out.contains("ordinary.sock bound"), "{out}");
    let sock = world
        .ws
        .join("sub/ordinary.sock")
        .symlink_metadata()
        .unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_socket(&sock.file_type()));
    assert!(out.contains("tcp port yes"), "{out}");
}

/// A `.git` deeper than the start-up scan reaches is not mounted read-only;
/// exchanging a file with it would leave a `.git` file (a gitdir pointer)
/// in its place, so an exchange is judged on both names.
const EXCHANGE: &str = r#"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
deep = sys.argv[1]
if libc.renameat2(-100, b"file", -100, deep.encode(), 2) != 0:
    raise OSError(ctypes.get_errno(), "renameat2")
"#;

#[test]
fn an_exchange_with_an_unprotected_deep_git_is_refused() {
    require_sandbox!();
    let world = World::new();
    let deep = "a/b/c/d/e/f/g/h/i/j/.git";
    let setup = |world: &World| {
        std::fs::create_dir_all(world.ws.join(deep)).unwrap();
        std::fs::write(world.ws.join("file"), "gitdir: /tmp/evil\n").unwrap();
    };
    let exchange = |options: &[&str]| {
        world
            .guarded(options, &["/usr/bin/python3", "-c", EXCHANGE, deep])
            .output()
            .expect("run helper")
    };
    setup(&world);
    let control = exchange(UNGUARDED);
    assert!(
        world.ws.join(deep).is_file(),
        "control: the exchange must leave a .git file: {}",
        stderr(&control)
    );
    clean(&world);
    setup(&world);
    let output = exchange(&[]);
    assert!(world.ws.join(deep).is_dir(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("refused to create"),
        "{}",
        stderr(&output)
    );
}

/// `mkdir` of a protected directory that exists answers `EEXIST`, as the
/// kernel would (`mkdir -p .git/hooks` must not fail on `.git`); a missing
/// one is still refused.
#[test]
fn mkdir_of_an_existing_protected_directory_says_it_exists() {
    require_sandbox!();
    let world = World::new();
    let program = "import errno, os\n\
                   for name in ('.git', '.codex'):\n\
                   \x20   try:\n\
                   \x20       os.mkdir(name)\n\
                   \x20       print(name, 'made')\n\
                   \x20   except OSError as err:\n\
                   \x20       print(name, errno.errorcode[err.errno])\n";
    let output = guarded_python(&world, &[], program);
    assert_eq!(
        stdout(&output),
        ".git EEXIST\n.codex EPERM\n",
        "{}",
        stderr(&output)
    );
    assert!(!world.ws.join(".codex").exists());
}

/// Without a `/proc` of the sandbox's own the supervisor cannot find a
/// thread that lives in a PID namespace of its own: its calls are refused,
/// with a line naming why, and nothing is created. With the sandbox's own
/// `/proc` (the control) the same call is carried out.
#[test]
fn without_proc_a_nested_pid_namespace_creates_nothing() {
    require_sandbox!();
    let world = World::new();
    let nested = ["unshare", "-U", "-p", "-f", "sh", "-c", "mkdir made"];
    let output = world.guarded(&["--no-proc"], &nested).output().unwrap();
    if legacy_pass() {
        // No sandbox PID namespace: the supervisor reads the host's /proc,
        // where the nested namespace's threads are found.
        assert_code(&output, 0);
        assert!(world.ws.join("made").is_dir(), "{}", stderr(&output));
        return;
    }
    assert!(!world.ws.join("made").exists(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("made in a PID namespace of its own"),
        "{}",
        stderr(&output)
    );
    if no_proc_pass() {
        return;
    }
    let control = world.guarded(&[], &nested).output().unwrap();
    assert_code(&control, 0);
    assert!(world.ws.join("made").is_dir(), "{}", stderr(&control));
}
