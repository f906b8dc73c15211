use super::*;
use crate::config::LoadedConfig;
use crate::profile::select_profile;

fn context(cwd: &str) -> ResolveContext {
    ResolveContext {
        cwd: cwd.into(),
        home: Some("/home/me".into()),
        tmpdir: Some("/var/tmp/me".into()),
    }
}

fn policy(toml: &str, profile: Option<&str>, context: &ResolveContext) -> SandboxPolicy {
    policy_with(toml, &[], profile, context)
}

/// [`policy`] with `-c` arguments layered over the file.
fn policy_with(
    toml: &str,
    overrides: &[&str],
    profile: Option<&str>,
    context: &ResolveContext,
) -> SandboxPolicy {
    let loaded = LoadedConfig::from_test_layers(toml, overrides);
    let profile = select_profile(&loaded, profile).unwrap();
    resolve(&profile, context)
        .unwrap()
        .sandbox
        .expect("sandboxed")
}

fn table(policy: &SandboxPolicy) -> Vec<(String, Access)> {
    policy
        .rules
        .iter()
        .map(|rule| (rule.path.display().to_string(), rule.access))
        .collect()
}

#[test]
fn workspace_resolves_cwd_extra_roots_and_temp_dirs() {
    let policy = policy_with(
        "[sandbox_workspace_write]\nwritable_roots = [\"/data/out/\"]\n",
        &["sandbox_mode=workspace-write"],
        None,
        &context("/work/repo"),
    );
    assert_eq!(
        table(&policy),
        [
            ("/".into(), Access::Read),
            ("/data/out".into(), Access::Write),
            ("/tmp".into(), Access::Write),
            ("/var/tmp/me".into(), Access::Write),
            ("/work/repo".into(), Access::Write),
        ]
    );
    assert_eq!(policy.cwd, PathBuf::from("/work/repo"));
    assert_eq!(
        policy.scratch_roots,
        [PathBuf::from("/tmp"), PathBuf::from("/var/tmp/me")]
    );
    let project: Vec<&Path> = policy.project_roots().collect();
    assert_eq!(project, [Path::new("/data/out"), Path::new("/work/repo")]);
}

#[test]
fn temporary_roots_are_scratch_however_named_unless_they_are_workspace_roots() {
    let toml = "[permissions.p.filesystem]\n\":root\" = \"read\"\n\"/tmp\" = \"write\"\n\
                \"/var/tmp/me/\" = \"write\"\n\"/var/tmp/other\" = \"write\"\n\
                [permissions.p.filesystem.\":workspace_roots\"]\n\".\" = \"write\"\n";
    let written_out = policy(toml, Some("p"), &context("/work/repo"));
    assert_eq!(
        written_out.scratch_roots,
        [PathBuf::from("/tmp"), PathBuf::from("/var/tmp/me")]
    );
    // A workspace in $TMPDIR or at /tmp is a project, with every protection.
    let in_tmpdir = policy("", Some(":workspace"), &context("/var/tmp/me"));
    assert_eq!(in_tmpdir.scratch_roots, [PathBuf::from("/tmp")]);
    let at_tmp = policy("", Some(":workspace"), &context("/tmp"));
    assert_eq!(at_tmp.scratch_roots, [PathBuf::from("/var/tmp/me")]);
    // Read-only temporary directories are no roots at all, and `/` never
    // becomes scratch.
    let read_only = policy("", Some(":read-only"), &context("/w"));
    assert!(read_only.scratch_roots.is_empty());
    let mut root_tmpdir = context("/w");
    root_tmpdir.tmpdir = Some("/".into());
    let whole_disk = policy(
        "[permissions.p.filesystem]\n\":root\" = \"write\"\n\":tmpdir\" = \"write\"\n",
        Some("p"),
        &root_tmpdir,
    );
    assert!(whole_disk.scratch_roots.is_empty());
    // A $TMPDIR inside the workspace is the workspace's (a repository made
    // there would lie in the project); /tmp below a writable / stays scratch.
    let mut tmpdir_in_workspace = context("/w");
    tmpdir_in_workspace.tmpdir = Some("/w/tmpd".into());
    let inside = policy("", Some(":workspace"), &tmpdir_in_workspace);
    assert_eq!(inside.scratch_roots, [PathBuf::from("/tmp")]);
    let writable_disk = policy(
        "[permissions.p.filesystem]\n\":root\" = \"write\"\n\"/tmp\" = \"write\"\n",
        Some("p"),
        &context("/w"),
    );
    assert_eq!(writable_disk.scratch_roots, [PathBuf::from("/tmp")]);
}

