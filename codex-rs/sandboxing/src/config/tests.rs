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
        codex_home: Some(home.path().to_path_buf()),
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
fn feature_flags_are_layered_and_unknown_ones_refused_on_the_command_line() {
    let home = home_with(&[(
        "config.toml",
        "[features]\nuse_legacy_landlock = true\nturbo = true\n",
    )]);
    let mut req = request(&home);
    req.disable = vec!["use_legacy_landlock".into()];
    req.enable = vec!["shell_tool".into()];
    let loaded = LoadedConfig::load(&req).unwrap();
    assert_eq!(loaded.config.feature("use_legacy_landlock"), Some(false));
    assert_eq!(
        loaded.warnings,
        ["unknown key `features.turbo` (config.toml) ignored"].map(|warning| warning.replace(
            "config.toml",
            &home.path().join("config.toml").display().to_string()
        )),
        "Codex's shell_tool passes silently"
    );
    req.enable = vec!["turbo".into()];
    let err = LoadedConfig::load(&req).unwrap_err().to_string();
    assert_eq!(err, "--enable: unknown feature flag `turbo`");
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

/// The value of `shell_environment_policy.set.MARK` and the layer that
/// set it.
fn mark(loaded: &LoadedConfig) -> (String, String) {
    (
        loaded.config.shell_environment_policy.set["MARK"].clone(),
        loaded
            .source_of(&["shell_environment_policy", "set", "MARK"])
            .to_string(),
    )
}

fn set_mark(value: &str) -> String {
    format!("[shell_environment_policy]\nset = {{ MARK = \"{value}\" }}\n")
}

#[test]
fn layers_stack_as_in_codex_from_system_to_managed() {
    let system = home_with(&[("config.toml", &set_mark("system"))]);
    let home = home_with(&[]);
    let project = tempfile::tempdir().unwrap();
    let project_dir = project.path().canonicalize().unwrap();
    std::fs::create_dir_all(project_dir.join(".git")).unwrap();
    std::fs::create_dir_all(project_dir.join(".codex")).unwrap();
    let mut req = request(&home);
    req.system_dir = Some(system.path().to_path_buf());
    req.project_dir = Some(project_dir.clone());
    let layered = |req: &ConfigRequest| mark(&LoadedConfig::load(req).unwrap()).0;
    assert_eq!(layered(&req), "system");
    std::fs::write(home.path().join("config.toml"), set_mark("user")).unwrap();
    assert_eq!(layered(&req), "user");
    std::fs::write(home.path().join("ci.config.toml"), set_mark("profile file")).unwrap();
    req.profile_file = Some("ci".into());
    assert_eq!(layered(&req), "profile file");
    std::fs::write(project_dir.join(".codex/config.toml"), set_mark("project")).unwrap();
    assert_eq!(
        layered(&req),
        "profile file",
        "an untrusted project is not read"
    );
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "{}[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            set_mark("user"),
            project_dir.display()
        ),
    )
    .unwrap();
    assert_eq!(layered(&req), "project");
    req.overrides = vec!["shell_environment_policy.set.MARK=\"cli\"".into()];
    assert_eq!(layered(&req), "cli");
    std::fs::write(
        system.path().join("managed_config.toml"),
        set_mark("managed"),
    )
    .unwrap();
    let loaded = LoadedConfig::load(&req).unwrap();
    assert_eq!(
        mark(&loaded),
        (
            "managed".to_owned(),
            format!(
                "{} (managed)",
                system.path().join("managed_config.toml").display()
            )
        )
    );
}

#[test]
fn a_malformed_trusted_project_file_is_an_error_an_untrusted_one_is_never_read() {
    let home = home_with(&[]);
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().canonicalize().unwrap();
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    std::fs::create_dir_all(dir.join(".codex")).unwrap();
    std::fs::write(dir.join(".codex/config.toml"), "not toml =").unwrap();
    let mut req = request(&home);
    req.project_dir = Some(dir.clone());
    assert!(LoadedConfig::load(&req).is_ok());
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let err = LoadedConfig::load(&req).unwrap_err().to_string();
    assert!(
        err.starts_with(&dir.join(".codex/config.toml").display().to_string()),
        "{err}"
    );
}

#[test]
fn requirements_are_refused_where_codex_would_apply_them() {
    let system = home_with(&[(
        "requirements.toml",
        "allowed_sandbox_modes = [\"read-only\"]\n",
    )]);
    let home = home_with(&[]);
    let mut req = request(&home);
    req.system_dir = Some(system.path().to_path_buf());
    req.requirements_apply = true;
    let err = LoadedConfig::load(&req).unwrap_err().to_string();
    assert!(
        err.starts_with(
            &system
                .path()
                .join("requirements.toml")
                .display()
                .to_string()
        ) && err.contains("not enforced by this build"),
        "{err}"
    );
    req.requirements_apply = false;
    assert!(
        LoadedConfig::load(&req).is_ok(),
        "left out, as Codex leaves it out with -P"
    );
}

#[test]
fn legacy_profile_selectors_are_refused_as_in_codex() {
    let home = home_with(&[("config.toml", "profile = \"work\"\n")]);
    let err = LoadedConfig::load(&request(&home)).unwrap_err().to_string();
    assert!(
        err.contains("legacy `profile = \"work\"` is no longer supported"),
        "{err}"
    );
    let home = home_with(&[
        ("config.toml", "[profiles.work]\nmodel = \"o3\"\n"),
        ("work.config.toml", ""),
    ]);
    assert!(
        LoadedConfig::load(&request(&home)).is_ok(),
        "ignored without -p"
    );
    let mut req = request(&home);
    req.profile_file = Some("work".into());
    let err = LoadedConfig::load(&req).unwrap_err().to_string();
    assert!(err.contains("legacy [profiles.work] table"), "{err}");
}

#[test]
fn profile_names_are_plain_ascii_words() {
    let home = home_with(&[("W_o-rk9.config.toml", "")]);
    let mut req = request(&home);
    req.profile_file = Some("W_o-rk9".into());
    assert!(LoadedConfig::load(&req).is_ok());
    for bad in ["a/b", "..", "../x", "work.config", "wo rk", "é", ""] {
        req.profile_file = Some(bad.into());
        let err = LoadedConfig::load(&req).unwrap_err().to_string();
        assert!(err.contains("plain name"), "{bad}: {err}");
    }
}
