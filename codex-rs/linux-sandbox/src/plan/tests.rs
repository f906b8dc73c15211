use super::*;
use crate::fs_view::fake::FakeFs;
use crate::scan::{GlobMatch, ScanReport};
use crate::test_support::policy;
use codex_sandboxing::resolve::ResolvedGlob;

fn plan_for(rules: &[(&str, Access)], cwd: &str, fs: &FakeFs) -> MountPlan {
    plan(
        &policy(rules, cwd, NetworkMode::Restricted),
        &ScanReport::empty(),
        ProcMode::Mount,
        fs,
    )
    .unwrap()
}

fn rule<'a>(plan: &'a MountPlan, path: &str) -> &'a PlannedRule {
    plan.rules
        .iter()
        .find(|rule| rule.path == Path::new(path))
        .unwrap_or_else(|| panic!("no rule for {path}: {:#?}", plan.rules))
}

fn position(plan: &MountPlan, op: &MountOp) -> usize {
    plan.ops
        .iter()
        .position(|candidate| candidate == op)
        .unwrap_or_else(|| panic!("{op:?} not in {:#?}", plan.ops))
}

use Access::{None as NoAccess, Read, Write};
use MountOp::*;

#[test]
fn workspace_profile_golden_plan() {
    let fs = FakeFs::new()
        .file("/ws/.git/HEAD", "ref: refs/heads/main")
        .dir("/ws/src")
        .dir("/tmp");
    let plan = plan_for(&[("/", Read), ("/ws", Write), ("/tmp", Write)], "/ws", &fs);
    // The guard refuses the missing protected names: nothing to mask, so
    // nothing made on the host.
    assert_eq!(
        plan.ops,
        [
            RoBind("/".into()),
            Dev,
            Proc,
            Bind("/tmp".into()),
            Bind("/ws".into()),
            RoBindTry("/ws/.git".into()),
        ]
    );
    assert!(plan.mount_points.is_empty());
    assert_eq!(rule(&plan, "/ws/.codex").outcome, Outcome::MissingGuarded);
}