#[test]
fn an_unset_tmpdir_adds_no_rule() {
    let mut ctx = context("/w");
    ctx.tmpdir = None;
    let policy = policy("", Some(":workspace"), &ctx);
    assert!(
        policy
            .rules
            .iter()
            .all(|rule| rule.path != Path::new("/var/tmp/me"))
    );
}

#[test]
fn profile_workspace_roots_join_the_working_directory_and_home() {
    let toml = r#"
[permissions.p.filesystem]
":root" = "read"
":workspace_roots" = { "." = "write" }
[permissions.p.workspace_roots]
"../shared" = true
"~/notes" = true
"/abs" = true
"/off" = false
"/work/repo" = true
"#;
    let policy = policy(toml, Some("p"), &context("/work/repo"));
    assert_eq!(
        table(&policy),
        [
            ("/".into(), Access::Read),
            ("/abs".into(), Access::Write),
            ("/home/me/notes".into(), Access::Write),
            ("/work/repo".into(), Access::Write),
            ("/work/shared".into(), Access::Write),
        ]
    );
}

#[test]
fn a_relative_tmpdir_is_an_error() {
    let loaded = LoadedConfig::from_test_toml("");
    let profile = select_profile(&loaded, Some(":workspace")).unwrap();
    let mut ctx = context("/w");
    ctx.tmpdir = Some("tmp".into());
    assert!(
        resolve(&profile, &ctx)
            .unwrap_err()
            .to_string()
            .contains("TMPDIR=tmp")
    );
}

#[test]
fn deepest_rule_wins_write_none_write() {
    let policy = policy(
        r#"[permissions.p.filesystem]
":root" = "read"
"/repo" = "write"
"/repo/a" = "none"
"/repo/a/b" = "write"
"#,
        Some("p"),
        &context("/"),
    );
    assert_eq!(policy.access_for(Path::new("/repo/x")), Access::Write);
    assert_eq!(policy.access_for(Path::new("/repo/a")), Access::None);
    assert_eq!(policy.access_for(Path::new("/repo/a/c/d")), Access::None);
    assert_eq!(policy.access_for(Path::new("/repo/a/b")), Access::Write);
    assert_eq!(policy.access_for(Path::new("/repo/a/b/c")), Access::Write);
    assert_eq!(
        policy.access_for(Path::new("/repo2")),
        Access::Read,
        "prefix is by component"
    );
    assert_eq!(policy.access_for(Path::new("/etc")), Access::Read);
}

#[test]
fn a_writable_root_under_an_unreadable_ancestor_stays_writable() {
    let policy = policy(
        "[permissions.p.filesystem]\n\"/home\" = \"none\"\n\"/home/me/proj\" = \"write\"\n",
        Some("p"),
        &context("/"),
    );
    assert_eq!(
        policy.access_for(Path::new("/home/me/proj/src")),
        Access::Write
    );
    assert_eq!(policy.access_for(Path::new("/home/me")), Access::None);
    assert_eq!(
        policy.access_for(Path::new("/usr")),
        Access::None,
        "no :root rule means none"
    );
    assert_eq!(
        policy.writable_roots().collect::<Vec<_>>(),
        [Path::new("/home/me/proj")]
    );
}

#[test]
fn paths_are_normalised_and_home_expanded() {
    let policy = policy(
        r#"[permissions.p.filesystem]
"/a/./b/../c/" = "read"
"/../../x" = "none"
"~/cache" = "write"
"~" = "read"
"#,
        Some("p"),
        &context("/"),
    );
    assert_eq!(
        table(&policy),
        [
            ("/a/c".into(), Access::Read),
            ("/home/me".into(), Access::Read),
            ("/home/me/cache".into(), Access::Write),
            ("/x".into(), Access::None),
        ]
    );
}

