//! The escape suite: attack snippets run inside the sandbox on the
//! `:workspace` profile, each judged from the host by its effect. Every
//! attack is also run with the same harness unsandboxed
//! (`:danger-full-access`) where that is meaningful, which proves the
//! harness would see the effect if the sandbox let it through.
//!
//! `just escape` runs this file alone and prints the table.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;
#[path = "escape/repositories.rs"]
mod repositories;
#[path = "escape/unix_sockets.rs"]
mod unix_sockets;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::World;

/// One attack: a shell script run in the workspace, and the host-side check
/// of whether it got through.
struct Attack {
    name: &'static str,
    /// Prepares the world; returns what the script and the check need.
    setup: fn(&World) -> Target,
    script: fn(&Target) -> String,
    escaped: fn(&Target) -> bool,
    /// Whether the unsandboxed control run must show the effect.
    control: bool,
}

/// What an attack aims at.
struct Target {
    ws: PathBuf,
    outside: PathBuf,
    /// A host process the attack tries to reach, when it needs one.
    victim: Option<std::process::Child>,
    /// A host TCP listener on loopback, when the attack needs one.
    tcp: Option<std::net::TcpListener>,
    /// A host Unix socket listener, when the attack needs one.
    unix: Option<std::os::unix::net::UnixListener>,
    /// A host Unix datagram socket, when the attack needs one.
    datagram: Option<std::os::unix::net::UnixDatagram>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(victim) = &mut self.victim {
            let _ = victim.kill();
            let _ = victim.wait();
        }
    }
}

fn plain(world: &World) -> Target {
    Target {
        ws: world.ws.clone(),
        outside: world.outside.clone(),
        victim: None,
        tcp: None,
        unix: None,
        datagram: None,
    }
}

