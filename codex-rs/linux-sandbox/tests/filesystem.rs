//! Filesystem policy, checked from the host after real sandboxed commands.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use common::{World, assert_code, read, stderr, stdout};
use std::os::unix::fs::PermissionsExt;

#[test]
fn a_write_in_the_workspace_lands() {
    require_sandbox!();
    let world = World::new();
    let output = world.sh(
        &[],
        "echo hello > made.txt && mkdir -p sub/dir && echo x > sub/dir/f",
    );
    assert_code(&output, 0);
    assert_eq!(read(&world.ws.join("made.txt")).as_deref(), Some("hello\n"));
    assert_eq!(read(&world.ws.join("sub/dir/f")).as_deref(), Some("x\n"));
}

#[test]
fn writes_outside_the_workspace_fail_and_leave_the_host_file_unchanged() {
    require_sandbox!();
    let world = World::new();
    let target = world.outside.join("target.txt");
    std::fs::write(&target, "original").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::metadata(&target).unwrap();
    let t = target.display();
    let o = world.outside.display();
    let attempts = [
        format!("echo changed > {t}"),
        format!("echo more >> {t}"),
        format!("chmod 777 {t}"),
        format!("touch -d '2001-01-01' {t}"),
        format!("ln {t} {o}/hardlink"),
        format!("ln {t} ./hardlink-in-ws"),
        format!("rm -f {t}"),
        format!("mv {t} {o}/moved"),
        format!("echo new > {o}/new.txt"),
        format!("mkdir {o}/newdir"),
        format!("ln -s /etc/passwd {o}/symlink"),
    ];
    for attempt in &attempts {
        let output = world.sh(&[], attempt);
        assert_ne!(
            output.status.code(),
            Some(0),
            "`{attempt}` succeeded: {}",
            stderr(&output)
        );
    }
    let after = std::fs::metadata(&target).unwrap();
    assert_eq!(read(&target).as_deref(), Some("original"));
    assert_eq!(after.permissions().mode() & 0o777, 0o644);
    assert_eq!(after.modified().unwrap(), before.modified().unwrap());
    let mut left: Vec<_> = std::fs::read_dir(&world.outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["target.txt"]);
    assert!(
        !world.ws.join("hardlink-in-ws").exists(),
        "a hard link to an outside file must not be made"
    );
}

#[test]
fn git_metadata_cannot_be_written_or_created() {
    require_sandbox!();
    let world = World::new();
    let config_before = read(&world.ws.join(".git/config")).unwrap();
    let attempts = [
        "echo '[core] hooksPath = /tmp' >> .git/config",
        "echo evil > .git/hooks/pre-commit",
        "echo evil > .git/hooks/post-checkout && chmod +x .git/hooks/post-checkout",
        "mkdir .git/newdir",
        "rm -rf .git/hooks",
        "mv .git .git-moved",
        "mkdir -p .codex && echo 'x' > .codex/config.toml",
        "mkdir -p .agents/skills",
        "echo x > .codex",
    ];
    for attempt in attempts {
        let output = world.sh(&[], attempt);
        assert_ne!(output.status.code(), Some(0), "`{attempt}` succeeded");
    }
    assert_eq!(read(&world.ws.join(".git/config")).unwrap(), config_before);
    assert!(!world.ws.join(".git/hooks/pre-commit").exists());
    assert!(!world.ws.join(".git/hooks/post-checkout").exists());
    assert!(!world.ws.join(".git/newdir").exists());
    assert!(!world.ws.join(".git-moved").exists());
    assert!(!world.ws.join(".codex/config.toml").exists());
    assert!(!world.ws.join(".agents/skills").exists());
}

/// `.aws` is protected as Codex 0.171 protects it: existing credentials
/// stay as they are, and no `.aws` can be made, at the top of the
/// workspace (masked) or deeper (the guard).
#[test]
fn aws_credentials_cannot_be_written_or_created() {
    require_sandbox!();
    let world = World::new();
    std::fs::create_dir_all(world.ws.join("keep/.aws")).unwrap();
    std::fs::write(world.ws.join("keep/.aws/credentials"), "[default]\n").unwrap();
    for (attempt, guarded) in [
        ("echo stolen >> keep/.aws/credentials", false),
        ("rm keep/.aws/credentials", false),
        ("mkdir -p .aws && echo x > .aws/credentials", false),
        ("mkdir -p sub/.aws && echo x > sub/.aws/credentials", true),
        ("mkdir -p sub && mkdir sub/.AWS", true),
    ] {
        let script = ["sh", "-c", attempt];
        let output = if guarded {
            world.guarded(&[], &script).output().unwrap()
        } else {
            world.run(&[], &script)
        };
        assert_ne!(output.status.code(), Some(0), "`{attempt}` succeeded");
    }
    assert_eq!(
        read(&world.ws.join("keep/.aws/credentials")).as_deref(),
        Some("[default]\n")
    );
    assert!(!world.ws.join(".aws/credentials").exists());
    assert!(!world.ws.join("sub/.aws").exists());
    assert!(!world.ws.join("sub/.AWS").exists());
}

