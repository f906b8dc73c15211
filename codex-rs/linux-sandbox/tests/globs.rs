//! Deny-read globs and protected paths at any depth, under real bwrap,
//! judged from the host.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use common::{World, assert_code, assert_refused, marker_script, read, stderr, stdout};

const DEV_PROFILE: &str = r#"default_permissions = "dev"
[permissions.dev.filesystem]
":root" = "read"
[permissions.dev.filesystem.":workspace_roots"]
"." = "write"
"**/*.env" = "none"
"**/secrets" = "none"
"#;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// The sandboxed command prints what it could read; each secret must be
/// unreadable and each ordinary file readable.
#[test]
fn glob_matches_cannot_be_read_whatever_their_depth_or_visibility() {
    require_sandbox!();
    let world = World::new();
    world.config(DEV_PROFILE);
    write(&world.ws.join(".env"), "TOP_SECRET");
    write(&world.ws.join("app/config/prod.env"), "DEEP_SECRET");
    write(&world.ws.join("ignored/local.env"), "IGNORED_SECRET");
    write(&world.ws.join(".gitignore"), "*.env\nignored/\n");
    write(&world.ws.join("app/secrets/key.pem"), "DIR_SECRET");
    write(&world.ws.join("app/main.rs"), "fn main() {}");
    write(&world.outside.join("linked.env"), "LINKED_SECRET");
    symlink(world.outside.join("linked.env"), world.ws.join("link.env")).unwrap();
    let script = "for f in .env app/config/prod.env ignored/local.env app/secrets/key.pem link.env \
                  app/main.rs; do cat \"$f\" 2>/dev/null; echo \" <$f>\"; done; \
                  echo \"listing:$(ls app/secrets 2>&1)\"; cat $OUTSIDE/linked.env 2>/dev/null; echo";
    let output = world
        .command(&[], &["sh", "-c", script])
        .env("OUTSIDE", &world.outside)
        .output()
        .unwrap();
    assert_code(&output, 0);
    let seen = stdout(&output);
    for secret in [
        "TOP_SECRET",
        "DEEP_SECRET",
        "IGNORED_SECRET",
        "DIR_SECRET",
        "LINKED_SECRET",
    ] {
        assert!(!seen.contains(secret), "{secret} was read: {seen}");
    }
    assert!(seen.contains("fn main() {}"), "{seen}");
    assert!(
        seen.contains("listing:\n"),
        "the masked directory was listed: {seen}"
    );
    // The command could not replace the secrets either.
    let output = world.sh(
        &[],
        "echo changed > .env; echo changed > app/secrets/key.pem",
    );
    assert_ne!(output.status.code(), Some(0));
    assert_eq!(read(&world.ws.join(".env")).as_deref(), Some("TOP_SECRET"));
    assert_eq!(
        read(&world.ws.join("app/secrets/key.pem")).as_deref(),
        Some("DIR_SECRET")
    );
}

#[test]
fn an_absolute_glob_masks_outside_the_workspace_and_depth_bounds_it() {
    require_sandbox!();
    let world = World::new();
    let outside = world.outside.display();
    world.config(&format!(
        "default_permissions = \"dev\"\n[permissions.dev.filesystem]\n\":root\" = \"read\"\n\
         \":workspace_roots\" = \"write\"\n\"{outside}/**/id_*\" = \"none\"\nglob_scan_max_depth = 2\n"
    ));
    write(&world.outside.join("id_top"), "SECRET_1");
    write(&world.outside.join("a/id_mid"), "SECRET_2");
    write(&world.outside.join("a/b/id_deep"), "BEYOND_DEPTH");
    let output = world.sh(
        &[],
        &format!("cat {outside}/id_top {outside}/a/id_mid {outside}/a/b/id_deep 2>/dev/null; true"),
    );
    assert_code(&output, 0);
    let seen = stdout(&output);
    assert!(
        !seen.contains("SECRET_1") && !seen.contains("SECRET_2"),
        "{seen}"
    );
    // Documented limit: deeper than glob_scan_max_depth is not scanned.
    assert!(seen.contains("BEYOND_DEPTH"), "{seen}");
}