fn with_file(world: &World, name: &str, mode: u32) -> Target {
    let target = plain(world);
    let path = target.outside.join(name);
    std::fs::write(&path, "host\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    target
}

fn with_sleeper(world: &World) -> Target {
    let mut target = plain(world);
    target.victim = Some(
        std::process::Command::new("sleep")
            .arg("600")
            .env("ESCAPE_SECRET", "host-secret")
            .spawn()
            .unwrap(),
    );
    target
}

fn with_tcp_listener(world: &World) -> Target {
    let mut target = plain(world);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    target.tcp = Some(listener);
    target
}

fn with_unix_listener(world: &World) -> Target {
    let mut target = plain(world);
    let listener =
        std::os::unix::net::UnixListener::bind(target.outside.join("host.sock")).unwrap();
    listener.set_nonblocking(true).unwrap();
    target.unix = Some(listener);
    target
}

fn tcp_port(target: &Target) -> u16 {
    target
        .tcp
        .as_ref()
        .and_then(|listener| listener.local_addr().ok())
        .map_or(0, |addr| addr.port())
}

/// Whether a connection reached the listener (given a moment to arrive).
fn connected(target: &Target) -> bool {
    std::thread::sleep(Duration::from_millis(100));
    target
        .tcp
        .as_ref()
        .is_some_and(|listener| listener.accept().is_ok())
        || target
            .unix
            .as_ref()
            .is_some_and(|listener| listener.accept().is_ok())
        || target
            .datagram
            .as_ref()
            .is_some_and(|socket| socket.recv(&mut [0; 16]).is_ok())
}

fn victim_pid(target: &Target) -> u32 {
    target.victim.as_ref().map_or(0, std::process::Child::id)
}

/// Whether the victim still runs (a killed child not yet reaped is a
/// zombie: gone, for this purpose).
fn victim_alive(target: &Target) -> bool {
    let stat = Path::new("/proc")
        .join(victim_pid(target).to_string())
        .join("stat");
    std::fs::read_to_string(stat).is_ok_and(|text| {
        text.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

fn exists(path: PathBuf) -> bool {
    path.symlink_metadata().is_ok()
}

fn unchanged(path: PathBuf) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text == "host\n")
}

fn attacks() -> Vec<Attack> {
    vec![
        Attack {
            name: "write outside the roots",
            setup: plain,
            script: |t| format!("echo x > {}/written", t.outside.display()),
            escaped: |t| exists(t.outside.join("written")),
            control: true,
        },
        Attack {
            name: "chmod outside the roots",
            setup: |w| with_file(w, "mode", 0o644),
            script: |t| format!("chmod 777 {}/mode", t.outside.display()),
            escaped: |t| std::fs::metadata(t.outside.join("mode")).unwrap().mode() & 0o777 != 0o644,
            control: true,
        },
        Attack {
            name: "utimes outside the roots",
            setup: |w| with_file(w, "time", 0o644),
            script: |t| format!("touch -d 2001-01-01 {}/time", t.outside.display()),
            escaped: |t| std::fs::metadata(t.outside.join("time")).unwrap().mtime() < 1_000_000_000,
            control: true,
        },
        Attack {
            name: "hard link into the workspace, then write",
            setup: |w| with_file(w, "linked", 0o666),
            script: |t| {
                format!(
                    "ln {o}/linked {w}/hard && echo x >> {w}/hard",
                    o = t.outside.display(),
                    w = t.ws.display()
                )
            },
            escaped: |t| !unchanged(t.outside.join("linked")),
            control: true,
        },
        Attack {
            name: "write through a symlink that was there",
            setup: |w| {
                let t = with_file(w, "pointed", 0o666);
                std::os::unix::fs::symlink(t.outside.join("pointed"), t.ws.join("pre")).unwrap();
                t
            },
            script: |t| format!("echo x >> {}/pre", t.ws.display()),
            escaped: |t| !unchanged(t.outside.join("pointed")),
            control: true,
        },
        Attack {
            name: "write through a symlink made inside",
            setup: plain,
            script: |t| {
                format!(
                    "ln -s {o}/made {w}/new-link && echo x > {w}/new-link",
                    o = t.outside.display(),
                    w = t.ws.display()
                )
            },
            escaped: |t| exists(t.outside.join("made")),
            control: true,
        },
        Attack {
            name: "`..` through a symlinked parent",
            setup: |w| {
                let t = plain(w);
                std::fs::create_dir(t.outside.join("sub")).unwrap();
                std::os::unix::fs::symlink(t.outside.join("sub"), t.ws.join("up")).unwrap();
                t
            },
            script: |t| format!("echo x > {}/up/../dotdot", t.ws.display()),
            escaped: |t| exists(t.outside.join("dotdot")),
            control: true,
        },
        Attack {
            name: "rename the read-only .git away",
            setup: plain,
            script: |t| format!("mv {w}/.git {w}/gone", w = t.ws.display()),
            escaped: |t| exists(t.ws.join("gone")) || !exists(t.ws.join(".git")),
            control: true,
        },
        Attack {
            name: "unmount the read-only .git, then write its config",
            setup: plain,
            script: |t| {
                format!(
                    "umount {w}/.git 2>/dev/null; umount -l {w}/.git 2>/dev/null; echo x >> {w}/.git/config",
                    w = t.ws.display()
                )
            },
            escaped: |t| {
                std::fs::read_to_string(t.ws.join(".git/config")).is_ok_and(|c| c.ends_with("x\n"))
            },
            control: true,
        },
        Attack {
            name: "remount .git read-write from a nested user namespace",
            setup: plain,
            script: |t| {
                format!(
                    "unshare -rm sh -c 'mount -o remount,bind,rw {w}/.git; echo x >> {w}/.git/config' 2>/dev/null; true",
                    w = t.ws.display()
                )
            },
            escaped: |t| {
                std::fs::read_to_string(t.ws.join(".git/config")).is_ok_and(|c| c.ends_with("x\n"))
            },
            control: false,
        },
        Attack {
            name: "make a device node",
            setup: plain,
            script: |t| format!("mknod {}/mem c 1 1", t.ws.display()),
            escaped: |t| exists(t.ws.join("mem")),
            control: false,
        },
        Attack {
            name: "write the host's /dev/shm",
            setup: plain,
            script: |t| format!("echo x > /dev/shm/codex-escape-{}", short_id(t)),
            escaped: |t| {
                let path = PathBuf::from(format!("/dev/shm/codex-escape-{}", short_id(t)));
                let found = exists(path.clone());
                let _ = std::fs::remove_file(path);
                found
            },
            control: true,
        },
        Attack {
            name: "write the home directory",
            setup: plain,
            script: |t| format!("echo x > \"$HOME/.codex-escape-{}\"", short_id(t)),
            escaped: |t| {
                let Some(home) = std::env::var_os("HOME") else {
                    return false;
                };
                let path = Path::new(&home).join(format!(".codex-escape-{}", short_id(t)));
                let found = exists(path.clone());
                let _ = std::fs::remove_file(path);
                found
            },
            control: true,
        },
        Attack {
            name: "TCP to a host loopback listener",
            setup: with_tcp_listener,
            script: |t| {
                format!(
                    "/usr/bin/python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {}), 2)'",
                    tcp_port(t)
                )
            },
            escaped: connected,
            control: true,
        },
        Attack {
            name: "a host Unix socket by path",
            setup: with_unix_listener,
            script: |t| {
                format!(
                    "/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"{}/host.sock\")'",
                    t.outside.display()
                )
            },
            escaped: connected,
            control: true,
        },
        Attack {
            name: "signal a host process",
            setup: with_sleeper,
            script: |t| format!("kill -9 {}", victim_pid(t)),
            escaped: |t| {
                std::thread::sleep(Duration::from_millis(100));
                !victim_alive(t)
            },
            control: true,
        },
        Attack {
            name: "read a host process's environment",
            setup: with_sleeper,
            script: |t| {
                format!(
                    "cat /proc/{}/environ > {}/environ",
                    victim_pid(t),
                    t.ws.display()
                )
            },
            escaped: |t| {
                std::fs::read(t.ws.join("environ"))
                    .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains("host-secret"))
            },
            control: true,
        },
        Attack {
            name: "set-user-ID file by chmod",
            setup: plain,
            script: |_| "cp /bin/sh suid-sh && chmod 4755 suid-sh".into(),
            escaped: |t| has_set_id_bit(&t.ws.join("suid-sh")),
            control: true,
        },
        Attack {
            name: "set-group-ID file by fchmod",
            setup: plain,
            script: |_| {
                "/usr/bin/python3 -c \"import os; fd = os.open('sgid', os.O_CREAT | os.O_WRONLY, 0o755); \
                 os.fchmod(fd, 0o2755)\""
                    .into()
            },
            escaped: |t| has_set_id_bit(&t.ws.join("sgid")),
            control: true,
        },
        Attack {
            name: "set-user-ID file made by open",
            setup: plain,
            script: |_| {
                "/usr/bin/python3 -c \"import os; os.umask(0); os.close(os.open('made-suid', \
                 os.O_CREAT | os.O_WRONLY, 0o4755))\""
                    .into()
            },
            escaped: |t| has_set_id_bit(&t.ws.join("made-suid")),
            control: true,
        },
        Attack {
            name: "set-group-ID directory made by mkdir",
            setup: plain,
            script: |_| "mkdir -m 2775 sgid-dir".into(),
            escaped: |t| has_set_id_bit(&t.ws.join("sgid-dir")),
            control: true,
        },
        Attack {
            name: "add a key to the caller's session keyring",
            // A key of the host's own first, so this process has a session
            // keyring for the command to inherit (without one, the kernel
            // would give the command a keyring of its own).
            setup: |w| {
                let t = plain(w);
                add_session_key(&format!("{}-host", key_description(&t)), b"host");
                t
            },
            script: |t| {
                format!(
                    "/usr/bin/python3 -c \"import ctypes; ctypes.CDLL(None).syscall({add_key}, b'user', \
                     b'{desc}', b'planted', 7, {session})\"",
                    add_key = libc::SYS_add_key,
                    desc = key_description(t),
                    session = KEY_SPEC_SESSION_KEYRING
                )
            },
            escaped: |t| {
                take_session_key(&format!("{}-host", key_description(t)));
                take_session_key(&key_description(t)).is_some()
            },
            control: keyrings_work(),
        },
        Attack {
            name: "read a key of the caller's session keyring",
            setup: |w| {
                let t = plain(w);
                add_session_key(&key_description(&t), b"host-key-secret");
                t
            },
            script: |t| {
                format!(
                    "/usr/bin/python3 -c \"import ctypes; libc = ctypes.CDLL(None); \
                     key = libc.syscall({keyctl}, {search}, {session}, b'user', b'{desc}', 0); \
                     buf = ctypes.create_string_buffer(64); libc.syscall({keyctl}, {read}, key, buf, 64); \
                     open('key-read', 'wb').write(buf.value)\"",
                    keyctl = libc::SYS_keyctl,
                    search = KEYCTL_SEARCH,
                    read = KEYCTL_READ,
                    session = KEY_SPEC_SESSION_KEYRING,
                    desc = key_description(t)
                )
            },
            escaped: |t| {
                take_session_key(&key_description(t));
                std::fs::read(t.ws.join("key-read")).is_ok_and(|bytes| bytes == b"host-key-secret")
            },
            control: keyrings_work(),
        },
    ]
}

/// Whether the file at `path` carries `S_ISUID` or `S_ISGID`.
fn has_set_id_bit(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.mode() & (libc::S_ISUID | libc::S_ISGID) != 0)
}