#[test]
fn without_the_guard_missing_protected_names_are_masked_on_leased_mount_points() {
    let fs = FakeFs::new()
        .file("/ws/.git/HEAD", "ref: refs/heads/main")
        .dir("/ws/src")
        .dir("/tmp");
    let mut policy = policy(
        &[("/", Read), ("/ws", Write), ("/tmp", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    policy.guard_protected_names = false;
    let plan = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    assert_eq!(
        plan.ops,
        [
            RoBind("/".into()),
            Dev,
            Proc,
            Bind("/tmp".into()),
            Bind("/ws".into()),
            MaskDir("/tmp/.agents".into()),
            MaskDir("/tmp/.aws".into()),
            MaskDir("/tmp/.codex".into()),
            MaskDir("/tmp/.git".into()),
            MaskDir("/ws/.agents".into()),
            MaskDir("/ws/.aws".into()),
            MaskDir("/ws/.codex".into()),
            RoBind("/ws/.git".into()),
            RemountRo("/tmp/.agents".into()),
            RemountRo("/tmp/.aws".into()),
            RemountRo("/tmp/.codex".into()),
            RemountRo("/tmp/.git".into()),
            RemountRo("/ws/.agents".into()),
            RemountRo("/ws/.aws".into()),
            RemountRo("/ws/.codex".into()),
        ]
    );
    let points: Vec<String> = plan
        .mount_points
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    assert_eq!(
        points,
        [
            "/tmp/.agents",
            "/tmp/.aws",
            "/tmp/.codex",
            "/tmp/.git",
            "/ws/.agents",
            "/ws/.aws",
            "/ws/.codex"
        ]
    );
}

#[test]
fn nothing_is_masked_where_this_user_cannot_create_anything() {
    let fs = FakeFs::new().closed_dir("/srv/ro").dir("/ws");
    let mut policy = policy(
        &[
            ("/", Read),
            ("/srv/ro", Write),
            ("/ws", Write),
            ("/ws/keys/prod", NoAccess),
        ],
        "/srv/ro",
        NetworkMode::Restricted,
    );
    policy.guard_protected_names = false;
    let plan = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    assert_eq!(
        rule(&plan, "/srv/ro/.git").outcome,
        Outcome::MissingUncreatable
    );
    assert!(
        !plan
            .ops
            .iter()
            .any(|op| format!("{op:?}").contains("/srv/ro/."))
    );
    // A missing denied path where the user can create it is masked, on a
    // mount point the launch leases, guard or not.
    assert_eq!(
        rule(&plan, "/ws/keys/prod").outcome,
        Outcome::MissingMasked("/ws/keys".into())
    );
    assert!(plan.mount_points.contains(&PathBuf::from("/ws/keys")));
}

#[test]
fn write_none_write_carve_out_binds_after_its_mask_and_remounts_last() {
    let fs = FakeFs::new().dir("/repo/a/b/.git");
    let plan = plan_for(
        &[
            ("/", Read),
            ("/repo", Write),
            ("/repo/a", NoAccess),
            ("/repo/a/b", Write),
        ],
        "/repo",
        &fs,
    );
    let mask = position(&plan, &MaskDir("/repo/a".into()));
    let carve_out = position(&plan, &Bind("/repo/a/b".into()));
    let remount = position(&plan, &RemountRo("/repo/a".into()));
    assert!(position(&plan, &Bind("/repo".into())) < mask);
    assert!(mask < carve_out && carve_out < remount, "{:#?}", plan.ops);
    // The carve-out is a writable root of its own, so its .git is protected.
    assert!(carve_out < position(&plan, &RoBindTry("/repo/a/b/.git".into())));
}

#[test]
fn read_only_islands_and_files_masked_with_dev_null() {
    let fs = FakeFs::new()
        .dir("/ws/vendor")
        .file("/ws/.env", "SECRET=1")
        .dir("/ws/.git");
    let plan = plan_for(
        &[
            ("/", Read),
            ("/ws", Write),
            ("/ws/vendor", Read),
            ("/ws/.env", NoAccess),
        ],
        "/ws",
        &fs,
    );
    assert!(plan.ops.contains(&RoBind("/ws/vendor".into())));
    assert!(plan.ops.contains(&MaskFile("/ws/.env".into())));
    assert!(!plan.ops.contains(&RemountRo("/ws/.env".into())));
}

#[test]
fn rules_equal_to_their_parent_mount_nothing() {
    let fs = FakeFs::new().dir("/ws/sub").dir("/etc");
    let rules = [
        ("/", Read),
        ("/ws", Write),
        ("/ws/sub", Write),
        ("/etc", Read),
    ];
    let mut policy = policy(&rules, "/ws", NetworkMode::Restricted);
    policy.guard_protected_names = false;
    let plan = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    assert_eq!(rule(&plan, "/ws/sub").outcome, Outcome::Inherited);
    assert_eq!(rule(&plan, "/etc").outcome, Outcome::Inherited);
    assert!(!plan.ops.contains(&Bind("/ws/sub".into())));
    assert!(!plan.ops.contains(&RoBind("/etc".into())));
}

/// The guard tells a directory's root by its mount: each writable root is
/// bound on its own, a nested one too, after the root it lies in.
#[test]
fn with_the_guard_every_writable_root_is_a_mount_of_its_own() {
    let fs = FakeFs::new().dir("/ws/sub").dir("/etc").dir("/tmp/ws2");
    let plan = plan_for(
        &[
            ("/", Read),
            ("/tmp", Write),
            ("/tmp/ws2", Write),
            ("/ws", Write),
            ("/ws/sub", Write),
            ("/etc", Read),
        ],
        "/ws",
        &fs,
    );
    for root in ["/tmp", "/tmp/ws2", "/ws", "/ws/sub"] {
        assert_eq!(rule(&plan, root).outcome, Outcome::Mounted, "{root}");
    }
    assert!(position(&plan, &Bind("/tmp".into())) < position(&plan, &Bind("/tmp/ws2".into())));
    assert!(position(&plan, &Bind("/ws".into())) < position(&plan, &Bind("/ws/sub".into())));
    assert_eq!(rule(&plan, "/etc").outcome, Outcome::Inherited);
}

#[test]
fn missing_ordinary_rules_are_kept_but_mount_nothing() {
    let fs = FakeFs::new().dir("/ws/.git");
    let plan = plan_for(
        &[
            ("/", Read),
            ("/ws", Write),
            ("/nope", Write),
            ("/ws/gone", NoAccess),
        ],
        "/ws",
        &fs,
    );
    assert_eq!(rule(&plan, "/nope").outcome, Outcome::MissingSkipped);
    assert!(
        plan.ops
            .iter()
            .all(|op| !matches!(op, Bind(p) | MaskDir(p) if p.starts_with("/nope")))
    );
    // A missing `none` path where the command could create it is masked.
    assert_eq!(
        rule(&plan, "/ws/gone").outcome,
        Outcome::MissingMasked("/ws/gone".into())
    );
    assert!(plan.ops.contains(&MaskDir("/ws/gone".into())));
    assert!(plan.ops.contains(&RemountRo("/ws/gone".into())));
}

#[test]
fn a_missing_write_root_gets_no_protected_masks() {
    let fs = FakeFs::new().dir("/ws");
    let plan = plan_for(&[("/", Read), ("/ws", Write), ("/gone", Write)], "/ws", &fs);
    assert!(
        plan.ops
            .iter()
            .all(|op| !format!("{op:?}").contains("/gone")),
        "{:#?}",
        plan.ops
    );
}

#[test]
fn a_symlinked_protected_path_is_protected_where_it_points() {
    let fs = FakeFs::new()
        .dir("/ws/store/hooks")
        .symlink("/ws/.git", "store");
    let plan = plan_for(&[("/", Read), ("/ws", Write)], "/ws", &fs);
    assert!(
        plan.ops.contains(&RoBind("/ws/store".into())),
        "{:#?}",
        plan.ops
    );
    assert_eq!(rule(&plan, "/ws/store").requested, Some("/ws/.git".into()));
}

#[test]
fn a_dangling_protected_symlink_masks_the_first_missing_component_of_its_target() {
    // Guard or not: the guard refuses protected names, and `cfg` is none.
    let fs = FakeFs::new().dir("/ws").symlink("/ws/.codex", "cfg/codex");
    let plan = plan_for(&[("/", Read), ("/ws", Write)], "/ws", &fs);
    assert!(plan.mount_points.contains(&PathBuf::from("/ws/cfg")));
    assert!(
        plan.ops.contains(&MaskDir("/ws/cfg".into())),
        "{:#?}",
        plan.ops
    );
    assert!(plan.ops.contains(&RemountRo("/ws/cfg".into())));
}

#[test]
fn a_protected_symlink_pointing_outside_writable_roots_needs_nothing() {
    let fs = FakeFs::new()
        .dir("/ws")
        .dir("/srv/git")
        .symlink("/ws/.git", "/srv/git");
    let plan = plan_for(&[("/", Read), ("/ws", Write)], "/ws", &fs);
    assert!(
        !plan.ops.iter().any(|op| format!("{op:?}").contains("/srv")),
        "{:#?}",
        plan.ops
    );
}

#[test]
fn gitdir_targets_inside_writable_roots_are_read_only() {
    let fs = FakeFs::new()
        .file("/ws/sub/.git", "gitdir: ../.git/modules/sub")
        .dir("/ws/.git/modules/sub");
    let plan = plan_for(
        &[("/", Read), ("/ws/sub", Write), ("/ws/.git", Write)],
        "/ws/sub",
        &fs,
    );
    assert!(
        plan.ops.contains(&MaskFile("/ws/sub/.git".into()))
            || plan.ops.contains(&RoBindTry("/ws/sub/.git".into()))
    );
    assert!(
        plan.ops.contains(&RoBind("/ws/.git/modules/sub".into())),
        "{:#?}",
        plan.ops
    );
}

#[test]
fn a_worktree_common_dir_is_protected_too() {
    let fs = FakeFs::new()
        .file("/src/wt/.git", "gitdir: /src/main/.git/worktrees/wt")
        .file("/src/main/.git/worktrees/wt/commondir", "../..")
        .dir("/src/main/.git/hooks");
    // The worktree is the workspace root; its main repository lies elsewhere
    // in a writable tree.
    let plan = plan_for(
        &[("/", Read), ("/src", Write), ("/src/wt", Write)],
        "/src/wt",
        &fs,
    );
    // A protected name the guard refuses to make again: bwrap may skip it
    // if someone deletes it first.
    assert!(
        plan.ops.contains(&RoBindTry("/src/main/.git".into())),
        "{:#?}",
        plan.ops
    );
    // The worktree gitdir lies inside the common dir, so it is covered.
    assert_eq!(
        rule(&plan, "/src/main/.git/worktrees/wt").outcome,
        Outcome::Inherited
    );
}

#[test]
fn write_rules_on_or_under_protected_paths_are_capped_at_read() {
    let fs = FakeFs::new().dir("/ws/.git/objects").dir("/ws/.codex");
    let plan = plan_for(
        &[
            ("/", Read),
            ("/ws", Write),
            ("/ws/.git", Write),
            ("/ws/.git/objects", Write),
        ],
        "/ws",
        &fs,
    );
    assert_eq!(rule(&plan, "/ws/.git").access, Read);
    assert_eq!(rule(&plan, "/ws/.git/objects").access, Read);
    assert_eq!(
        rule(&plan, "/ws/.git/objects").capped_by,
        Some("/ws/.git".into())
    );
    assert!(!plan.ops.contains(&Bind("/ws/.git/objects".into())));
    assert!(plan.ops.contains(&RoBindTry("/ws/.codex".into())));
}

#[test]
fn a_stricter_user_rule_on_a_protected_path_is_kept() {
    let fs = FakeFs::new().dir("/ws/.codex");
    let plan = plan_for(
        &[("/", Read), ("/ws", Write), ("/ws/.codex", NoAccess)],
        "/ws",
        &fs,
    );
    assert_eq!(rule(&plan, "/ws/.codex").access, NoAccess);
    assert!(plan.ops.contains(&MaskDir("/ws/.codex".into())));
}

#[test]
fn an_unreadable_root_starts_from_an_empty_read_only_tree() {
    let fs = FakeFs::new().dir("/usr").dir("/ws/.git");
    let plan = plan_for(&[("/usr", Read), ("/ws", Write)], "/ws", &fs);
    assert_eq!(plan.ops[0], Dev);
    assert!(plan.ops.contains(&RoBind("/usr".into())));
    assert_eq!(plan.ops.last(), Some(&RemountRo("/".into())));
    assert!(!plan.ops.contains(&RoBind("/".into())));
}

#[test]
fn skipping_proc_hides_the_hosts_proc() {
    let fs = FakeFs::new().dir("/ws");
    let plan = plan(
        &policy(&[("/", Read)], "/ws", NetworkMode::Restricted),
        &ScanReport::empty(),
        ProcMode::Skip,
        &fs,
    )
    .unwrap();
    assert!(!plan.ops.contains(&Proc));
    assert!(plan.ops.contains(&MaskDir("/proc".into())));
    assert!(plan.ops.contains(&RemountRo("/proc".into())));
}

#[test]
fn rules_resolve_through_symlinks_and_order_by_real_depth() {
    // /home/me/proj -> /data/proj; /data is masked, the project carved out.
    let fs = FakeFs::new()
        .dir("/data/proj/.git")
        .symlink("/home/me/proj", "/data/proj");
    let plan = plan_for(
        &[("/", Read), ("/data", NoAccess), ("/home/me/proj", Write)],
        "/home/me/proj",
        &fs,
    );
    let mask = position(&plan, &MaskDir("/data".into()));
    let bind = position(&plan, &Bind("/data/proj".into()));
    assert!(mask < bind);
    assert_eq!(
        rule(&plan, "/data/proj").requested,
        Some("/home/me/proj".into())
    );
    assert_eq!(plan.chdir, PathBuf::from("/home/me/proj"));
}

#[test]
fn two_rules_on_one_real_path_keep_the_stricter() {
    let fs = FakeFs::new().dir("/data").symlink("/alias", "/data");
    let plan = plan_for(
        &[("/", Read), ("/alias", Write), ("/data", NoAccess)],
        "/",
        &fs,
    );
    assert_eq!(rule(&plan, "/data").access, NoAccess);
}

#[test]
fn rules_under_dev_and_proc_are_ignored() {
    let fs = FakeFs::new().dir("/dev/shm").dir("/ws");
    let plan = plan_for(&[("/", Read), ("/dev/shm", Write)], "/ws", &fs);
    assert!(matches!(
        rule(&plan, "/dev/shm").outcome,
        Outcome::Ignored(_)
    ));
    assert!(!plan.ops.contains(&Bind("/dev/shm".into())));
}

#[test]
fn a_hidden_working_directory_is_an_error() {
    let fs = FakeFs::new().dir("/ws").dir("/usr");
    let err = plan(
        &policy(&[("/usr", Read)], "/ws", NetworkMode::Restricted),
        &ScanReport::empty(),
        ProcMode::Mount,
        &fs,
    )
    .unwrap_err();
    assert!(matches!(err, PlanError::CwdHidden(_)), "{err}");
}

#[test]
fn proxy_network_keeps_its_mode_in_the_plan() {
    let fs = FakeFs::new().dir("/ws");
    let planned = plan(
        &policy(&[("/", Read)], "/ws", NetworkMode::Proxy),
        &ScanReport::empty(),
        ProcMode::Mount,
        &fs,
    )
    .unwrap();
    assert_eq!(planned.network, NetworkMode::Proxy);
}

#[test]
fn network_mode_is_carried_into_the_plan() {
    let fs = FakeFs::new().dir("/ws");
    let plan = plan(
        &policy(&[("/", Read)], "/ws", NetworkMode::Enabled),
        &ScanReport::empty(),
        ProcMode::Mount,
        &fs,
    )
    .unwrap();
    assert_eq!(plan.network, NetworkMode::Enabled);
}

#[test]
fn symlinks_on_rule_paths_are_recreated_where_the_policy_hides_them() {
    let fs = FakeFs::new()
        .dir("/usr/bin")
        .symlink("/bin", "usr/bin")
        .dir("/ws");
    let plan = plan_for(
        &[("/usr", Read), ("/bin", Read), ("/ws", Write)],
        "/ws",
        &fs,
    );
    let symlink = Symlink {
        target: "usr/bin".into(),
        link: "/bin".into(),
    };
    assert!(plan.ops.contains(&symlink), "{:#?}", plan.ops);
    assert!(position(&plan, &symlink) < position(&plan, &RemountRo("/".into())));
    // With the root readable the host's own symlink is visible: nothing to add.
    let plan = plan_for(&[("/", Read), ("/bin", Read), ("/ws", Write)], "/ws", &fs);
    assert!(
        !plan.ops.iter().any(|op| matches!(op, Symlink { .. })),
        "{:#?}",
        plan.ops
    );
}

#[test]
fn missing_none_and_read_rules_mask_their_first_missing_component_only_where_creatable() {
    let fs = FakeFs::new().dir("/ws/.git").dir("/ws/a").dir("/ro");
    let plan = plan_for(
        &[
            ("/", Read),
            ("/ws", Write),
            ("/ws/a/b/c", Read),
            ("/ro/x/y", NoAccess),
            ("/ws/new/out", Write),
        ],
        "/ws",
        &fs,
    );
    assert_eq!(
        rule(&plan, "/ws/a/b/c").outcome,
        Outcome::MissingMasked("/ws/a/b".into())
    );
    assert!(plan.ops.contains(&MaskDir("/ws/a/b".into())));
    // Under a read-only parent nothing can be created: nothing to mount.
    assert_eq!(rule(&plan, "/ro/x/y").outcome, Outcome::MissingSkipped);
    // A missing write rule is not created.
    assert_eq!(rule(&plan, "/ws/new/out").outcome, Outcome::MissingSkipped);
    assert!(!format!("{:?}", plan.ops).contains("/ws/new"));
}

fn glob_policy(rules: &[(&str, Access)], globs: &[(&str, &str)]) -> SandboxPolicy {
    let mut policy = policy(rules, "/ws", NetworkMode::Restricted);
    policy.deny_globs = globs
        .iter()
        .map(|(root, pattern)| ResolvedGlob {
            root: root.into(),
            pattern: pattern.to_string(),
            origin: RuleOrigin::BuiltIn(":glob-test"),
        })
        .collect();
    policy
}

fn report(matches: &[(&str, usize)], protected: &[&str]) -> ScanReport {
    ScanReport {
        matches: matches
            .iter()
            .map(|(path, glob)| GlobMatch {
                path: path.into(),
                globs: vec![*glob],
            })
            .collect(),
        protected: protected.iter().map(PathBuf::from).collect(),
        skipped: Vec::new(),
    }
}

#[test]
fn glob_matches_are_masked_at_their_real_paths() {
    let fs = FakeFs::new()
        .dir("/ws/.git")
        .file("/ws/.env", "S=1")
        .dir("/ws/secrets")
        .file("/outside/target.env", "S=2")
        .symlink("/ws/link.env", "/outside/target.env")
        .dir("/hidden")
        .file("/hidden/x.env", "S=3");
    let policy = glob_policy(
        &[("/", Read), ("/ws", Write), ("/hidden", NoAccess)],
        &[("/ws", "**/*.env"), ("/ws", "**/secrets")],
    );
    let scan = report(
        &[
            ("/ws/.env", 0),
            ("/ws/link.env", 0),
            ("/ws/secrets", 1),
            ("/hidden/x.env", 0),
            ("/ws/vanished.env", 0),
        ],
        &[],
    );
    let plan = plan(&policy, &scan, ProcMode::Mount, &fs).unwrap();
    assert!(plan.ops.contains(&MaskFile("/ws/.env".into())));
    assert!(plan.ops.contains(&MaskFile("/outside/target.env".into())));
    assert!(plan.ops.contains(&MaskDir("/ws/secrets".into())));
    assert!(plan.ops.contains(&RemountRo("/ws/secrets".into())));
    assert_eq!(rule(&plan, "/hidden/x.env").outcome, Outcome::Inherited);
    assert_eq!(
        rule(&plan, "/outside/target.env").requested,
        Some("/ws/link.env".into())
    );
    assert!(rule(&plan, "/ws/.env").from_scan);
    assert!(!format!("{:?}", plan.ops).contains("vanished"));
    let masks: Vec<(usize, &str, &str)> = plan
        .glob_masks
        .iter()
        .map(|m| {
            (
                m.glob,
                m.matched.to_str().unwrap(),
                m.real.to_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        masks,
        [
            (0, "/hidden/x.env", "/hidden/x.env"),
            (0, "/ws/.env", "/ws/.env"),
            (0, "/ws/link.env", "/outside/target.env"),
            (1, "/ws/secrets", "/ws/secrets"),
        ]
    );
}

#[test]
fn a_deeper_write_rule_beats_a_glob_matched_directory() {
    let fs = FakeFs::new().dir("/ws/.git").dir("/ws/secrets/tmp");
    let policy = glob_policy(
        &[("/", Read), ("/ws", Write), ("/ws/secrets/tmp", Write)],
        &[("/ws", "**/secrets")],
    );
    let plan = plan(
        &policy,
        &report(&[("/ws/secrets", 0)], &[]),
        ProcMode::Mount,
        &fs,
    )
    .unwrap();
    let mask = position(&plan, &MaskDir("/ws/secrets".into()));
    let carve_out = position(&plan, &Bind("/ws/secrets/tmp".into()));
    assert!(mask < carve_out);
}

#[test]
fn nested_protected_paths_found_by_the_scan_are_read_only() {
    let fs = FakeFs::new()
        .dir("/ws/.git/modules/x")
        .dir("/ws/nested/.git")
        .file("/ws/libs/x/.git", "gitdir: ../../.git/modules/x\n")
        .dir("/ws/tools/.codex")
        .file("/ws/wt/.git", "gitdir: /ws/main/.git/worktrees/wt\n")
        .file("/ws/main/.git/worktrees/wt/commondir", "../..\n");
    let policy = policy(
        &[("/", Read), ("/ws", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    let scan = report(
        &[],
        &[
            "/ws/libs/x/.git",
            "/ws/main/.git",
            "/ws/nested/.git",
            "/ws/tools/.codex",
            "/ws/wt/.git",
        ],
    );
    let plan = plan(&policy, &scan, ProcMode::Mount, &fs).unwrap();
    for path in [
        "/ws/nested/.git",
        "/ws/libs/x/.git",
        "/ws/tools/.codex",
        "/ws/wt/.git",
        "/ws/main/.git",
        "/ws/main/.git/worktrees/wt",
    ] {
        assert_eq!(
            access_at(&plan.rules, Path::new(path), NoAccess),
            Read,
            "{path}"
        );
    }
    // /ws/.git/modules/x sits inside the top-level .git, already read-only:
    // no rule of its own.
    assert_eq!(
        access_at(&plan.rules, Path::new("/ws/.git/modules/x"), NoAccess),
        Read
    );
    assert!(
        plan.rules
            .iter()
            .all(|rule| rule.path != Path::new("/ws/.git/modules/x"))
    );
    assert!(plan.ops.contains(&RoBindTry("/ws/nested/.git".into())));
    assert!(rule(&plan, "/ws/nested/.git").from_scan);
}

/// On a case-insensitive filesystem (vfat, exFAT, casefolded ext4), git
/// reads `.GIT` as `.git`: the scan reports the nested one under its own
/// spelling and the planner keeps it read-only, and the top-level
/// candidates find the existing entries in whatever case they have
/// (mounting over them instead of masking a name that exists).
#[test]
fn on_a_case_insensitive_filesystem_every_spelling_is_protected() {
    let fs = FakeFs::new()
        .dir("/ws/.GIT/hooks")
        .dir("/ws/sub/.Git/hooks")
        .file("/ws/sub/.Git/config", "[core]\n")
        .dir("/ws/.Codex")
        .case_insensitive();
    let policy = policy(
        &[("/", Read), ("/ws", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    let plan = plan(
        &policy,
        &report(&[], &["/ws/sub/.Git"]),
        ProcMode::Mount,
        &fs,
    )
    .unwrap();
    for path in [
        "/ws/.git/hooks/pre-commit",
        "/ws/sub/.Git/config",
        "/ws/sub/.Git/hooks/pre-commit",
        "/ws/.codex/config.toml",
    ] {
        assert_eq!(
            access_at(&plan.rules, Path::new(path), NoAccess),
            Read,
            "{path}"
        );
    }
    assert!(plan.ops.contains(&RoBindTry("/ws/sub/.Git".into())));
    assert!(plan.ops.contains(&RoBindTry("/ws/.git".into())));
    assert!(plan.ops.contains(&RoBindTry("/ws/.codex".into())));
    assert_eq!(rule(&plan, "/ws/.aws").outcome, Outcome::MissingGuarded);
    assert!(!plan.ops.contains(&MaskDir("/ws/.git".into())));
}

#[test]
fn too_many_scan_mounts_are_refused_with_the_counts() {
    let mut fs = FakeFs::new().dir("/ws/.git");
    let mut matches = Vec::new();
    let paths: Vec<String> = (0..=MAX_SCAN_MOUNTS)
        .map(|i| format!("/ws/f{i}.env"))
        .collect();
    for path in &paths {
        fs = fs.file(path, "S");
        matches.push((path.as_str(), 0));
    }
    let policy = glob_policy(&[("/", Read), ("/ws", Write)], &[("/ws", "*.env")]);
    let err = plan(&policy, &report(&matches, &[]), ProcMode::Mount, &fs)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("need {} mounts", MAX_SCAN_MOUNTS + 1)),
        "{err}"
    );
    assert!(err.contains("built-in :glob-test"), "{err}");
    assert!(
        err.contains("set glob_scan_max_depth lower (the scan went every level deep)"),
        "{err}"
    );
    // At the limit it plans.
    let at_limit = &matches[..MAX_SCAN_MOUNTS];
    assert!(plan(&policy, &report(at_limit, &[]), ProcMode::Mount, &fs).is_ok());
}

#[test]
fn the_deciding_rule_is_the_deepest_planned_one_glob_masks_included() {
    let fs = FakeFs::new()
        .dir("/ws/.git")
        .dir("/ws/bin")
        .file("/ws/bin/tool.env", "S=1")
        .file("/ws/bin/tool", "")
        .dir("/hidden/bin")
        .file("/hidden/bin/codex", "")
        .file("/hidden/bin/open/codex", "");
    let policy = glob_policy(
        &[
            ("/", Read),
            ("/ws", Write),
            ("/hidden", NoAccess),
            ("/hidden/bin/open", Read),
        ],
        &[("/ws", "**/*.env")],
    );
    let scan = report(&[("/ws/bin/tool.env", 0)], &[]);
    let plan = plan(&policy, &scan, ProcMode::Mount, &fs).unwrap();
    let access = |path: &str| {
        plan.deciding_rule(Path::new(path))
            .map(|rule| (rule.path.to_str().unwrap().to_owned(), rule.access))
    };
    assert_eq!(access("/usr/bin/codex"), Some(("/".into(), Read)));
    assert_eq!(access("/ws/bin/tool"), Some(("/ws".into(), Write)));
    assert_eq!(
        access("/ws/bin/tool.env"),
        Some(("/ws/bin/tool.env".into(), NoAccess))
    );
    assert_eq!(access("/ws/.git/config"), Some(("/ws/.git".into(), Read)));
    assert_eq!(
        access("/hidden/bin/codex"),
        Some(("/hidden".into(), NoAccess))
    );
    assert_eq!(
        access("/hidden/bin/open/codex"),
        Some(("/hidden/bin/open".into(), Read))
    );
    let rootless = plan_for(&[("/ws", Write)], "/ws", &FakeFs::new().dir("/ws"));
    assert_eq!(rootless.deciding_rule(Path::new("/usr/bin/codex")), None);
}

/// The guard gets every writable directory at its real path, each a
/// project or a temporary root; a temporary root reached through a link
/// that is also a project root counts as a project root.
#[test]
fn the_guard_judges_by_real_roots_of_either_kind() {
    let fs = FakeFs::new()
        .dir("/ws")
        .dir("/tmp")
        .dir("/var/tmp/real")
        .symlink("/var/tmp/me", "/var/tmp/real")
        .symlink("/data", "/ws");
    let mut policy = policy(
        &[
            ("/", Read),
            ("/ws", Write),
            ("/tmp", Write),
            ("/var/tmp/me", Write),
            ("/data", Write),
            ("/missing", Write),
        ],
        "/ws",
        NetworkMode::Restricted,
    );
    policy.scratch_roots = vec!["/tmp".into(), "/var/tmp/me".into(), "/data".into()];
    let plan = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    let roots: Vec<(String, RootKind)> = plan
        .guard_roots
        .iter()
        .map(|root| (root.path.display().to_string(), root.kind))
        .collect();
    assert_eq!(
        roots,
        [
            ("/tmp".to_string(), RootKind::Scratch),
            ("/var/tmp/real".to_string(), RootKind::Scratch),
            ("/ws".to_string(), RootKind::Project),
        ]
    );
}

/// A repository another process deletes between the scan and the plan is
/// skipped: no mask, no mount point made for it.
#[test]
fn a_nested_repository_gone_since_the_scan_is_skipped() {
    let fs = FakeFs::new()
        .dir("/ws/.git")
        .file("/ws/kept/.git/HEAD", "ref: refs/heads/main");
    let mut policy = policy(
        &[("/", Read), ("/ws", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    policy.guard_protected_names = false;
    let scan = ScanReport {
        protected: vec!["/ws/gone/.git".into(), "/ws/kept/.git".into()],
        ..ScanReport::empty()
    };
    let plan = plan(&policy, &scan, ProcMode::Mount, &fs).unwrap();
    assert!(
        plan.rules
            .iter()
            .all(|rule| !rule.path.starts_with("/ws/gone"))
    );
    assert!(
        plan.mount_points
            .iter()
            .all(|point| !point.starts_with("/ws/gone"))
    );
    assert!(plan.ops.contains(&RoBindTry("/ws/kept/.git".into())));
}

/// Without the guard an empty protected directory (often another
/// sandbox's mount point) is masked on a lease of its own, never bound:
/// a bind would fail the start once that sandbox removes it. With the
/// guard, existing protected names are bound with `--ro-bind-try`, since
/// the guard refuses to make one again.
#[test]
fn an_empty_protected_directory_is_leased_without_the_guard_and_skippable_with_it() {
    let fs = FakeFs::new()
        .dir("/ws/.codex")
        .file("/ws/.git/HEAD", "ref: refs/heads/main")
        .dir("/tmp/.agents");
    let rules = [("/", Read), ("/ws", Write), ("/tmp", Write)];
    let mut policy = policy(&rules, "/ws", NetworkMode::Restricted);
    policy.guard_protected_names = false;
    let unguarded = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    for empty in ["/ws/.codex", "/tmp/.agents"] {
        assert_eq!(rule(&unguarded, empty).outcome, Outcome::EmptyMasked);
        assert!(unguarded.ops.contains(&MaskDir(empty.into())));
        assert!(unguarded.ops.contains(&RemountRo(empty.into())));
        assert!(unguarded.mount_points.contains(&empty.into()));
    }
    assert!(unguarded.ops.contains(&RoBind("/ws/.git".into())));
    let guarded = plan_for(&rules, "/ws", &fs);
    for existing in ["/ws/.codex", "/tmp/.agents", "/ws/.git"] {
        assert!(
            guarded.ops.contains(&RoBindTry(existing.into())),
            "{existing}"
        );
    }
    assert!(guarded.mount_points.is_empty());
}

/// What the workspace repository's config names for code to run is kept
/// read-only where it lies in a writable root (existing: bound read-only;
/// missing: masked at its first missing component), and so is what a
/// nested repository's config names, and the host's own git configuration
/// in a writable home; what lies outside every writable root gets no rule.
#[test]
fn what_git_configuration_names_for_code_to_run_is_read_only() {
    let fs = FakeFs::new()
        .file(
            "/ws/.git/config",
            "[core]\n\thooksPath = .husky\n\tfsmonitor = tools/monitor.sh\n\
             [include]\n\tpath = ../shared.inc\n\tpath = /etc/outside.inc\n",
        )
        .file("/ws/.husky/pre-commit", "")
        .dir("/ws/tools")
        .file("/ws/shared.inc", "[core]\n\thooksPath = /ws/empty-hooks\n")
        .dir("/ws/empty-hooks")
        .file("/ws/sub/.git/config", "[core]\n\thooksPath = ../hooks\n")
        .file("/home/me/.gitconfig", "");
    let mut policy = policy(
        &[("/", Read), ("/ws", Write), ("/home/me", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    policy.host_git = HostGitConfig {
        files: vec!["/home/me/.gitconfig".into(), "/etc/gitconfig".into()],
        home: Some("/home/me".into()),
    };
    let scan = report(&[], &["/ws/sub/.git"]);
    let plan = plan(&policy, &scan, ProcMode::Mount, &fs).unwrap();
    for path in [
        "/ws/.husky",
        "/ws/tools/monitor.sh",
        "/ws/shared.inc",
        "/ws/hooks",
        "/home/me/.gitconfig",
    ] {
        let planned = rule(&plan, path);
        assert_eq!(planned.access, Read, "{path}");
        assert_eq!(planned.origin, RuleOrigin::GitCode, "{path}");
    }
    assert!(plan.ops.contains(&RoBind("/ws/.husky".into())));
    // An empty one may be another sandbox's mount point: masked and
    // leased, so that sandbox's end cannot remove it under this one.
    assert_eq!(rule(&plan, "/ws/empty-hooks").outcome, Outcome::EmptyMasked);
    assert!(
        plan.mount_points
            .contains(&PathBuf::from("/ws/empty-hooks"))
    );
    assert!(plan.ops.contains(&MaskDir("/ws/tools/monitor.sh".into())));
    assert!(plan.ops.contains(&MaskDir("/ws/hooks".into())));
    assert!(
        plan.rules
            .iter()
            .all(|rule| rule.path != Path::new("/etc/outside.inc"))
    );
    assert!(
        plan.rules
            .iter()
            .all(|rule| rule.path != Path::new("/etc/gitconfig"))
    );
}

/// A configuration git itself would refuse fails the plan, naming it.
#[test]
fn an_unreadable_git_configuration_fails_the_plan() {
    let fs = FakeFs::new().file("/ws/.git/config", "[core\n");
    let policy = policy(
        &[("/", Read), ("/ws", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    let err = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap_err();
    assert!(err.to_string().contains("/ws/.git/config"), "{err}");
}

/// A symlink in a writable root on the way to what git runs (the hooks
/// directory itself, a parent of it, `build/..`, an include, a dangling
/// link) refuses the start, naming the link: a mount keeps the target, the
/// command could repoint the link. A link in a read-only place (inside the
/// kept hooks directory) only leads to its target, which is kept too.
#[test]
fn what_git_runs_through_a_writable_symlink_refuses_the_start() {
    let policy = policy(
        &[("/", Read), ("/ws", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    let refused = |fs: FakeFs, link: &str| {
        let err = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap_err();
        match &err {
            PlanError::GitCodeThroughLink { link: found, .. } => {
                assert_eq!(found, Path::new(link), "{err}")
            }
            other => panic!("{link}: {other}"),
        }
    };
    let hooks = |value: &str| {
        FakeFs::new().file(
            "/ws/.git/config",
            &format!("[core]\n\thooksPath = {value}\n"),
        )
    };
    refused(
        hooks(".husky")
            .symlink("/ws/.husky", "tools/hooks")
            .dir("/ws/tools/hooks"),
        "/ws/.husky",
    );
    refused(
        hooks(".husky")
            .symlink("/ws/.husky", "/opt/hooks")
            .dir("/opt/hooks"),
        "/ws/.husky",
    );
    refused(
        hooks("node_modules/.hooks").symlink("/ws/node_modules", "/ws/gone"),
        "/ws/node_modules",
    );
    refused(
        hooks("config/hooks")
            .symlink("/ws/config", "real")
            .dir("/ws/real/hooks"),
        "/ws/config",
    );
    refused(
        hooks("build/../hooks")
            .symlink("/ws/build", "/tmp/x")
            .dir("/tmp/x"),
        "/ws/build",
    );
    refused(
        FakeFs::new()
            .file("/ws/.git/config", "[include]\n\tpath = ../shared.inc\n")
            .symlink("/ws/shared.inc", "dotfiles/shared.inc")
            .file("/ws/dotfiles/shared.inc", ""),
        "/ws/shared.inc",
    );

    let fs = hooks(".husky")
        .file("/ws/.husky/pre-commit", "")
        .symlink("/ws/.husky/pre-push", "../scripts/push.sh")
        .file("/ws/scripts/push.sh", "");
    let kept = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    for path in ["/ws/.husky", "/ws/scripts/push.sh"] {
        assert_eq!(rule(&kept, path).access, Read, "{path}");
    }
}

/// A file git runs that has a second name in a writable root refuses the
/// start; outside the writable roots, or under a profile that writes `/`,
/// it does not.
#[test]
fn a_hard_linked_hook_refuses_the_start() {
    let fs = FakeFs::new()
        .file("/ws/.git/config", "[core]\n\thooksPath = .husky\n")
        .hard_linked_file("/ws/.husky/pre-commit", "")
        .file("/home/me/.gitconfig", "[core]\n\thooksPath = /opt/hooks\n")
        .hard_linked_file("/opt/hooks/pre-commit", "");
    let mut workspace = policy(
        &[("/", Read), ("/ws", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    workspace.host_git = HostGitConfig {
        files: vec!["/home/me/.gitconfig".into()],
        home: Some("/home/me".into()),
    };
    let err = plan(&workspace, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap_err();
    assert!(
        matches!(&err, PlanError::GitCodeHardLinked(path) if path == Path::new("/ws/.husky/pre-commit")),
        "{err}"
    );
    let everything = policy(&[("/", Write)], "/ws", NetworkMode::Restricted);
    plan(&everything, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    let elsewhere = FakeFs::new()
        .file("/ws/.git/config", "[core]\n\thooksPath = /opt/hooks\n")
        .hard_linked_file("/opt/hooks/pre-commit", "");
    plan(
        &workspace,
        &ScanReport::empty(),
        ProcMode::Mount,
        &elsewhere,
    )
    .unwrap();
}

/// What a `..` climbs out of, and the parent of a missing path this user
/// cannot create in, are pinned read-only: replaced by a link or renamed,
/// they would lead git elsewhere. A writable root itself is never pinned.
#[test]
fn what_a_path_git_runs_passes_through_is_pinned() {
    let fs = FakeFs::new()
        .file(
            "/ws/.git/config",
            "[core]\n\thooksPath = build/../hooks\n\tfsmonitor = vendor/hooks/monitor\n\
             [include]\n\tpath = ../../ws/../ws/shared.inc\n",
        )
        .file("/ws/build/out", "")
        .file("/ws/hooks/pre-commit", "")
        .closed_dir("/ws/vendor")
        .file("/ws/vendor/README", "");
    let policy = policy(
        &[("/", Read), ("/ws", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    let plan = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    for path in ["/ws/build", "/ws/hooks", "/ws/vendor"] {
        assert_eq!(rule(&plan, path).access, Read, "{path}");
        assert!(plan.ops.contains(&RoBind(path.into())), "{path}");
    }
    assert_eq!(rule(&plan, "/ws").access, Write);
}

/// A directory on the way to what git runs that this user may not search
/// (an earlier command's `chmod 000`) does not fail the start: it is kept
/// read-only in place of what lies below it, so its mode cannot be
/// changed back during the run.
#[test]
fn an_unsearchable_directory_on_the_way_is_kept_in_place_of_what_it_hides() {
    let fs = FakeFs::new()
        .file(
            "/ws/.git/config",
            "[core]\n\tfsmonitor = tools/mon.sh\n[include]\n\tpath = ../tools/x.inc\n",
        )
        .unsearchable_dir("/ws/tools");
    let policy = policy(
        &[("/", Read), ("/ws", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    let plan = plan(&policy, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    assert_eq!(rule(&plan, "/ws/tools").access, Read);
    assert!(plan.ops.contains(&RoBind("/ws/tools".into())));
}

/// Below the top of a temporary root is scratch: a linked worktree kept
/// there gets nothing, and a link another user puts on the way to it
/// refuses no start.
#[test]
fn what_git_runs_below_the_top_of_a_temporary_root_is_scratch() {
    let fs = FakeFs::new()
        .file("/ws/.git/config", "[core]\n\thooksPath = .husky\n")
        .file("/ws/.git/worktrees/gone/gitdir", "/tmp/gone/.git\n")
        .symlink("/tmp/gone", "/elsewhere");
    let mut outside_tmp = policy(
        &[("/", Read), ("/ws", Write), ("/tmp", Write)],
        "/ws",
        NetworkMode::Restricted,
    );
    outside_tmp.scratch_roots = vec!["/tmp".into()];
    let scratch = plan(&outside_tmp, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    assert!(
        scratch.rules.iter().all(|rule| !rule.path.starts_with("/tmp/gone")
            && !rule.path.starts_with("/elsewhere")),
        "{:?}",
        scratch.rules
    );

    // A workspace inside /tmp keeps its project rules.
    let fs = FakeFs::new()
        .file("/tmp/w/ws/.git/config", "[core]\n\thooksPath = .husky\n")
        .file("/tmp/w/ws/.husky/pre-commit", "");
    let mut inside_tmp = policy(
        &[("/", Read), ("/tmp/w/ws", Write), ("/tmp", Write)],
        "/tmp/w/ws",
        NetworkMode::Restricted,
    );
    inside_tmp.scratch_roots = vec!["/tmp".into()];
    let project = plan(&inside_tmp, &ScanReport::empty(), ProcMode::Mount, &fs).unwrap();
    assert_eq!(rule(&project, "/tmp/w/ws/.husky").access, Read);
}

/// Without mounts (the legacy pipeline) the guard keeps what the mount
/// plan would keep read-only inside the writable roots, and only that: a
/// `read` rule inside a `write` one, the top-level protected entries (a
/// missing one included), what git's configuration names for code; not
/// what lies outside every root, nor deeper protected names (judged by
/// name).
#[test]
fn the_guard_keeps_what_mounts_would_keep_inside_the_roots() {
    let fs = FakeFs::new()
        .file("/ws/.git/HEAD", "ref: refs/heads/main")
        .file("/ws/.git/config", "[core]\n\thooksPath = .husky\n")
        .dir("/ws/vendor")
        .dir("/ws/sub/.git")
        .dir("/etc")
        .dir("/tmp");
    let policy = policy(
        &[
            ("/", Read),
            ("/ws", Write),
            ("/ws/vendor", Read),
            ("/tmp", Write),
            ("/etc", Read),
        ],
        "/ws",
        NetworkMode::Restricted,
    );
    let (roots, kept) = kept_by_the_guard(&policy, &fs).unwrap();
    assert_eq!(
        roots
            .iter()
            .map(|root| root.path.as_path())
            .collect::<Vec<_>>(),
        [Path::new("/tmp"), Path::new("/ws")]
    );
    for inside in ["/ws/vendor", "/ws/.git", "/ws/.codex", "/ws/.husky"] {
        assert!(kept.contains(&PathBuf::from(inside)), "{inside}: {kept:?}");
    }
    for outside in ["/", "/etc", "/ws", "/tmp", "/ws/sub/.git"] {
        assert!(
            !kept.contains(&PathBuf::from(outside)),
            "{outside}: {kept:?}"
        );
    }
}
