use super::*;

fn home_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(home.path().join(name), text).unwrap();
    }
    home
}

fn request(home: &tempfile::TempDir) -> ConfigRequest {
    ConfigRequest {
        codex_home: home.path().to_path_buf(),
        ..ConfigRequest::default()
    }
}

#[test]
fn a_missing_config_file_is_an_empty_config() {
    let home = home_with(&[]);
    let loaded = LoadedConfig::load(&request(&home)).unwrap();
    assert_eq!(loaded.config, ConfigToml::default());
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let home = home_with(&[(
        "config.toml",
        "default_permissions = \":workspace\"\nsandbox_mode = \n",
    )]);
    let err = LoadedConfig::load(&request(&home)).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:2:", home.path().join("config.toml").display())),
        "{err}"
    );
}

/// Codex ignores keys it does not know; so does this tool, but says so,
/// naming the nearest known key.
#[test]
fn unknown_keys_are_ignored_with_a_warning_naming_the_nearest_key() {
    let home = home_with(&[(
        "config.toml",
        "model = \"x\"\n\ndefault_permision = \"dev\"\n",
    )]);
    let loaded = LoadedConfig::load(&request(&home)).unwrap();
    assert_eq!(loaded.config, ConfigToml::default());
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let warning = &loaded.warnings[0];
    assert!(
        warning.starts_with("unknown key `default_permision` (")
            && warning.ends_with("did you mean `default_permissions`?"),
        "{warning}"
    );
}

#[test]
fn unknown_keys_inside_a_profile_are_ignored_with_a_warning() {
    let home = home_with(&[(
        "config.toml",
        "[permissions.dev.network]\nenabled = true\nallowed = []\n",
    )]);
    let loaded = LoadedConfig::load(&request(&home)).unwrap();
    assert_eq!(loaded.config.permissions["dev"].network.enabled, Some(true));
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].starts_with("unknown key `permissions.dev.network.allowed`"),
        "{:?}",
        loaded.warnings
    );
}

/// A value this tool cannot read, in a key it reads, is an error pointing
/// at the file, line and column.
#[test]
fn bad_values_of_keys_read_here_point_into_the_file() {
    let home = home_with(&[(
        "config.toml",
        "model = 3\n[sandbox_workspace_write]\nnetwork_access = \"yes\"\n",
    )]);
    let err = LoadedConfig::load(&request(&home)).unwrap_err().to_string();
    assert!(err.contains("config.toml:3:18:"), "{err}");
}

#[test]
fn bad_enum_values_list_the_valid_spellings() {
    let home = home_with(&[("config.toml", "sandbox_mode = \"workspace\"\n")]);
    let err = LoadedConfig::load(&request(&home)).unwrap_err().to_string();
    assert!(
        err.contains("workspace-write") && err.contains("read-only"),
        "{err}"
    );
}

#[test]
fn codex_cli_keys_are_accepted_and_ignored() {
    let home = home_with(&[(
        "config.toml",
        "model = \"o3\"\napproval_policy = \"never\"\n[mcp_servers.x]\ncommand = \"y\"\n",
    )]);
    assert_eq!(
        LoadedConfig::load(&request(&home)).unwrap().config,
        ConfigToml::default()
    );
}

#[test]
fn an_unreadable_config_file_is_an_error_not_an_empty_config() {
    let home = home_with(&[]);
    std::fs::create_dir(home.path().join("config.toml")).unwrap();
    let err = LoadedConfig::load(&request(&home)).unwrap_err().to_string();
    assert!(err.starts_with("cannot read"), "{err}");
}