const KEY_SPEC_SESSION_KEYRING: i64 = -3;
const KEYCTL_SEARCH: i64 = 10;
const KEYCTL_READ: i64 = 11;
const KEYCTL_INVALIDATE: i64 = 21;

/// A key description unique to this world.
fn key_description(target: &Target) -> String {
    format!("codex-escape-{}", short_id(target))
}

/// Whether this process may add keys at all: a container's seccomp
/// profile may refuse the key calls (Podman's default answers `add_key`
/// with `ENOSYS`, Docker's with `EPERM`), and then there is no key to
/// reach, in the sandbox or out of it (the control cannot run). Asked once,
/// with a key of its own that is taken back at once.
fn keyrings_work() -> bool {
    static WORK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORK.get_or_init(|| {
        let description = format!("codex-escape-probe-{}", std::process::id());
        let added = try_add_session_key(&description, b"probe");
        take_session_key(&description);
        added
    })
}

/// Adds a `user` key to this process's session keyring (which the
/// sandboxed command inherits); nothing where keyrings do not work.
fn add_session_key(description: &str, payload: &[u8]) {
    if !keyrings_work() {
        return;
    }
    assert!(
        try_add_session_key(description, payload),
        "cannot add a key: {}",
        std::io::Error::last_os_error()
    );
}