#[test]
fn tilde_without_home_is_an_error() {
    let loaded = LoadedConfig::from_test_toml("[permissions.p.filesystem]\n\"~/x\" = \"read\"\n");
    let profile = select_profile(&loaded, Some("p")).unwrap();
    let mut ctx = context("/");
    ctx.home = None;
    let err = resolve(&profile, &ctx).unwrap_err().to_string();
    assert!(
        err.contains("HOME is not set") && err.contains("\"~/x\""),
        "{err}"
    );
}

#[test]
fn rules_on_the_same_path_keep_the_stricter_access() {
    let policy = policy(
        r#"[permissions.p.filesystem]
":workspace_roots" = "write"
"/w" = "read"
":root" = "write"
"/" = "none"
"#,
        Some("p"),
        &context("/w"),
    );
    assert_eq!(
        table(&policy),
        [("/".into(), Access::None), ("/w".into(), Access::Read)]
    );
    assert!(policy.rules[1].origin.to_string().contains("\"/w\""));
}

#[test]
fn rules_on_missing_paths_are_kept() {
    let policy = policy(
        "[permissions.p.filesystem]\n\"/definitely/not/here\" = \"none\"\n",
        Some("p"),
        &context("/"),
    );
    assert_eq!(
        table(&policy),
        [("/definitely/not/here".into(), Access::None)]
    );
}

#[test]
fn danger_full_access_resolves_to_no_sandbox() {
    let loaded = LoadedConfig::from_test_toml("");
    let profile = select_profile(&loaded, Some(":danger-full-access")).unwrap();
    let effective = resolve(&profile, &context("/")).unwrap();
    assert_eq!(effective.sandbox, None);
    assert_eq!(effective.profile, ":danger-full-access");
}

#[test]
fn normalize_handles_edge_cases() {
    assert_eq!(normalize(Path::new("/")), PathBuf::from("/"));
    assert_eq!(normalize(Path::new("/..")), PathBuf::from("/"));
    assert_eq!(normalize(Path::new("//a//b/")), PathBuf::from("/a/b"));
}

fn globs(policy: &SandboxPolicy) -> Vec<(String, String)> {
    policy
        .deny_globs
        .iter()
        .map(|glob| (glob.root.display().to_string(), glob.pattern.clone()))
        .collect()
}

#[test]
fn globs_are_anchored_at_each_base_plus_their_literal_prefix() {
    let ctx = context("/work/repo");
    let toml = r#"
[permissions.p.workspace_roots]
"/data" = true
[permissions.p.filesystem]
":root" = "read"
"/home/me/**/id_*" = "none"
"~/.ssh/*.pem" = "none"
[permissions.p.filesystem.":workspace_roots"]
"." = "write"
"**/*.env" = "none"
"config/secrets/*.key" = "none"
"#;
    let policy = policy(toml, Some("p"), &ctx);
    assert_eq!(
        globs(&policy),
        [
            ("/home/me".into(), "**/id_*".into()),
            ("/work/repo".into(), "**/*.env".into()),
            ("/data".into(), "**/*.env".into()),
            ("/work/repo/config/secrets".into(), "*.key".into()),
            ("/data/config/secrets".into(), "*.key".into()),
            ("/home/me/.ssh".into(), "*.pem".into()),
        ]
    );
    assert_eq!(policy.deny_globs[1].anchored(), "/work/repo/**/*.env");
}

#[test]
fn scoped_paths_join_their_base_and_duplicate_globs_collapse() {
    let toml = r#"
[permissions.p.filesystem]
":root" = "read"
"/w/**/*.env" = "none"
[permissions.p.filesystem.":workspace_roots"]
"." = "write"
"build" = "read"
"**/*.env" = "none"
"#;
    let policy = policy(toml, Some("p"), &context("/w"));
    assert_eq!(
        table(&policy),
        [
            ("/".into(), Access::Read),
            ("/w".into(), Access::Write),
            ("/w/build".into(), Access::Read),
        ]
    );
    assert_eq!(globs(&policy), [("/w".into(), "**/*.env".into())]);
}