/// Without `glob_scan_max_depth` a deny glob has no depth limit, as in
/// Codex: a match twelve levels down is masked too.
#[test]
fn without_a_depth_a_glob_reaches_every_level() {
    require_sandbox!();
    let world = World::new();
    world.config(
        "default_permissions = \"dev\"\n[permissions.dev.filesystem]\n\":root\" = \"read\"\n\
         [permissions.dev.filesystem.\":workspace_roots\"]\n\".\" = \"write\"\n\"**/*.env\" = \"deny\"\n",
    );
    let deep = "a/b/c/d/e/f/g/h/i/j/k/l";
    write(&world.ws.join(deep).join("x.env"), "DEEP_SECRET");
    write(&world.ws.join("top.env"), "TOP_SECRET");
    let output = world.sh(&[], &format!("cat top.env {deep}/x.env 2>/dev/null; true"));
    assert_code(&output, 0);
    let seen = stdout(&output);
    assert!(
        !seen.contains("DEEP_SECRET") && !seen.contains("TOP_SECRET"),
        "{seen}"
    );
}

/// A nested repository, a submodule whose `.git` file points into the
/// superproject's `.git/modules`, and a worktree whose gitdir lives in
/// another repository of the workspace: none of their git metadata can be
/// written, while their working files can.
#[test]
fn nested_repositories_submodules_and_worktrees_keep_git_metadata_read_only() {
    require_sandbox!();
    let world = World::new();
    let ws = &world.ws;
    // A repository below the workspace root, with a commit for the worktree.
    let main = ws.join("projects/main");
    std::fs::create_dir_all(&main).unwrap();
    git(&main, &["init", "-q"]);
    write(&main.join("README"), "main");
    git(&main, &["add", "README"]);
    git(&main, &["commit", "-q", "-m", "init"]);
    git(&main, &["worktree", "add", "-q", "../wt"]);
    // A submodule, by hand: .git file + gitdir under the top repo's modules.
    write(&ws.join("libs/x/.git"), "gitdir: ../../.git/modules/x\n");
    write(&ws.join(".git/modules/x/config"), "[core]\n");
    std::fs::create_dir_all(ws.join(".git/modules/x/hooks")).unwrap();
    write(&ws.join("tools/.codex/config.toml"), "model = \"x\"\n");
    write(&ws.join("a/b/.agents/AGENTS.md"), "be nice\n");

    let attempts = [
        "echo hook > projects/main/.git/hooks/pre-commit",
        "echo x >> projects/main/.git/config",
        "echo hook > projects/wt/.git",
        "echo x >> projects/main/.git/worktrees/wt/HEAD",
        "echo x > libs/x/.git",
        "echo hook > .git/modules/x/hooks/post-checkout",
        "echo x >> tools/.codex/config.toml",
        "echo x > a/b/.agents/new.md",
        "rm -rf projects/main/.git",
        "mv libs/x/.git libs/x/moved",
    ];
    for attempt in attempts {
        let output = world.sh(&[], attempt);
        assert_ne!(output.status.code(), Some(0), "`{attempt}` succeeded");
    }
    assert!(read(&main.join(".git/hooks/pre-commit")).is_none());
    assert!(read(&ws.join(".git/modules/x/hooks/post-checkout")).is_none());
    assert_eq!(
        read(&ws.join("libs/x/.git")).as_deref(),
        Some("gitdir: ../../.git/modules/x\n")
    );
    assert_eq!(
        read(&ws.join("tools/.codex/config.toml")).as_deref(),
        Some("model = \"x\"\n")
    );
    assert!(read(&ws.join("a/b/.agents/new.md")).is_none());
    assert!(main.join(".git/HEAD").exists());
    // Working files stay writable.
    let output = world.sh(
        &[],
        "echo edited > projects/wt/README && echo y > libs/x/file",
    );
    assert_code(&output, 0);
    assert_eq!(
        read(&ws.join("projects/wt/README")).as_deref(),
        Some("edited\n")
    );
}