#[test]
fn existing_codex_config_cannot_be_changed() {
    require_sandbox!();
    let world = World::new();
    std::fs::create_dir(world.ws.join(".codex")).unwrap();
    std::fs::write(world.ws.join(".codex/config.toml"), "model = \"x\"\n").unwrap();
    let output = world.sh(
        &[],
        "echo 'sandbox_mode = \"danger-full-access\"' > .codex/config.toml",
    );
    assert_ne!(output.status.code(), Some(0));
    assert_eq!(
        read(&world.ws.join(".codex/config.toml")).as_deref(),
        Some("model = \"x\"\n")
    );
    // Still readable.
    let output = world.sh(&[], "cat .codex/config.toml");
    assert_code(&output, 0);
    assert_eq!(stdout(&output), "model = \"x\"\n");
}

#[test]
fn a_gitdir_target_cannot_be_written() {
    require_sandbox!();
    let world = World::new();
    // A submodule-style checkout: ws/sub/.git is a file pointing into the
    // parent's .git/modules, and the sandbox runs with ws/sub as workspace
    // and the parent's git dir writable.
    let gitdir = world.ws.join(".git/modules/sub");
    std::fs::create_dir_all(gitdir.join("hooks")).unwrap();
    std::fs::write(gitdir.join("config"), "[core]\n").unwrap();
    std::fs::create_dir(world.ws.join("sub")).unwrap();
    std::fs::write(world.ws.join("sub/.git"), "gitdir: ../.git/modules/sub\n").unwrap();
    world.config(&format!(
        "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\nwritable_roots = [\"{}\"]\n",
        world.ws.join(".git/modules").display()
    ));
    // The legacy workspace-write mode, the one [sandbox_workspace_write]
    // tunes, given on the command line as Codex takes it.
    let mut cmd = world.command_in(
        &world.ws.join("sub"),
        &["-c", "sandbox_mode=workspace-write"],
        &["sh", "-c", "echo evil > ../.git/modules/sub/hooks/pre-commit; echo x >> ../.git/modules/sub/config; echo ok > ../.git/modules/other"],
    );
    let output = cmd.output().unwrap();
    assert!(
        !gitdir.join("hooks/pre-commit").exists(),
        "{}",
        stderr(&output)
    );
    assert_eq!(read(&gitdir.join("config")).as_deref(), Some("[core]\n"));
    // The rest of the writable root stays writable.
    assert_eq!(
        read(&world.ws.join(".git/modules/other")).as_deref(),
        Some("ok\n")
    );
}

#[test]
fn protective_mounts_cannot_be_unmounted() {
    require_sandbox!();
    let world = World::new();
    let output = world.sh(
        &[],
        "umount .git || umount -l .git; echo evil > .git/hooks/pre-push",
    );
    assert_ne!(output.status.code(), Some(0));
    assert!(!world.ws.join(".git/hooks/pre-push").exists());
}

#[test]
fn read_only_profile_writes_nothing() {
    require_sandbox!();
    let world = World::new();
    let output = world.sh(&["-P", ":read-only"], "echo x > inside.txt");
    assert_ne!(output.status.code(), Some(0));
    assert!(!world.ws.join("inside.txt").exists());
    let output = world.sh(&["-P", ":read-only"], "cat .git/config");
    assert_code(&output, 0);
}

#[test]
fn danger_full_access_runs_unsandboxed() {
    require_sandbox!();
    let world = World::new();
    let target = world.outside.join("written.txt");
    let output = world.sh(
        &["-P", ":danger-full-access"],
        &format!(
            "echo free > {} && grep -c NoNewPrivs:.0 /proc/self/status",
            target.display()
        ),
    );
    assert_code(&output, 0);
    assert_eq!(read(&target).as_deref(), Some("free\n"));
}

