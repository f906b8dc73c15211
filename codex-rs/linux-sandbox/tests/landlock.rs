//! The legacy Landlock pipeline (`--enable use_legacy_landlock`), judged
//! from the host like the bwrap pipeline: the policies it accepts are
//! enforced, and those it cannot enforce exactly are refused before
//! anything runs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::{World, assert_code, assert_refused, marker_script, read, stderr, stdout};

const LANDLOCK: &[&str] = &["--enable", "use_legacy_landlock"];

/// Whether this kernel offers Landlock; prints why not (CI fails instead).
fn landlock_available(test: &str) -> bool {
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag
    // (1), the call only returns the ABI version or an error.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    };
    if abi >= 3 {
        return true;
    }
    let reason = format!("Landlock ABI {abi} (3 or later is needed)");
    assert!(
        std::env::var_os("CODEX_REQUIRE_SANDBOX").is_none_or(|v| v != "1"),
        "{test}: {reason}"
    );
    eprintln!("SKIPPED {test}: {reason}");
    false
}

macro_rules! require_landlock {
    () => {
        if !landlock_available(module_path!()) {
            return;
        }
    };
}

fn with_landlock<'a>(options: &[&'a str]) -> Vec<&'a str> {
    LANDLOCK.iter().chain(options).copied().collect()
}

#[test]
fn read_only_reads_everything_writes_nothing_and_passes_the_status_through() {
    require_landlock!();
    let world = World::new();
    std::fs::write(world.outside.join("data"), "host data").unwrap();
    let inside = world.ws.join("new-in-ws");
    let outside = world.outside.join("new-outside");
    let script = format!(
        "cat {data}; echo; echo x > {inside}; echo x > {outside}; echo x > /dev/null && echo devnull; \
         rm -f {data}; exit 7",
        data = world.outside.join("data").display(),
        inside = inside.display(),
        outside = outside.display()
    );
    let output = world.sh(&with_landlock(&["-P", ":read-only"]), &script);
    assert_code(&output, 7);
    assert_eq!(
        stdout(&output),
        "host data\ndevnull\n",
        "{}",
        stderr(&output)
    );
    assert!(read(&inside).is_none(), "wrote in the workspace");
    assert!(read(&outside).is_none(), "wrote outside");
    assert_eq!(
        read(&world.outside.join("data")).as_deref(),
        Some("host data")
    );
}

#[test]
fn a_writable_file_is_writable_and_its_siblings_are_not() {
    require_landlock!();
    let world = World::new();
    let log = world.outside.join("agent.log");
    let sibling = world.outside.join("other.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(&sibling, "").unwrap();
    world.config(&format!(
        "[permissions.p.filesystem]\n\":root\" = \"read\"\n\"{}\" = \"write\"\n",
        log.display()
    ));
    let output = world.sh(
        &with_landlock(&["-P", "p"]),
        &format!(
            "echo line >> {}; echo line >> {} || echo sibling-refused",
            log.display(),
            sibling.display()
        ),
    );
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "sibling-refused\n");
    assert_eq!(read(&log).as_deref(), Some("line\n"));
    assert_eq!(read(&sibling).as_deref(), Some(""));
}

#[test]
fn the_network_is_restricted_by_the_same_filter() {
    require_landlock!();
    let world = World::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let output = world.sh(
        &with_landlock(&["-P", ":read-only"]),
        &format!("/usr/bin/python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 2)' || echo refused"),
    );
    assert!(
        stdout(&output).ends_with("refused\n"),
        "{}",
        stderr(&output)
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        listener.accept().is_err(),
        "the host listener saw a connection"
    );
}

#[test]
fn the_command_has_no_new_privs_and_a_filter() {
    require_landlock!();
    let world = World::new();
    let output = world.sh(
        &with_landlock(&["-P", ":read-only"]),
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
    );
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "NoNewPrivs:\t1\nSeccomp:\t2\n");
}