#[test]
fn layers_merge_in_order_and_remember_their_source() {
    let home = home_with(&[
        (
            "config.toml",
            "default_permissions = \"dev\"\n[sandbox_workspace_write]\nwritable_roots = [\"/a\"]\nnetwork_access = true\n",
        ),
        (
            "ci.config.toml",
            "[sandbox_workspace_write]\nwritable_roots = [\"/b\"]\n",
        ),
    ]);
    let mut req = request(&home);
    req.profile_file = Some("ci".into());
    req.overrides = vec!["default_permissions=:read-only".into()];
    let loaded = LoadedConfig::load(&req).unwrap();
    let ws = &loaded.config.sandbox_workspace_write;
    assert_eq!(ws.writable_roots, [PathBuf::from("/b")]);
    assert!(
        ws.network_access,
        "keys the profile file does not set survive"
    );
    assert_eq!(
        loaded.config.default_permissions.as_deref(),
        Some(":read-only")
    );
    assert_eq!(
        loaded.source_of(&["sandbox_workspace_write", "writable_roots"]),
        ConfigSource::File(home.path().join("ci.config.toml"))
    );
    assert_eq!(
        loaded.source_of(&["default_permissions"]),
        ConfigSource::Override("default_permissions=:read-only".into())
    );
    assert_eq!(loaded.source_of(&["sandbox_mode"]), ConfigSource::Default);
}

#[test]
fn a_missing_or_malformed_profile_file_name_is_an_error() {
    let home = home_with(&[]);
    let mut req = request(&home);
    req.profile_file = Some("ci".into());
    let err = LoadedConfig::load(&req).unwrap_err().to_string();
    assert!(err.contains("ci.config.toml"), "{err}");
    req.profile_file = Some("../etc/passwd".into());
    assert!(matches!(
        LoadedConfig::load(&req),
        Err(ConfigError::BadProfileName { .. })
    ));
}

#[test]
fn overrides_are_validated_against_the_schema() {
    let home = home_with(&[]);
    let mut req = request(&home);
    req.overrides = vec!["sandbox_workspace_write.network_acces=true".into()];
    let loaded = LoadedConfig::load(&req).unwrap();
    assert_eq!(
        loaded.warnings,
        [
            "unknown key `sandbox_workspace_write.network_acces` (-c sandbox_workspace_write.network_acces=true) \
          ignored; did you mean `sandbox_workspace_write.network_access`?"
        ]
    );
    req.overrides = vec!["sandbox_workspace_write.network_access=yes".into()];
    let err = LoadedConfig::load(&req).unwrap_err().to_string();
    assert!(
        err.starts_with("-c sandbox_workspace_write.network_access=yes:"),
        "{err}"
    );
    // Codex's own keys, through -c too, as its --help shows.
    req.overrides = vec![
        "model=\"o3\"".into(),
        "shell_environment_policy.inherit=all".into(),
    ];
    assert!(LoadedConfig::load(&req).unwrap().warnings.is_empty());
}

#[test]
fn feature_flags_are_layered_and_unknown_ones_warned_about() {
    let home = home_with(&[("config.toml", "[features]\nuse_legacy_landlock = true\n")]);
    let mut req = request(&home);
    req.disable = vec!["use_legacy_landlock".into()];
    let loaded = LoadedConfig::load(&req).unwrap();
    assert_eq!(loaded.config.feature("use_legacy_landlock"), Some(false));
    req.enable = vec!["turbo".into(), "shell_tool".into()];
    let loaded = LoadedConfig::load(&req).unwrap();
    assert_eq!(
        loaded.warnings,
        ["unknown key `features.turbo` (--enable turbo) ignored"],
        "Codex's shell_tool passes silently"
    );
}

#[test]
fn line_and_column_count_characters() {
    assert_eq!(line_and_column("ab\ncé = x", 7), (2, 4));
    assert_eq!(line_and_column("", 0), (1, 1));
}

#[test]
fn text_in_hand_loads_like_a_file_and_errors_name_the_path() {
    let loaded = LoadedConfig::from_file_text(
        Path::new("/etc/codex/config.toml"),
        "default_permissions = \":read-only\"\nmodel = \"ignored\"\n",
    )
    .unwrap();
    assert_eq!(
        loaded.config.default_permissions.as_deref(),
        Some(":read-only")
    );
    let err = LoadedConfig::from_file_text(Path::new("/etc/codex/config.toml"), "x = \n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/etc/codex/config.toml:1:"), "{err}");
}