#[test]
fn user_profile_split_rules_are_enforced() {
    require_sandbox!();
    let world = World::new();
    for dir in ["data/secret/scratch", "data/open"] {
        std::fs::create_dir_all(world.ws.join(dir)).unwrap();
    }
    std::fs::write(world.ws.join("data/secret/key"), "KEY").unwrap();
    std::fs::write(world.ws.join("data/ro.txt"), "ro").unwrap();
    std::fs::write(world.ws.join("data/token"), "TOKEN").unwrap();
    let ws = world.ws.display();
    world.config(&format!(
        r#"[permissions.dev.filesystem]
":root" = "read"
":workspace_roots" = "write"
"{ws}/data/secret" = "none"
"{ws}/data/secret/scratch" = "write"
"{ws}/data/ro.txt" = "read"
"{ws}/data/token" = "none"
"#
    ));
    let output = world.sh(&["-P", "dev"], "cat data/secret/key");
    assert_ne!(
        output.status.code(),
        Some(0),
        "a none path must not be readable"
    );
    let output = world.sh(&["-P", "dev"], "ls data/secret");
    assert_eq!(
        stdout(&output).trim(),
        "scratch",
        "only the carve-out shows through the mask"
    );
    let output = world.sh(&["-P", "dev"], "echo w > data/secret/scratch/out");
    assert_code(&output, 0);
    assert_eq!(
        read(&world.ws.join("data/secret/scratch/out")).as_deref(),
        Some("w\n")
    );
    let output = world.sh(&["-P", "dev"], "echo x > data/secret/new");
    assert_ne!(output.status.code(), Some(0));
    assert!(!world.ws.join("data/secret/new").exists());
    let output = world.sh(&["-P", "dev"], "echo x > data/ro.txt");
    assert_ne!(output.status.code(), Some(0));
    assert_eq!(read(&world.ws.join("data/ro.txt")).as_deref(), Some("ro"));
    let output = world.sh(&["-P", "dev"], "echo y > data/open/f");
    assert_code(&output, 0);
    // A file with `none`: neither readable nor writable, and unchanged.
    let output = world.sh(&["-P", "dev"], "cat data/token");
    assert_ne!(output.status.code(), Some(0));
    assert!(!stdout(&output).contains("TOKEN"));
    let output = world.sh(&["-P", "dev"], "echo leaked > data/token");
    assert_ne!(output.status.code(), Some(0));
    assert_eq!(read(&world.ws.join("data/token")).as_deref(), Some("TOKEN"));
}

#[test]
fn an_unreadable_root_shows_only_what_the_profile_grants() {
    require_sandbox!();
    require_own_proc!("without /proc the inner stage is found by path, which this profile hides");
    let world = World::new();
    let secret = world.outside.join("secret.txt");
    std::fs::write(&secret, "s3cret").unwrap();
    // /bin is a symlink to usr/bin on merged-/usr systems: it must still work.
    world.config(
        "[permissions.min.filesystem]\n\"/usr\" = \"read\"\n\"/bin\" = \"read\"\n\"/lib\" = \"read\"\n\"/lib64\" = \"read\"\n\":workspace_roots\" = \"write\"\n",
    );
    let script = format!(
        "cat {} ; ls /etc >/dev/null 2>&1 && echo etc-visible; mkdir /newdir 2>/dev/null && echo root-writable; echo ok > made.txt",
        secret.display()
    );
    let output = world.run(&["-P", "min"], &["/bin/sh", "-c", &script]);
    assert_code(&output, 0);
    assert!(!stdout(&output).contains("s3cret"), "{}", stdout(&output));
    assert!(
        !stdout(&output).contains("etc-visible"),
        "{}",
        stdout(&output)
    );
    assert!(
        !stdout(&output).contains("root-writable"),
        "{}",
        stdout(&output)
    );
    assert_eq!(read(&world.ws.join("made.txt")).as_deref(), Some("ok\n"));
}

#[test]
fn a_symlinked_git_dir_is_protected_where_it_points() {
    require_sandbox!();
    let world = World::new();
    // Replace ws/.git by a symlink to a git dir elsewhere in the workspace.
    std::fs::rename(world.ws.join(".git"), world.ws.join("gitstore")).unwrap();
    std::os::unix::fs::symlink("gitstore", world.ws.join(".git")).unwrap();
    let output = world.sh(
        &[],
        "echo evil > .git/hooks/pre-commit; echo evil > gitstore/hooks/post-merge; echo x >> gitstore/config; echo ok > other.txt",
    );
    assert!(
        !world.ws.join("gitstore/hooks/pre-commit").exists(),
        "{}",
        stderr(&output)
    );
    assert!(!world.ws.join("gitstore/hooks/post-merge").exists());
    assert!(
        !read(&world.ws.join("gitstore/config"))
            .unwrap()
            .ends_with("x\n")
    );
    assert_eq!(read(&world.ws.join("other.txt")).as_deref(), Some("ok\n"));
}
