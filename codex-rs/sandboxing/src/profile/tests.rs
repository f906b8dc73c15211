use super::*;
use crate::profile::inherit::MergedProfile;
use crate::proxy::domains::{DomainPattern, ProxyMode};

fn select(toml: &str, cli: Option<&str>) -> Result<Profile, ProfileError> {
    select_profile(&LoadedConfig::from_test_toml(toml), cli)
}

/// [`select`] with `-c` arguments layered over the file.
fn select_with(toml: &str, overrides: &[&str], cli: Option<&str>) -> Result<Profile, ProfileError> {
    select_profile(&LoadedConfig::from_test_layers(toml, overrides), cli)
}

fn rules(profile: &Profile) -> Vec<(FsTarget, Access)> {
    rules_of(profile.sandbox.as_ref().expect("a sandboxing profile"))
}

#[test]
fn nothing_configured_means_read_only_as_in_codex() {
    let profile = select("", None).unwrap();
    assert_eq!(profile.name, READ_ONLY);
    assert_eq!(profile.chosen_by, "default (built-in default)");
    assert_eq!(rules(&profile), [(FsTarget::Root, Access::Read)]);
}

#[test]
fn the_built_in_workspace_writes_the_workspace_and_temporary_directories() {
    let profile = select("", Some(WORKSPACE)).unwrap();
    assert_eq!(profile.name, WORKSPACE);
    assert_eq!(
        rules(&profile),
        [
            (FsTarget::Root, Access::Read),
            (FsTarget::SlashTmp, Access::Write),
            (FsTarget::Tmpdir, Access::Write),
            (FsTarget::WorkspaceRoots, Access::Write),
        ]
    );
    assert_eq!(profile.sandbox.unwrap().network, NetworkMode::Restricted);
}

#[test]
fn read_only_reads_everything_and_has_no_network() {
    let profile = select("", Some(READ_ONLY)).unwrap();
    assert_eq!(rules(&profile), [(FsTarget::Root, Access::Read)]);
    assert_eq!(profile.sandbox.unwrap().network, NetworkMode::Restricted);
}

#[test]
fn danger_full_access_has_no_sandbox() {
    assert_eq!(select("", Some(DANGER_FULL_ACCESS)).unwrap().sandbox, None);
}

#[test]
fn cli_choice_beats_default_permissions() {
    let profile = select("default_permissions = \":read-only\"", Some(WORKSPACE)).unwrap();
    assert_eq!(profile.name, WORKSPACE);
    assert!(profile.chosen_by.starts_with("-P"));
    let profile = select("default_permissions = \":read-only\"", None).unwrap();
    assert_eq!(profile.name, READ_ONLY);
    assert!(
        profile.chosen_by.contains("config.toml"),
        "{}",
        profile.chosen_by
    );
}

#[test]
fn legacy_sandbox_mode_applies_only_from_the_command_line() {
    for (mode, name) in [
        ("read-only", READ_ONLY),
        ("workspace-write", WORKSPACE),
        ("danger-full-access", DANGER_FULL_ACCESS),
    ] {
        let profile = select_with("", &[&format!("sandbox_mode={mode}")], None).unwrap();
        assert_eq!(profile.name, name);
        assert!(
            profile.chosen_by.starts_with("sandbox_mode (-c"),
            "{}",
            profile.chosen_by
        );
        // Written in config.toml it is ignored, as Codex's `codex sandbox`
        // ignores it: read-only.
        let profile = select(&format!("sandbox_mode = \"{mode}\""), None).unwrap();
        assert_eq!(profile.name, READ_ONLY, "{mode}");
    }
}