#[test]
fn policies_landlock_cannot_enforce_exactly_are_refused_and_nothing_runs() {
    const UNGUARDED: &[&str] = &["--disable", "guard_protected_names"];
    let cases: [(&str, &str, &[&str], &str); 6] = [
        // Without the guard nothing keeps the protected names of a
        // writable directory, nor a read-only directory inside one.
        (
            "",
            common::TEST_PROFILE,
            UNGUARDED,
            "read-only .git, .codex, .agents and .aws inside the writable",
        ),
        (
            "[permissions.p.filesystem]\n\":root\" = \"write\"\n\"/usr\" = \"read\"\n",
            "p",
            UNGUARDED,
            "the read-only /usr",
        ),
        (
            "[permissions.p.filesystem]\n\":root\" = \"read\"\n\"/usr\" = \"none\"\n",
            "p",
            &[],
            "`none` on /usr",
        ),
        (
            "[permissions.p.filesystem]\n\":root\" = \"read\"\n\"/home/**/*.env\" = \"none\"\n",
            "p",
            &[],
            "deny-read glob",
        ),
        (
            "[permissions.p.filesystem]\n\":root\" = \"read\"\n[permissions.p.network]\nenabled = true\nenvironment_proxy = true\n",
            "p",
            &[],
            "network mode proxy",
        ),
        (
            "[permissions.p.filesystem]\n\":root\" = \"read\"\n\"/home/**/*.env\" = \"none\"\n",
            "p",
            UNGUARDED,
            "deny-read glob",
        ),
    ];
    for (config, profile, options, needle) in cases {
        let world = World::new();
        if !config.is_empty() {
            world.config(config);
        }
        let (script, mark) = marker_script(&world);
        let options = [options, &["-P", profile]].concat();
        let output = world.run(&with_landlock(&options), &["sh", "-c", &script]);
        assert_refused(&output, &mark, 78, &[needle, "bubblewrap pipeline"]);
    }
}