/// Configs that still set the retired `features.scan_with_ripgrep` keep
/// working: one warning, the same scan, the same masks.
#[test]
fn the_retired_ripgrep_feature_warns_once_and_changes_nothing() {
    require_sandbox!();
    let world = World::new();
    world.config(&format!(
        "{DEV_PROFILE}[features]\nscan_with_ripgrep = true\n"
    ));
    write(&world.ws.join("deep/er/.env"), "TOP_SECRET");
    let output = world.sh(&[], "cat deep/er/.env 2>/dev/null; true");
    assert_code(&output, 0);
    assert!(
        !stdout(&output).contains("TOP_SECRET"),
        "{}",
        stdout(&output)
    );
    let messages = stderr(&output);
    let warnings: Vec<&str> = messages
        .lines()
        .filter(|line| line.contains("scan_with_ripgrep"))
        .collect();
    assert_eq!(warnings.len(), 1, "{messages}");
    assert!(
        warnings[0].contains("warning: features.scan_with_ripgrep")
            && warnings[0].contains("no longer used"),
        "{}",
        warnings[0]
    );
}

/// Runs the marker script with `PATH` set (when given), and asserts it was
/// refused with `code` and a message containing every needle.
fn assert_refused_with_path(world: &World, path: Option<&str>, code: i32, needles: &[&str]) {
    let (script, mark) = marker_script(world);
    let mut command = world.command(&[], &["sh", "-c", &script]);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    assert_refused(&command.output().unwrap(), &mark, code, needles);
}

#[test]
fn too_many_matches_are_refused_with_the_count() {
    let world = World::new();
    world.config(DEV_PROFILE);
    for index in 0..300 {
        write(&world.ws.join(format!("many/{index}.env")), "S");
    }
    assert_refused_with_path(
        &world,
        None,
        78,
        &[
            "need 300 mounts",
            "**/*.env",
            "set glob_scan_max_depth lower (the scan went every level deep)",
        ],
    );
}

#[test]
fn bad_glob_input_names_the_key() {
    let world = World::new();
    for (config, needles) in [
        (
            "default_permissions = \"dev\"\n\
             [permissions.dev.filesystem.\":workspace_roots\"]\n\"**/[a.env\" = \"none\"\n",
            &["\"**/[a.env\"", "invalid glob"][..],
        ),
        (
            "default_permissions = \"dev\"\n[permissions.dev.filesystem]\n\"/x/*/**\" = \"write\"\n",
            &["\"/x/*/**\"", "can only deny reading"][..],
        ),
        (
            "default_permissions = \"dev\"\n[permissions.dev.filesystem]\nglob_scan_max_depth = -2\n",
            &["glob_scan_max_depth", "positive integer"][..],
        ),
    ] {
        world.config(config);
        assert_refused_with_path(&world, None, 78, needles);
    }
    // writable_roots tune the legacy workspace-write mode, chosen with -c.
    world.config("[sandbox_workspace_write]\nwritable_roots = [\"/data/*\"]\n");
    let (script, mark) = marker_script(&world);
    let output = world.run(
        &["-c", "sandbox_mode=workspace-write"],
        &["sh", "-c", &script],
    );
    assert_refused(&output, &mark, 78, &["writable_roots", "is a glob"]);
}

#[test]
fn a_missing_denied_path_cannot_be_created() {
    require_sandbox!();
    let world = World::new();
    world.config(
        "default_permissions = \"dev\"\n[permissions.dev.filesystem]\n\":root\" = \"read\"\n\
         [permissions.dev.filesystem.\":workspace_roots\"]\n\".\" = \"write\"\n\"keys/prod\" = \"none\"\n\
         \"out/new\" = \"write\"\n",
    );
    let output = world.sh(&[], "mkdir -p keys/prod && echo s > keys/prod/k");
    assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(read(&world.ws.join("keys/prod/k")).is_none());
    // A missing write rule is not created.
    let output = world.sh(&["--explain"], "true");
    assert_code(&output, 0);
    assert!(stdout(&output).contains("out/new"), "{}", stdout(&output));
    assert!(!world.ws.join("out").exists());
}