/// `add_key` of a `user` key to the session keyring: whether it worked.
fn try_add_session_key(description: &str, payload: &[u8]) -> bool {
    let description = std::ffi::CString::new(description).unwrap();
    // SAFETY: add_key with NUL-terminated strings and a payload that live
    // across the call.
    let key = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            description.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_SESSION_KEYRING,
        )
    };
    key >= 0
}

/// Finds the `user` key `description` in the session keyring and
/// invalidates it; its id when it was there.
fn take_session_key(description: &str) -> Option<i64> {
    let description = std::ffi::CString::new(description).unwrap();
    // SAFETY: keyctl with NUL-terminated strings that live across the call.
    let key = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SEARCH,
            KEY_SPEC_SESSION_KEYRING,
            c"user".as_ptr(),
            description.as_ptr(),
            0,
        )
    };
    if key < 0 {
        return None;
    }
    // SAFETY: keyctl with integer arguments.
    unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_INVALIDATE, key) };
    Some(key)
}

/// A name unique to this test process, for paths outside the scratch dir.
fn short_id(target: &Target) -> String {
    format!(
        "{}-{}",
        std::process::id(),
        target
            .ws
            .parent()
            .and_then(Path::file_name)
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
    )
}

#[test]
fn no_attack_gets_out_and_the_harness_sees_each_one_unsandboxed() {
    require_sandbox!();
    run_attacks(attacks());
}

/// The attacks on repositories and configs that exist at start, that a
/// rename frees or that a later run reads need the guard: without it the
/// start-up scan protects only what it finds (a weaker mode the README
/// names), so the unguarded pass skips them, saying so.
#[test]
fn no_attack_on_a_repository_gets_out_and_the_harness_sees_each_one_unsandboxed() {
    require_sandbox!();
    if common::unguarded_pass() {
        eprintln!("SKIPPED: these attacks need the protected-name guard, off in this pass");
        return;
    }
    run_attacks(repositories::attacks());
}

/// Runs each attack in the sandbox and, where it has one, its unsandboxed
/// control; prints the table and fails on an escape or an unseen control.
fn run_attacks(attacks: Vec<Attack>) {
    run_attacks_with(None, &[], attacks);
}

