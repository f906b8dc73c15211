use super::*;

fn state(json: &str) -> Result<SandboxState, SandboxStateError> {
    state_with(json, &[], false)
}

fn state_with(
    json: &str,
    readable_roots: &[PathBuf],
    disable_network: bool,
) -> Result<SandboxState, SandboxStateError> {
    parse_state(&StateRequest {
        json,
        readable_roots,
        disable_network,
        process_cwd: Path::new("/work"),
    })
}

fn with_profile(profile: &str) -> String {
    format!(r#"{{"permissionProfile": {profile}, "sandboxCwd": "file:///tmp"}}"#)
}

fn rules(state: &SandboxState) -> Vec<(FsTarget, String, Access)> {
    state
        .profile
        .sandbox
        .as_ref()
        .expect("a sandbox")
        .filesystem
        .iter()
        .map(|rule| {
            (
                rule.target.clone(),
                rule.subpath.display().to_string(),
                rule.access,
            )
        })
        .collect()
}

#[test]
fn a_restricted_managed_profile_becomes_its_rules() {
    let parsed = state(&with_profile(
        r#"{"type": "managed", "network": "restricted",
            "file_system": {"type": "restricted", "glob_scan_max_depth": 3, "entries": [
              {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"},
              {"path": {"type": "special", "value": {"kind": "project_roots"}}, "access": "write"},
              {"path": {"type": "special", "value": {"kind": "project_roots", "subpath": "docs"}}, "access": "read"},
              {"path": {"type": "path", "path": "/secrets"}, "access": "none"},
              {"path": {"type": "glob_pattern", "pattern": "/home/me/**/*.pem"}, "access": "deny"}]}}"#,
    ))
    .unwrap();
    assert_eq!(parsed.cwd, PathBuf::from("/tmp"));
    assert_eq!(
        rules(&parsed),
        [
            (FsTarget::Root, String::new(), Access::Read),
            (FsTarget::WorkspaceRoots, String::new(), Access::Write),
            (FsTarget::WorkspaceRoots, "docs".into(), Access::Read),
            (
                FsTarget::Path("/secrets".into()),
                String::new(),
                Access::None
            ),
        ]
    );
    let sandbox = parsed.profile.sandbox.unwrap();
    assert_eq!(sandbox.deny_globs.len(), 1);
    assert_eq!(sandbox.glob_scan_max_depth, Some(3));
    assert_eq!(sandbox.network, NetworkMode::Restricted);
}

#[test]
fn disabled_runs_unsandboxed_and_external_read_only_offline() {
    assert_eq!(
        state(&with_profile(r#"{"type": "disabled"}"#))
            .unwrap()
            .profile
            .sandbox,
        None
    );
    let external = state(&with_profile(
        r#"{"type": "external", "network": "enabled"}"#,
    ))
    .unwrap();
    assert_eq!(
        rules(&external),
        [(FsTarget::Root, String::new(), Access::Read)]
    );
    assert_eq!(
        external.profile.sandbox.unwrap().network,
        NetworkMode::Restricted
    );
    let unrestricted = state(&with_profile(
        r#"{"type": "managed", "network": "enabled", "file_system": {"type": "unrestricted"}}"#,
    ))
    .unwrap();
    assert_eq!(
        rules(&unrestricted),
        [(FsTarget::Root, String::new(), Access::Write)]
    );
    assert_eq!(
        unrestricted.profile.sandbox.unwrap().network,
        NetworkMode::Enabled
    );
}

#[test]
fn readable_roots_and_disable_network_adjust_the_state() {
    let json = with_profile(
        r#"{"type": "managed", "network": "enabled", "file_system": {"type": "unrestricted"}}"#,
    );
    let adjusted = state_with(&json, &["../data".into(), "/opt/x".into()], true).unwrap();
    assert_eq!(
        rules(&adjusted)[1..],
        [
            (FsTarget::Path("/data".into()), String::new(), Access::Read),
            (FsTarget::Path("/opt/x".into()), String::new(), Access::Read),
        ]
    );
    assert_eq!(
        adjusted.profile.sandbox.unwrap().network,
        NetworkMode::Restricted
    );
    let err = state_with(&with_profile(r#"{"type": "disabled"}"#), &[], true).unwrap_err();
    assert!(
        err.to_string().contains("cannot be applied to a disabled"),
        "{err}"
    );
}

#[test]
fn the_legacy_shape_is_read_as_codex_reads_it() {
    let legacy = state(&with_profile(
        r#"{"network": {"enabled": true}, "file_system": {"entries": [
              {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"}]}}"#,
    ))
    .unwrap();
    assert_eq!(
        rules(&legacy),
        [(FsTarget::Root, String::new(), Access::Read)]
    );
    assert_eq!(
        legacy.profile.sandbox.unwrap().network,
        NetworkMode::Enabled
    );
}

#[test]
fn bad_states_are_refused_naming_the_problem() {
    for (json, says) in [
        ("xx", "expected value"),
        ("{}", "missing field `permissionProfile`"),
        (
            r#"{"permissionProfile": {"type": "disabled"}}"#,
            "missing field `sandboxCwd`",
        ),
        (
            r#"{"permissionProfile": {"type": "disabled"}, "sandboxCwd": "/tmp"}"#,
            "relative URL without a base",
        ),
        (
            r#"{"permissionProfile": {"type": "disabled"}, "sandboxCwd": "http://x/y"}"#,
            "unsupported path URI scheme `http`",
        ),
        (
            r#"{"permissionProfile": {"type": "disabled"}, "sandboxCwd": "file:///nonexistent/dir"}"#,
            "not an existing directory",
        ),
        (
            &with_profile(r#"{"type": "workspace-write"}"#),
            "did not match any variant",
        ),
        (
            &with_profile(
                r#"{"type": "managed", "network": "restricted", "file_system": {"type": "restricted",
                    "entries": [{"path": {"type": "path", "path": "relative"}, "access": "read"}]}}"#,
            ),
            "entries[0]",
        ),
        (
            &with_profile(
                r#"{"type": "managed", "network": "restricted", "file_system": {"type": "restricted",
                    "entries": [{"path": {"type": "glob_pattern", "pattern": "/x/*.pem"}, "access": "write"}]}}"#,
            ),
            "only deny reading",
        ),
    ] {
        let err = state(json).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid --sandbox-state-json value: "),
            "{err}"
        );
        assert!(err.contains(says), "{json}: {err}");
    }
}

#[test]
fn an_unknown_special_path_is_ignored_with_a_warning() {
    let parsed = state(&with_profile(
        r#"{"type": "managed", "network": "restricted", "file_system": {"type": "restricted", "entries": [
              {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"},
              {"path": {"type": "special", "value": {"kind": "future"}}, "access": "write"}]}}"#,
    ))
    .unwrap();
    assert_eq!(rules(&parsed).len(), 1);
    assert_eq!(parsed.profile.warnings.len(), 1);
}