/// What Docker's default container allows (no namespace, no mount) is
/// enough for a writable workspace: Landlock grants the workspace, and
/// `codex`, supervising the command, keeps what mounts keep elsewhere.
/// Each effect is checked from here, on the host.
#[test]
fn a_writable_workspace_keeps_its_protected_names_without_a_mount() {
    require_landlock!();
    let world = World::new();
    let nested = world.ws.join("sub/.git");
    std::fs::create_dir_all(nested.join("hooks")).unwrap();
    std::fs::write(nested.join("config"), "[core]\n").unwrap();
    std::fs::create_dir(world.ws.join("vendor")).unwrap();
    std::fs::write(world.outside.join("mode"), "").unwrap();
    world.config(&format!(
        "{}\"{}\" = \"read\"\n",
        common::TEST_PROFILE_CONFIG,
        world.ws.join("vendor").display()
    ));
    let script = format!(
        "echo inside > made; \
         echo x > {outside}/new || echo outside-refused; \
         echo x >> sub/.git/config || echo config-refused; \
         echo '#!/bin/sh' > sub/.git/hooks/pre-commit || echo hook-refused; \
         mkdir -p p/.git || echo plant-refused; \
         echo x > vendor/x || echo vendor-refused; \
         chmod 777 {outside}/mode || echo chmod-refused; \
         echo x >> {codex_home}/config.toml || echo config-home-refused; \
         cat /proc/$PPID/comm",
        outside = world.outside.display(),
        codex_home = world.codex_home.display(),
    );
    // With the guard in every pass: the legacy pipeline needs it here.
    let output = world
        .guarded(LANDLOCK, &["sh", "-c", &script])
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(
        stdout(&output),
        "outside-refused\nconfig-refused\nhook-refused\nplant-refused\nvendor-refused\n\
         chmod-refused\nconfig-home-refused\ncodex-linux-san\n",
        "{}",
        stderr(&output)
    );
    assert_eq!(read(&world.ws.join("made")).as_deref(), Some("inside\n"));
    assert!(read(&world.outside.join("new")).is_none());
    assert_eq!(read(&nested.join("config")).as_deref(), Some("[core]\n"));
    assert!(!nested.join("hooks/pre-commit").exists());
    assert!(!world.ws.join("p/.git").exists());
    assert!(!world.ws.join("vendor/x").exists());
    let mode = std::fs::metadata(world.outside.join("mode"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o644
    );
    assert!(
        stderr(&output).contains("refused to create .git"),
        "{}",
        stderr(&output)
    );
}

/// Sets (or, with no flag, reads) a file's inode flags through `chattr`'s
/// ioctl, on a read-only descriptor; prints the flags or the errno.
const INODE_FLAGS: &str = r#"
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    flags = struct.unpack("l", fcntl.ioctl(fd, 0x80086601, struct.pack("l", 0)))[0]
    if len(sys.argv) > 2:
        fcntl.ioctl(fd, 0x40086602, struct.pack("l", flags | int(sys.argv[2], 0)))
        flags = struct.unpack("l", fcntl.ioctl(fd, 0x80086601, struct.pack("l", 0)))[0]
    print(flags)
except OSError as err:
    print("errno", err.errno)
"#;

/// What the kernel changes with no call the guard would hold by path: a
/// core dump written into the crashing process's directory, and inode
/// flags set by `ioctl` on a read-only descriptor. Neither reaches a
/// protected entry here; each control, unsandboxed, shows the harness
/// sees it (a host whose core pattern is a pipe, or a filesystem without
/// inode flags, says it skips that part).
#[test]
fn dumps_and_inode_flags_never_change_a_protected_entry() {
    require_landlock!();
    let world = World::new();
    let crash = "ulimit -c unlimited 2>/dev/null; cd .git && sh -c 'kill -SEGV $$'";
    let control = World::new();
    let _ = std::process::Command::new("sh")
        .args(["-c", crash])
        .current_dir(&control.ws)
        .output()
        .unwrap();
    if control.ws.join(".git/core").exists() {
        let output = world
            .guarded(LANDLOCK, &["sh", "-c", crash])
            .output()
            .unwrap();
        assert!(
            !world.ws.join(".git/core").exists(),
            "a core dump landed in .git: {}",
            stderr(&output)
        );
    } else {
        eprintln!("SKIPPED the core dump part: no core file unsandboxed here (core_pattern)");
    }
    let flags_script = world.outside.join("flags.py");
    std::fs::write(&flags_script, INODE_FLAGS).unwrap();
    let config = world.ws.join(".git/config");
    let flags_of = |path: &std::path::Path, set: Option<&str>| {
        let mut command = std::process::Command::new("/usr/bin/python3");
        command.arg(&flags_script).arg(path).args(set);
        stdout(&command.output().unwrap()).trim().to_owned()
    };
    let before = flags_of(&config, None);
    let probe = control.ws.join("probe");
    std::fs::write(&probe, "").unwrap();
    let probe_before = flags_of(&probe, None);
    // 0x40: FS_NODUMP_FL, which the file's owner may set.
    if !probe_before.starts_with("errno") && flags_of(&probe, Some("0x40")) != probe_before {
        let output = world
            .guarded(
                LANDLOCK,
                &[
                    "/usr/bin/python3".as_ref(),
                    flags_script.as_os_str(),
                    config.as_os_str(),
                    "0x40".as_ref(),
                ],
            )
            .output()
            .unwrap();
        assert_eq!(
            stdout(&output).trim(),
            format!("errno {}", libc::EPERM),
            "{}",
            stderr(&output)
        );
        assert_eq!(
            flags_of(&config, None),
            before,
            "inode flags of .git/config changed"
        );
    } else {
        eprintln!("SKIPPED the inode flags part: this filesystem has none to set");
    }
}