/// [`run_attacks`] with `config` as each sandboxed world's `config.toml`
/// (the test profile's when `None`) and `options` for each sandboxed run.
fn run_attacks_with(config: Option<&str>, options: &[&str], attacks: Vec<Attack>) {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for attack in attacks {
        if let Some(why) = legacy_gap(attack.name) {
            eprintln!(
                "SKIPPED {:?} in the legacy pass: {why} (the README says so)",
                attack.name
            );
            rows.push(format!(
                "| {} | legacy pipeline: {why} | n/a |",
                attack.name
            ));
            continue;
        }
        let world = World::new();
        if let Some(config) = config {
            world.config(config);
        }
        let target = (attack.setup)(&world);
        let output = world.sh(options, &(attack.script)(&target));
        let escaped = (attack.escaped)(&target);
        drop(target);

        let control = if attack.control {
            let world = World::new();
            let target = (attack.setup)(&world);
            world.sh(&["-P", ":danger-full-access"], &(attack.script)(&target));
            Some((attack.escaped)(&target))
        } else {
            None
        };
        rows.push(format!(
            "| {} | {} | {} |",
            attack.name,
            if escaped { "ESCAPED" } else { "blocked" },
            match control {
                Some(true) => "seen",
                Some(false) => "NOT SEEN",
                None => "n/a",
            }
        ));
        if escaped {
            failures.push(format!(
                "{} escaped the sandbox (stderr: {})",
                attack.name,
                common::stderr(&output)
            ));
        }
        if control == Some(false) {
            failures.push(format!(
                "{}: the harness did not see the unsandboxed run get through",
                attack.name
            ));
        }
    }
    println!("| attack | in the sandbox | unsandboxed control |\n| --- | --- | --- |");
    for row in &rows {
        println!("{row}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Why an attack is out of the legacy pipeline's reach, in the legacy pass
/// (`CODEX_TEST_LEGACY=1`): with no PID namespace, this user's other
/// processes are visible, and Landlock (as of Linux 6.18) refuses a
/// sandboxed process only what attaching to another one needs, not reading
/// its `/proc` entries.
fn legacy_gap(attack: &str) -> Option<&'static str> {
    (common::legacy_pass() && attack == "read a host process's environment")
        .then_some("no PID namespace: this user's other processes' /proc entries stay readable")
}

/// Opens a pseudo-terminal: (master, slave).
fn open_pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the locals it is given;
    // the name, termios and winsize arguments may be null.
    let done = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(done, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened for this process alone.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    }
}

/// Whatever is queued as terminal input on `slave`, without waiting.
fn pending_input(slave: &std::fs::File) -> String {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    // SAFETY: F_SETFL on a descriptor `slave` keeps open.
    unsafe { libc::fcntl(slave.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut buffer = [0u8; 256];
    let read = (&*slave).read(&mut buffer).unwrap_or(0);
    String::from_utf8_lossy(&buffer[..read]).into_owned()
}

/// TIOCSTI pushes bytes into a terminal's input queue, to be read by the
/// shell after the sandbox ends. The sandbox has no controlling terminal
/// (bwrap `--new-session`) and no capabilities, so the kernel refuses it.
/// The control (as root, whose CAP_SYS_ADMIN allows TIOCSTI on any
/// terminal where the kernel still has it) shows the harness sees it.
#[test]
fn tiocsti_cannot_push_input_into_the_terminal() {
    require_sandbox!();
    let inject = "/usr/bin/python3 -c 'import fcntl, termios\nfor c in b\"injected\\n\": fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))'";
    let run = |options: &[&str]| {
        let world = World::new();
        let (_master, slave) = open_pty();
        let output = world
            .command(options, &["/bin/sh", "-c", inject])
            .stdin(slave.try_clone().unwrap())
            .output()
            .unwrap();
        (output, pending_input(&slave))
    };
    let (output, queued) = run(&[]);
    assert!(
        !queued.contains("injected"),
        "TIOCSTI from the sandbox reached the terminal: {queued:?} ({})",
        common::stderr(&output)
    );
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let legacy = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map_or(true, |value| value.trim() == "1");
    if root && legacy {
        let (_, queued) = run(&["-P", ":danger-full-access"]);
        assert!(
            queued.contains("injected"),
            "control: TIOCSTI unsandboxed did not show: {queued:?}"
        );
    }
}

/// Class 6: a `CODEX_HOME` inside the workspace (`$PWD/.codex-home`, a CI
/// habit) stays read-only, so the command cannot choose the next run's
/// profile; unsandboxed the same edit lands (the control).
#[test]
fn a_codex_home_in_the_workspace_cannot_be_rewritten() {
    require_sandbox!();
    for (options, expect_changed) in [(&[][..], false), (&["-P", ":danger-full-access"][..], true)]
    {
        let world = World::new();
        let home = world.ws.join(".codex-home");
        std::fs::create_dir(&home).unwrap();
        let config = home.join("config.toml");
        std::fs::write(&config, common::TEST_PROFILE_CONFIG).unwrap();
        let script = format!(
            "echo 'default_permissions = \":danger-full-access\"' > {c}; echo x > {h}/planted.toml",
            c = config.display(),
            h = home.display()
        );
        world
            .command(options, &["sh", "-c", &script])
            .env("CODEX_HOME", &home)
            .output()
            .unwrap();
        let changed = std::fs::read_to_string(&config).unwrap() != common::TEST_PROFILE_CONFIG
            || home.join("planted.toml").exists();
        assert_eq!(changed, expect_changed, "options {options:?}");
    }
}

/// Run as root, the command cannot give a file of the host a capability:
/// the namespace's root writes `security.capability` with the host's root
/// as its owner, which the host would honour (a `cap_setuid` binary any
/// local user runs); the sandbox drops `CAP_SETFCAP`. Only root can set
/// the attribute unsandboxed, so this runs only as root.
#[test]
fn a_file_capability_set_as_root_does_not_reach_the_host() {
    require_sandbox!();
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: only root can set a file capability, sandboxed or not");
        return;
    }
    // A version 2 `vfs_cap_data`: effective, permitted = cap_setuid (7).
    let script = "cp /bin/true capped && /usr/bin/python3 -c \"import os, struct; \
                  os.setxattr('capped', 'security.capability', \
                  struct.pack('<5I', 0x02000001, 1 << 7, 0, 0, 0))\"";
    let capped = |world: &World| {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(world.ws.join("capped").as_os_str().as_bytes()).unwrap();
        let mut value = [0u8; 64];
        // SAFETY: both names are NUL-terminated strings that outlive the
        // call, and `value` is a writable buffer of the length given.
        let size = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                c"security.capability".as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        size > 0
    };
    for (options, expect_capped) in [
        (&["-P", ":workspace"][..], false),
        (&["-P", ":danger-full-access"][..], true),
    ] {
        let world = World::new();
        let output = world.sh(options, script);
        assert_eq!(
            capped(&world),
            expect_capped,
            "{options:?}: {}",
            common::stderr(&output)
        );
    }
}

/// A device node keeps its mode and times: the sandbox's `/dev/null` is
/// the host's own node, bound in (the host's itself in the legacy
/// pipeline), so root's `chmod 600 /dev/null` inside would break it for
/// every user outside. Checked on a node of the same device made in the
/// workspace (the host's real one is not risked), and a temporary root
/// (`$TMPDIR`) keeps its mode: without its sticky bit every user could
/// remove every other's files. The controls, unsandboxed, change both.
#[test]
fn device_nodes_and_temporary_roots_keep_their_modes() {
    require_sandbox!();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: only root can make a device node and own the node it changes");
        return;
    }
    let mode_of = |path: &Path| std::fs::metadata(path).unwrap().mode() & 0o7777;
    let make = |world: &World| {
        let node = world.ws.join("null");
        let made = std::process::Command::new("mknod")
            .arg(&node)
            .args(["c", "1", "3"])
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o666)).unwrap();
        let tmpdir = world.outside.join("tmpdir");
        std::fs::create_dir(&tmpdir).unwrap();
        std::fs::set_permissions(&tmpdir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        (node, tmpdir)
    };
    let script = |node: &Path, tmpdir: &Path| {
        format!(
            "chmod 600 {}; chmod 777 {}; true",
            node.display(),
            tmpdir.display()
        )
    };
    let world = World::new();
    let (node, tmpdir) = make(&world);
    // `:workspace`: `$TMPDIR` is a temporary root, writable. The guard
    // keeps both in every pass (without it, nothing does: see
    // docs/security-model.md).
    let output = world
        .guarded(
            &["-P", ":workspace"],
            &["sh", "-c", &script(&node, &tmpdir)],
        )
        .env("TMPDIR", &tmpdir)
        .output()
        .unwrap();
    assert_eq!(mode_of(&node), 0o666, "{}", common::stderr(&output));
    assert_eq!(mode_of(&tmpdir), 0o1777, "{}", common::stderr(&output));
    let control = World::new();
    let (node, tmpdir) = make(&control);
    control.sh(&["-P", ":danger-full-access"], &script(&node, &tmpdir));
    assert_eq!(
        mode_of(&node),
        0o600,
        "control: the node's mode must change"
    );
    assert_eq!(
        mode_of(&tmpdir),
        0o777,
        "control: the directory's mode must change"
    );
}