#[test]
fn legacy_workspace_write_settings_tune_only_the_legacy_mode() {
    let settings = "[sandbox_workspace_write]\nnetwork_access = true\nexclude_tmpdir_env_var = true\n\
                    exclude_slash_tmp = true\nwritable_roots = [\"/data\"]\n";
    let legacy = select_with(settings, &["sandbox_mode=workspace-write"], None).unwrap();
    assert_eq!(
        rules(&legacy),
        [
            (FsTarget::Root, Access::Read),
            (FsTarget::WorkspaceRoots, Access::Write),
        ]
    );
    let sandbox = legacy.sandbox.unwrap();
    assert_eq!(sandbox.network, NetworkMode::Enabled);
    assert_eq!(
        sandbox
            .extra_workspace_roots
            .iter()
            .map(|root| (root.path.clone(), root.origin.to_string()))
            .collect::<Vec<_>>(),
        [(
            PathBuf::from("/data"),
            "sandbox_workspace_write.writable_roots (config.toml)".to_string()
        )]
    );
    // A built-in chosen by name ignores them (Codex's
    // explicit_builtin_workspace_profile_ignores_legacy_workspace_write_settings),
    // by -P or by default_permissions.
    for profile in [
        select(settings, Some(WORKSPACE)).unwrap(),
        select(
            &format!("default_permissions = \":workspace\"\n{settings}"),
            None,
        )
        .unwrap(),
    ] {
        assert_eq!(rules(&profile).len(), 4, "{}", profile.chosen_by);
        let sandbox = profile.sandbox.unwrap();
        assert_eq!(sandbox.network, NetworkMode::Restricted);
        assert!(sandbox.extra_workspace_roots.is_empty());
    }
}

#[test]
fn a_command_line_sandbox_mode_beats_default_permissions_from_a_file_only() {
    let file = "default_permissions = \":read-only\"\nsandbox_mode = \"workspace-write\"\n";
    assert_eq!(select(file, None).unwrap().name, READ_ONLY);
    let profile = select_with(
        "default_permissions = \":read-only\"",
        &["sandbox_mode=workspace-write"],
        None,
    )
    .unwrap();
    assert_eq!(profile.name, WORKSPACE);
    let profile = select_with(
        "",
        &[
            "sandbox_mode=workspace-write",
            "default_permissions=\":read-only\"",
        ],
        None,
    )
    .unwrap();
    assert_eq!(profile.name, READ_ONLY);
    // -P beats both.
    let profile = select_with("", &["sandbox_mode=danger-full-access"], Some(WORKSPACE)).unwrap();
    assert_eq!(profile.name, WORKSPACE);
}

#[test]
fn permission_profiles_without_default_permissions_need_p() {
    let config = "[permissions.dev.filesystem]\n\":root\" = \"read\"\n";
    let err = select(config, None).unwrap_err().to_string();
    assert!(
        err.contains("does not set default_permissions") && err.contains("-P"),
        "{err}"
    );
    assert_eq!(select(config, Some("dev")).unwrap().name, "dev");
    assert_eq!(
        select_with(config, &["sandbox_mode=workspace-write"], None)
            .unwrap()
            .name,
        WORKSPACE
    );
}

#[test]
fn legacy_and_unknown_profile_ids_are_rejected_with_the_valid_names() {
    let err = select("", Some(":danger-no-sandbox"))
        .unwrap_err()
        .to_string();
    assert!(err.contains(":danger-full-access"), "{err}");
    let err = select(
        "[permissions.dev.filesystem]\n\":root\" = \"read\"",
        Some("prod"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown profile `prod`"), "{err}");
    assert!(
        err.contains(":read-only, :workspace, :danger-full-access, dev"),
        "{err}"
    );
    let err = select("", Some(":workspace-write"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown built-in profile"), "{err}");
    let err = select("default_permissions = \"nope\"", None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("default_permissions (config.toml)"),
        "{err}"
    );
}

#[test]
fn user_profiles_map_keys_and_paths() {
    let profile = select(
        r#"default_permissions = "dev"
[permissions.dev.filesystem]
":root" = "read"
":workspace_roots" = "write"
":tmpdir" = "write"
":slash_tmp" = "none"
"/code/secrets" = "none"
"~/cache" = "write"
[permissions.dev.network]
enabled = true
"#,
        None,
    )
    .unwrap();
    let mut got = rules(&profile);
    got.sort_by_key(|(target, _)| format!("{target:?}"));
    let mut want = vec![
        (FsTarget::Root, Access::Read),
        (FsTarget::WorkspaceRoots, Access::Write),
        (FsTarget::Tmpdir, Access::Write),
        (FsTarget::SlashTmp, Access::None),
        (FsTarget::Path("/code/secrets".into()), Access::None),
        (FsTarget::Path("~/cache".into()), Access::Write),
    ];
    want.sort_by_key(|(target, _)| format!("{target:?}"));
    assert_eq!(got, want);
    let sandbox = profile.sandbox.unwrap();
    assert_eq!(sandbox.network, NetworkMode::Enabled);
    let secrets = sandbox
        .filesystem
        .iter()
        .find(|rule| rule.target == FsTarget::Path("/code/secrets".into()))
        .unwrap();
    assert_eq!(
        secrets.origin.to_string(),
        "permissions.dev.filesystem.\"/code/secrets\" (config.toml)"
    );
}

#[test]
fn network_defaults_to_restricted_and_environment_proxy_routes_it() {
    let profile = select(
        "[permissions.p.filesystem]\n\":root\" = \"read\"",
        Some("p"),
    )
    .unwrap();
    assert_eq!(profile.sandbox.unwrap().network, NetworkMode::Restricted);
    let profile = select(
        "[permissions.p.network]\nenabled = true\nenvironment_proxy = true",
        Some("p"),
    )
    .unwrap();
    let sandbox = profile.sandbox.unwrap();
    assert_eq!(sandbox.network, NetworkMode::Proxy);
    assert_eq!(sandbox.domains, None, "the environment's proxy");
}

const FEATURE: &str = "[features]\nnetwork_proxy = true\n";

#[test]
fn the_network_proxy_feature_puts_an_enabled_network_under_the_profiles_rules() {
    let profile = select(
        &format!(
            "{FEATURE}[permissions.p.network]\nenabled = true\nmode = \"limited\"\nallow_local_binding = true\n\
             [permissions.p.network.domains]\n\"crates.io\" = \"allow\"\n\"*.crates.io\" = \"allow\"\n\
             \"evil.crates.io\" = \"deny\"\n"
        ),
        Some("p"),
    )
    .unwrap();
    assert!(
        profile.chosen_by.contains("features.network_proxy"),
        "{}",
        profile.chosen_by
    );
    let sandbox = profile.sandbox.unwrap();
    assert_eq!(sandbox.network, NetworkMode::Proxy);
    let rules = sandbox.domains.unwrap();
    assert_eq!(
        rules.allowed,
        [
            DomainPattern::Exact("crates.io".into()),
            DomainPattern::Subdomains("crates.io".into())
        ]
    );
    assert_eq!(
        rules.denied,
        [DomainPattern::Exact("evil.crates.io".into())]
    );
    assert!(rules.allow_local_addresses);
    assert_eq!(rules.mode, ProxyMode::Limited);
}

#[test]
fn the_feature_leaves_restricted_networks_and_the_unsandboxed_profile_alone() {
    for (config, cli) in [
        ("[permissions.p.network]\nenabled = false\n", Some("p")),
        ("", Some(WORKSPACE)),
        ("", Some(READ_ONLY)),
    ] {
        let sandbox = select(&format!("{FEATURE}{config}"), cli)
            .unwrap()
            .sandbox
            .unwrap();
        assert_eq!(sandbox.network, NetworkMode::Restricted, "{config}");
        assert_eq!(sandbox.domains, None);
    }
    assert_eq!(
        select(FEATURE, Some(DANGER_FULL_ACCESS)).unwrap().sandbox,
        None
    );
    // The legacy workspace-write mode with network_access is proxied too.
    let legacy = select_with(
        &format!("{FEATURE}[sandbox_workspace_write]\nnetwork_access = true\n"),
        &["sandbox_mode=workspace-write"],
        None,
    )
    .unwrap()
    .sandbox
    .unwrap();
    assert_eq!(legacy.network, NetworkMode::Proxy);
    assert_eq!(legacy.domains, Some(DomainPolicy::default()));
}

#[test]
fn a_feature_table_wins_over_the_profile_key_by_key() {
    let sandbox = select(
        "[features.network_proxy]\nenabled = true\nmode = \"full\"\n\
         [features.network_proxy.domains]\n\"a.com\" = \"deny\"\n\
         [permissions.p.network]\nenabled = true\nmode = \"limited\"\nallow_local_binding = true\n\
         [permissions.p.network.domains]\n\"a.com\" = \"allow\"\n\"b.com\" = \"allow\"\n",
        Some("p"),
    )
    .unwrap()
    .sandbox
    .unwrap();
    let rules = sandbox.domains.unwrap();
    assert_eq!(rules.mode, ProxyMode::Full);
    assert!(rules.allow_local_addresses);
    assert_eq!(rules.allowed, [DomainPattern::Exact("b.com".into())]);
    assert_eq!(rules.denied, [DomainPattern::Exact("a.com".into())]);
    // A table without `enabled = true` leaves the feature off.
    let off = select(
        "[features.network_proxy]\nmode = \"limited\"\n[permissions.p.network]\nenabled = true\n",
        Some("p"),
    )
    .unwrap()
    .sandbox
    .unwrap();
    assert_eq!(off.network, NetworkMode::Enabled);
}

#[test]
fn proxy_rules_without_the_feature_do_nothing_and_say_so() {
    let profile = select(
        "[permissions.p.network]\nenabled = true\n[permissions.p.network.domains]\n\"a.com\" = \"allow\"\n",
        Some("p"),
    )
    .unwrap();
    assert_eq!(
        profile.sandbox.as_ref().unwrap().network,
        NetworkMode::Enabled
    );
    assert!(
        profile
            .warnings
            .iter()
            .any(|warning| warning.contains("no effect without features.network_proxy")),
        "{:?}",
        profile.warnings
    );
}

#[test]
fn network_settings_out_of_place_or_malformed_name_the_key() {
    let cases = [
        (
            "",
            "environment_proxy = true",
            "permissions.p.network.environment_proxy",
            "needs enabled = true",
        ),
        (
            "",
            "enabled = true\nenvironment_proxy = true\n[permissions.p.network.domains]\n\"a.com\" = \"allow\"",
            "permissions.p.network.environment_proxy",
            "enforces no domains",
        ),
        (
            FEATURE,
            "enabled = true\nenvironment_proxy = true",
            "permissions.p.network.environment_proxy",
            "keep one",
        ),
        (
            "",
            "enabled = true\n[permissions.p.network.domains]\n\"ex*ample.com\" = \"allow\"",
            "permissions.p.network.domains.\"ex*ample.com\"",
            "only as `*`",
        ),
        (
            "[features.network_proxy]\nenabled = true\n[features.network_proxy.domains]\n\"10.0.0.0/8\" = \"allow\"\n",
            "enabled = true",
            "features.network_proxy.domains.\"10.0.0.0/8\"",
            "address ranges",
        ),
    ];
    for (prefix, entries, key, needle) in cases {
        let toml = format!("{prefix}[permissions.p.network]\n{entries}\n");
        let err = select(&toml, Some("p")).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{key} (")), "{entries}: {err}");
        assert!(err.contains(needle), "{entries}: {err}");
    }
}

#[test]
fn bad_filesystem_entries_name_the_key() {
    let cases = [
        ("\"relative/path\" = \"read\"", "absolute path"),
        ("\"/x\" = \"rw\"", "valid values: read, write, deny"),
        ("\"/x\" = 1", "found integer"),
        ("\"/x\" = { \"*.env\" = \"read\" }", "can only deny reading"),
        ("\"/x\" = { \"[a\" = \"none\" }", "invalid glob"),
        ("\"*.env\" = \"none\"", "relative glob"),
        ("glob_scan_max_depth = 0", "positive integer"),
        ("glob_scan_max_depth = \"deep\"", "positive integer"),
    ];
    for (entry, needle) in cases {
        let toml = format!("[permissions.p.filesystem]\n{entry}\n");
        let err = select(&toml, Some("p")).unwrap_err().to_string();
        assert!(
            err.starts_with("permissions.p.filesystem."),
            "{entry}: {err}"
        );
        assert!(err.contains(needle), "{entry}: {err}");
    }
}

#[test]
fn errors_inside_a_nested_table_name_the_inner_key() {
    let toml = "[permissions.p.filesystem.\":workspace_roots\"]\n\"**/*.env\" = \"write\"\n";
    let err = select(toml, Some("p")).unwrap_err().to_string();
    assert!(
        err.starts_with("permissions.p.filesystem.\":workspace_roots\".\"**/*.env\" (config.toml)"),
        "{err}"
    );
}

#[test]
fn globs_and_scoped_paths_become_rules_with_their_own_keys() {
    let toml = r#"
[permissions.p.filesystem]
":root" = "read"
"/home/me/**/id_*" = "none"
glob_scan_max_depth = 4
[permissions.p.filesystem.":workspace_roots"]
"." = "write"
"**/*.env" = "none"
"secrets" = "none"
"#;
    let sandbox = select(toml, Some("p")).unwrap().sandbox.unwrap();
    assert_eq!(sandbox.glob_scan_max_depth, Some(4));
    let globs: Vec<(FsTarget, &str, String)> = sandbox
        .deny_globs
        .iter()
        .map(|glob| {
            (
                glob.base.clone(),
                glob.pattern.as_str(),
                glob.origin.to_string(),
            )
        })
        .collect();
    assert_eq!(
        globs,
        [
            (
                FsTarget::Root,
                "home/me/**/id_*",
                "permissions.p.filesystem.\"/home/me/**/id_*\" (config.toml)".to_string()
            ),
            (
                FsTarget::WorkspaceRoots,
                "**/*.env",
                "permissions.p.filesystem.\":workspace_roots\".\"**/*.env\" (config.toml)"
                    .to_string()
            ),
        ]
    );
    let scoped: Vec<(FsTarget, String, Access)> = sandbox
        .filesystem
        .iter()
        .map(|rule| {
            (
                rule.target.clone(),
                rule.subpath.display().to_string(),
                rule.access,
            )
        })
        .collect();
    assert_eq!(
        scoped,
        [
            (FsTarget::Root, String::new(), Access::Read),
            (FsTarget::WorkspaceRoots, String::new(), Access::Write),
            (FsTarget::WorkspaceRoots, "secrets".into(), Access::None),
        ]
    );
}

#[test]
fn built_in_profiles_set_no_glob_scan_depth() {
    let sandbox = select("", Some(WORKSPACE)).unwrap().sandbox.unwrap();
    assert!(sandbox.deny_globs.is_empty());
    assert_eq!(sandbox.glob_scan_max_depth, None);
}

const MANAGED: &str = "[managed_proxy.domains]\n\"crates.io\" = \"allow\"\n";

#[test]
fn the_managed_proxy_takes_every_network_but_a_restricted_one() {
    // :danger-full-access runs sandboxed: everything writable, nothing
    // protected, the network through the managed proxy.
    let danger = select(MANAGED, Some(DANGER_FULL_ACCESS)).unwrap();
    assert!(
        danger
            .chosen_by
            .contains("network through the managed proxy")
    );
    let sandbox = danger.sandbox.unwrap();
    assert_eq!(rules_of(&sandbox), [(FsTarget::Root, Access::Write)]);
    assert_eq!(sandbox.network, NetworkMode::Proxy);
    assert!(!sandbox.protect_metadata);
    assert_eq!(
        sandbox.domains.unwrap().allowed,
        [DomainPattern::Exact("crates.io".into())]
    );

    let online = select_with(
        &format!("{MANAGED}[sandbox_workspace_write]\nnetwork_access = true\n"),
        &["sandbox_mode=workspace-write"],
        None,
    )
    .unwrap()
    .sandbox
    .unwrap();
    assert_eq!(online.network, NetworkMode::Proxy);
    assert!(online.domains.is_some());
    assert!(online.protect_metadata);

    let proxied = select(
        &format!("{MANAGED}[permissions.p.network]\nenabled = true\nenvironment_proxy = true\n"),
        Some("p"),
    )
    .unwrap()
    .sandbox
    .unwrap();
    assert!(
        proxied.domains.is_some(),
        "the managed rules, not the environment's proxy"
    );

    let offline = select(MANAGED, Some(WORKSPACE)).unwrap().sandbox.unwrap();
    assert_eq!(offline.network, NetworkMode::Restricted);
    assert_eq!(offline.domains, None);
}

fn rules_of(sandbox: &SandboxProfile) -> Vec<(FsTarget, Access)> {
    sandbox
        .filesystem
        .iter()
        .map(|rule| (rule.target.clone(), rule.access))
        .collect()
}

#[test]
fn managed_proxy_errors_name_the_key() {
    let err = select(
        "[managed_proxy.domains]\n\"0x7f.1\" = \"allow\"\n",
        Some(WORKSPACE),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("managed_proxy.domains.\"0x7f.1\""), "{err}");
    assert!(err.contains("old numeric spelling"), "{err}");
    let err = select(
        &format!("{MANAGED}{FEATURE}[permissions.p.network]\nenabled = true\n"),
        Some("p"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("features.network_proxy"), "{err}");
    assert!(err.contains("keep one of the two"), "{err}");
}

#[test]
fn under_a_managed_proxy_the_configuration_directory_is_read_only() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.toml"), MANAGED).unwrap();
    let loaded = LoadedConfig::load(&crate::config::ConfigRequest {
        codex_home: Some(home.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let sandbox = select_profile(&loaded, Some(DANGER_FULL_ACCESS))
        .unwrap()
        .sandbox
        .unwrap();
    let guard = sandbox
        .filesystem
        .iter()
        .find(|rule| rule.origin == RuleOrigin::Configuration)
        .expect("a rule for the configuration directory");
    assert_eq!(guard.target, FsTarget::Path(home.path().to_path_buf()));
    assert_eq!(guard.access, Access::Read);
}

#[test]
fn a_profile_extending_workspace_gets_its_rules_and_adds_its_own() {
    let profile = select(
        r#"
[permissions.dev]
description = "workspace, plus a cache"
extends = ":workspace"
[permissions.dev.filesystem]
"/opt/cache" = "write"
[permissions.dev.filesystem.":workspace_roots"]
"secrets" = "deny"
"#,
        Some("dev"),
    )
    .unwrap();
    let sandbox = profile.sandbox.unwrap();
    let got: Vec<(FsTarget, String, Access, String)> = sandbox
        .filesystem
        .iter()
        .map(|rule| {
            (
                rule.target.clone(),
                rule.subpath.display().to_string(),
                rule.access,
                rule.origin.to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                FsTarget::Path("/opt/cache".into()),
                String::new(),
                Access::Write,
                "permissions.dev.filesystem.\"/opt/cache\" (config.toml)".into()
            ),
            (
                FsTarget::Root,
                String::new(),
                Access::Read,
                "built-in :workspace".into()
            ),
            (
                FsTarget::SlashTmp,
                String::new(),
                Access::Write,
                "built-in :workspace".into()
            ),
            (
                FsTarget::Tmpdir,
                String::new(),
                Access::Write,
                "built-in :workspace".into()
            ),
            (
                FsTarget::WorkspaceRoots,
                String::new(),
                Access::Write,
                "built-in :workspace".into()
            ),
            (
                FsTarget::WorkspaceRoots,
                "secrets".into(),
                Access::None,
                "permissions.dev.filesystem.\":workspace_roots\".secrets (config.toml)".into()
            ),
        ]
    );
    assert!(sandbox.protect_metadata, "protected names stay protected");
}

#[test]
fn a_child_key_replaces_the_parents_and_tables_merge_key_by_key() {
    let toml = r#"
default_permissions = "child"
[permissions.base]
description = "not inherited"
[permissions.base.filesystem]
":root" = "read"
"/data" = "write"
[permissions.base.filesystem.":workspace_roots"]
"." = "write"
"docs" = "read"
[permissions.base.workspace_roots]
"/shared" = true
"/old" = true
[permissions.child]
extends = "base"
[permissions.child.filesystem]
"/data" = "read"
[permissions.child.filesystem.":workspace_roots"]
"docs" = "write"
[permissions.child.workspace_roots]
"/old" = false
"#;
    let loaded = LoadedConfig::from_test_toml(toml);
    let merged = MergedProfile::of_config(&loaded, "child").unwrap();
    assert_eq!(merged.lineage, ["child", "base"]);
    assert_eq!(
        merged.toml.description, None,
        "description is not inherited"
    );
    let sandbox = select(toml, None).unwrap().sandbox.unwrap();
    let got: Vec<(String, Access, String)> = sandbox
        .filesystem
        .iter()
        .map(|rule| {
            (
                format!("{:?}/{}", rule.target, rule.subpath.display()),
                rule.access,
                rule.origin.to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "Path(\"/data\")/".into(),
                Access::Read,
                "permissions.child.filesystem.\"/data\" (config.toml)".into()
            ),
            (
                "Root/".into(),
                Access::Read,
                "permissions.base.filesystem.\":root\" (config.toml)".into()
            ),
            (
                "WorkspaceRoots/".into(),
                Access::Write,
                "permissions.base.filesystem.\":workspace_roots\".\".\" (config.toml)".into()
            ),
            (
                "WorkspaceRoots/docs".into(),
                Access::Write,
                "permissions.child.filesystem.\":workspace_roots\".docs (config.toml)".into()
            ),
        ]
    );
    let roots: Vec<PathBuf> = sandbox
        .extra_workspace_roots
        .iter()
        .map(|root| root.path.clone())
        .collect();
    assert_eq!(roots, [PathBuf::from("/shared")], "false takes back /old");
}

#[test]
fn a_plain_value_replaces_an_inherited_table_whole() {
    let sandbox = select(
        r#"
[permissions.ro]
extends = ":workspace"
[permissions.ro.filesystem]
":workspace_roots" = "read"
"#,
        Some("ro"),
    )
    .unwrap()
    .sandbox
    .unwrap();
    assert!(
        sandbox
            .filesystem
            .iter()
            .any(|rule| rule.target == FsTarget::WorkspaceRoots && rule.access == Access::Read)
    );
    assert!(
        !sandbox
            .filesystem
            .iter()
            .any(|rule| rule.target == FsTarget::WorkspaceRoots && rule.access == Access::Write)
    );
}

#[test]
fn bad_parents_and_cycles_are_refused_naming_the_extends_key() {
    for (toml, key, says) in [
        (
            "[permissions.child]\nextends = \"base\"\n",
            "permissions.child.extends",
            "extends `base`, which is not a profile",
        ),
        (
            "[permissions.child]\nextends = \":danger-full-access\"\n",
            "permissions.child.extends",
            "cannot extend the built-in profile `:danger-full-access`",
        ),
        (
            "[permissions.child]\nextends = \":custom\"\n",
            "permissions.child.extends",
            "cannot extend the built-in profile `:custom`",
        ),
        (
            "[permissions.child]\nextends = \"alpha\"\n[permissions.alpha]\nextends = \"beta\"\n\
             [permissions.beta]\nextends = \"alpha\"\n",
            "permissions.beta.extends",
            "cycle: alpha -> beta -> alpha",
        ),
        (
            "[permissions.child]\nextends = \"child\"\n",
            "permissions.child.extends",
            "cycle: child -> child",
        ),
    ] {
        let err = select(toml, Some("child")).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{key} (config.toml)")),
            "{toml}: {err}"
        );
        assert!(err.contains(says), "{toml}: {err}");
    }
}

#[test]
fn profile_names_starting_with_a_colon_are_reserved() {
    let err = select(
        "[permissions.\":mine\".filesystem]\n\":root\" = \"read\"\n",
        Some(WORKSPACE),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("permissions.\":mine\" (config.toml)"),
        "{err}"
    );
    assert!(err.contains("reserved"), "{err}");
}

#[test]
fn an_unknown_special_key_is_ignored_with_a_warning_naming_it() {
    let profile = select(
        "[permissions.p.filesystem]\n\":root\" = \"read\"\n\":future_dirs\" = \"write\"\n\
         \":later\" = { \"a\" = \"write\" }\n",
        Some("p"),
    )
    .unwrap();
    assert_eq!(rules(&profile), [(FsTarget::Root, Access::Read)]);
    assert_eq!(profile.warnings.len(), 2, "{:?}", profile.warnings);
    assert!(
        profile.warnings[0].starts_with(
            "permissions.p.filesystem.\":future_dirs\" (config.toml): `:future_dirs` is not a special path"
        ),
        "{:?}",
        profile.warnings
    );
    assert!(
        profile.warnings[1].starts_with("permissions.p.filesystem.\":later\".a (config.toml)"),
        "{:?}",
        profile.warnings
    );
}

#[test]
fn a_profile_with_no_known_filesystem_rule_reads_nothing_and_says_so() {
    let profile = select("[permissions.p.network]\nenabled = true\n", Some("p")).unwrap();
    assert!(rules(&profile).is_empty());
    assert_eq!(profile.warnings.len(), 1);
    assert!(
        profile.warnings[0].contains("the command can read nothing"),
        "{:?}",
        profile.warnings
    );
}

#[test]
fn minimal_and_project_roots_are_codex_special_paths() {
    let profile = select(
        "[permissions.p.filesystem]\n\":minimal\" = \"read\"\n\":project_roots\" = \"write\"\n",
        Some("p"),
    )
    .unwrap();
    assert_eq!(
        rules(&profile),
        [
            (FsTarget::Minimal, Access::Read),
            (FsTarget::WorkspaceRoots, Access::Write),
        ]
    );
}

#[test]
fn a_workspace_root_cannot_be_a_glob_or_empty() {
    for root in ["/data/*", ""] {
        let toml = format!("[permissions.p.workspace_roots]\n{root:?} = true\n");
        let err = select(&toml, Some("p")).unwrap_err().to_string();
        assert!(err.starts_with("permissions.p.workspace_roots."), "{err}");
        assert!(err.contains("not empty or a glob"), "{err}");
    }
}

#[test]
fn legacy_writable_roots_must_be_absolute_plain_paths() {
    for (root, says) in [("out", "`out` is relative"), ("/data/*", "is a glob")] {
        let err = select_with(
            &format!("[sandbox_workspace_write]\nwritable_roots = [{root:?}]\n"),
            &["sandbox_mode=workspace-write"],
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("sandbox_workspace_write.writable_roots (config.toml)")
                && err.contains(says),
            "{err}"
        );
    }
}
