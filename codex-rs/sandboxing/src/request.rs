//! From command-line options and environment to an [`EffectivePolicy`]:
//! the one entry point front ends call.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cli::SandboxArgs;
use crate::config::{
    ConfigError, ConfigRequest, GUARD_PROTECTED_NAMES, INNER_STAGE, LoadedConfig,
    SYSTEM_CONFIG_DIR, USE_LEGACY_LANDLOCK,
};
use crate::environment::{policy_environment, sandboxed_environment};
use crate::host_git::HostGitConfig;
use crate::profile::{NetworkMode, ProfileError, route_network, select_profile};
use crate::resolve::{EffectivePolicy, ResolveContext, ResolveError, normalize, resolve};
use crate::sandbox_state::{SandboxStateError, StateRequest, parse_state};
use crate::unix_sockets::{UnixSocketKeyError, resolve_unix_sockets};

/// The environment a policy depends on, read once by the caller.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The process's working directory (absolute).
    pub process_cwd: PathBuf,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$CODEX_HOME`.
    pub codex_home: Option<PathBuf>,
    /// `$TMPDIR`.
    pub tmpdir: Option<PathBuf>,
    /// Every variable, for the command's environment.
    pub vars: Vec<(OsString, OsString)>,
    /// Where the system's configuration lives (`/etc/codex`); `None` reads
    /// none.
    pub system_dir: Option<PathBuf>,
}

impl Environment {
    /// Reads the real process environment.
    pub fn from_process() -> std::io::Result<Self> {
        let non_empty = |name: &str| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        Ok(Self {
            process_cwd: std::env::current_dir()?,
            home: non_empty("HOME"),
            codex_home: non_empty("CODEX_HOME"),
            tmpdir: non_empty("TMPDIR"),
            vars: std::env::vars_os().collect(),
            system_dir: Some(PathBuf::from(SYSTEM_CONFIG_DIR)),
        })
    }
}

/// Why no policy could be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// `-C` names something that is not a directory.
    #[error("-C {}: {reason}; pass an existing directory", path.display())]
    BadCwd {
        /// The directory as given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `CODEX_HOME` names no directory (Codex refuses it too).
    #[error("CODEX_HOME={}: {reason}; point it at the directory of config.toml, or unset it for ~/.codex", path.display())]
    BadCodexHome {
        /// The value.
        path: PathBuf,
        /// `does not exist`, `is not a directory`, ...
        reason: String,
    },
    /// A config file or option is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The chosen profile is unknown or malformed.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A rule could not be resolved.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A `network.unix_sockets` key that names no socket.
    #[error(transparent)]
    UnixSocket(#[from] UnixSocketKeyError),
    /// `--sandbox-state-json` that cannot be used.
    #[error(transparent)]
    SandboxState(#[from] SandboxStateError),
    /// `--transparent-tcp` without the built-in proxy it reroutes through.
    #[error(
        "--transparent-tcp requires a managed network proxy: turn the profile's network on \
         (enabled = true) with [features] network_proxy = true, or set [managed_proxy]"
    )]
    TransparentTcpWithoutProxy,
}

/// Loads the configuration, chooses the profile and resolves it.
pub fn build_policy(args: &SandboxArgs, env: &Environment) -> Result<EffectivePolicy, PolicyError> {
    let state = match &args.sandbox_state_json {
        Some(json) => Some(parse_state(&StateRequest {
            json,
            readable_roots: &args.sandbox_state_readable_root,
            disable_network: args.sandbox_state_disable_network,
            process_cwd: &env.process_cwd,
        })?),
        None => None,
    };
    let cwd = match &state {
        Some(state) => normalize(&state.cwd),
        None => workspace_dir(args.cwd.as_deref(), &env.process_cwd)?,
    };
    let codex_home = match (&env.codex_home, &env.home) {
        (Some(dir), _) => {
            let bad = |reason: String| PolicyError::BadCodexHome {
                path: dir.clone(),
                reason,
            };
            match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => Some(dir.clone()),
                Ok(_) => return Err(bad("is not a directory".into())),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Err(bad("does not exist".into()));
                }
                Err(err) => return Err(bad(err.to_string())),
            }
        }
        (None, Some(home)) => Some(home.join(".codex")),
        // Codex runs on its built-in defaults then, and so does this.
        (None, None) => None,
    };
    let loaded = LoadedConfig::load(&ConfigRequest {
        codex_home,
        profile_file: args.config_profile.clone(),
        overrides: args.config_overrides.clone(),
        enable: args.enable.clone(),
        disable: args.disable.clone(),
        system_dir: env.system_dir.clone(),
        project_dir: Some(cwd.clone()),
        // A state is the sandbox itself: Codex applies no requirement to it.
        requirements_apply: state.is_none()
            && (args.permission_profile.is_none() || args.include_managed_config),
    })?;
    let state_landlock = state.as_ref().is_some_and(|state| state.legacy_landlock);
    let profile = match state {
        Some(state) => route_network(state.profile, &loaded)?,
        None => select_profile(&loaded, args.permission_profile.as_deref())?,
    };
    let context = ResolveContext {
        cwd,
        home: env.home.clone(),
        tmpdir: env.tmpdir.clone(),
    };
    let mut policy = resolve(&profile, &context)?;
    let mut socket_warnings = Vec::new();
    if let Some(sandbox) = policy.sandbox.as_mut() {
        sandbox.host_git = HostGitConfig::from_environment(&env.vars, env.home.as_deref());
        let entries = profile
            .sandbox
            .as_ref()
            .map_or(&[][..], |profile| &profile.unix_sockets[..]);
        (sandbox.unix_sockets, socket_warnings) =
            resolve_unix_sockets(entries, &env.vars, env.home.as_deref())?;
    }
    policy.warnings = loaded.warnings;
    policy.warnings.extend(profile.warnings);
    policy.warnings.extend(socket_warnings);
    if args.transparent_tcp {
        let proxied = policy.sandbox.as_ref().is_some_and(|sandbox| {
            sandbox.network == NetworkMode::Proxy && sandbox.domains.is_some()
        });
        if !proxied {
            return Err(PolicyError::TransparentTcpWithoutProxy);
        }
        policy.warnings.push(
            "--transparent-tcp: direct TCP connections stay blocked rather than rerouted through \
             the proxy's rules (stricter than Codex); tools reach the network through the proxy \
             variables"
                .into(),
        );
    }
    let env_policy = &loaded.config.shell_environment_policy;
    let vars = env.vars.iter().cloned();
    policy.environment = match &policy.sandbox {
        None => policy_environment(env_policy, vars),
        Some(sandbox) => sandboxed_environment(
            env_policy,
            vars,
            &sandbox.cwd,
            sandbox.network == NetworkMode::Restricted,
        ),
    };
    if let Some(sandbox) = &mut policy.sandbox {
        sandbox.inner_stage = loaded.config.feature(INNER_STAGE) == Some(true);
        sandbox.legacy_landlock =
            state_landlock || loaded.config.feature(USE_LEGACY_LANDLOCK) == Some(true);
        // A sandbox that writes nothing of the host's can leave nothing
        // behind for the guard to refuse: no guard, no inner stage to pay
        // for at every start.
        let writes_anything = sandbox.writable_roots().next().is_some();
        sandbox.guard_protected_names = sandbox.protect_metadata
            && writes_anything
            && loaded.config.feature(GUARD_PROTECTED_NAMES) != Some(false);
    }
    Ok(policy)
}

/// The absolute workspace directory: `-C` (relative to the process's
/// directory) or the process's directory. It must be an existing directory.
fn workspace_dir(requested: Option<&Path>, process_cwd: &Path) -> Result<PathBuf, PolicyError> {
    let Some(requested) = requested else {
        return Ok(process_cwd.to_path_buf());
    };
    let absolute = normalize(&process_cwd.join(requested));
    match std::fs::metadata(&absolute) {
        Ok(meta) if meta.is_dir() => Ok(absolute),
        Ok(_) => Err(PolicyError::BadCwd {
            path: requested.to_path_buf(),
            reason: "not a directory".into(),
        }),
        Err(err) => Err(PolicyError::BadCwd {
            path: requested.to_path_buf(),
            reason: err.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(home: &Path) -> Environment {
        Environment {
            process_cwd: home.to_path_buf(),
            home: Some(home.to_path_buf()),
            codex_home: None,
            tmpdir: None,
            vars: vec![
                ("PATH".into(), "/usr/bin".into()),
                ("MY_SECRET".into(), "s".into()),
            ],
            system_dir: None,
        }
    }

    #[test]
    fn the_environment_follows_the_policy_and_the_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let names = |args: &SandboxArgs| -> Vec<String> {
            build_policy(args, &env(dir.path()))
                .unwrap()
                .environment
                .vars()
                .iter()
                .map(|(name, _)| name.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(&SandboxArgs::default()),
            ["CODEX_SANDBOX_NETWORK_DISABLED", "PATH", "PWD"]
        );
        let unsandboxed = SandboxArgs {
            permission_profile: Some(":danger-full-access".into()),
            ..SandboxArgs::default()
        };
        assert_eq!(names(&unsandboxed), ["PATH"]);
        let keep_all = SandboxArgs {
            config_overrides: vec!["shell_environment_policy.ignore_default_excludes=true".into()],
            ..SandboxArgs::default()
        };
        assert!(names(&keep_all).contains(&"MY_SECRET".to_string()));
    }

    #[test]
    fn defaults_to_read_only_in_the_process_directory() {
        let dir = tempfile::tempdir().unwrap();
        let policy = build_policy(&SandboxArgs::default(), &env(dir.path())).unwrap();
        assert_eq!(policy.profile, ":read-only");
        let sandbox = policy.sandbox.unwrap();
        assert_eq!(sandbox.cwd, dir.path());
        assert_eq!(sandbox.access_for(dir.path()), crate::Access::Read);
    }

    #[test]
    fn codex_home_overrides_home() {
        let home = tempfile::tempdir().unwrap();
        let codex_home = tempfile::tempdir().unwrap();
        std::fs::write(
            codex_home.path().join("config.toml"),
            "[features]\nuse_legacy_landlock = true\n",
        )
        .unwrap();
        let mut environment = env(home.path());
        environment.codex_home = Some(codex_home.path().to_path_buf());
        let sandbox = build_policy(&SandboxArgs::default(), &environment)
            .unwrap()
            .sandbox
            .unwrap();
        assert!(
            sandbox.legacy_landlock,
            "read from CODEX_HOME's config.toml"
        );
    }

    #[test]
    fn pipeline_features_reach_the_policy_and_default_off() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = |enable: &[&str]| {
            let args = SandboxArgs {
                enable: enable.iter().map(ToString::to_string).collect(),
                ..SandboxArgs::default()
            };
            build_policy(&args, &env(dir.path()))
                .unwrap()
                .sandbox
                .unwrap()
        };
        let default = sandbox(&[]);
        assert!(!default.inner_stage && !default.legacy_landlock);
        let enabled = sandbox(&[INNER_STAGE, USE_LEGACY_LANDLOCK]);
        assert!(enabled.inner_stage && enabled.legacy_landlock);
    }

    #[test]
    fn a_retired_feature_is_accepted_with_one_warning() {
        let dir = tempfile::tempdir().unwrap();
        let args = SandboxArgs {
            enable: vec!["scan_with_ripgrep".into()],
            ..SandboxArgs::default()
        };
        let policy = build_policy(&args, &env(dir.path())).unwrap();
        assert_eq!(policy.warnings.len(), 1, "{:?}", policy.warnings);
        assert!(
            policy.warnings[0].starts_with(
                "features.scan_with_ripgrep (--enable scan_with_ripgrep) is no longer used"
            ),
            "{:?}",
            policy.warnings
        );
        let none = build_policy(&SandboxArgs::default(), &env(dir.path())).unwrap();
        assert!(none.warnings.is_empty());
    }

    #[test]
    fn the_name_guard_is_on_by_default_and_can_be_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let guarded = |disable: &[&str]| {
            let args = SandboxArgs {
                permission_profile: Some(":workspace".into()),
                disable: disable.iter().map(ToString::to_string).collect(),
                ..SandboxArgs::default()
            };
            build_policy(&args, &env(dir.path()))
                .unwrap()
                .sandbox
                .unwrap()
                .guard_protected_names
        };
        assert!(guarded(&[]));
        assert!(!guarded(&[GUARD_PROTECTED_NAMES]));
        // A profile that writes nothing has nothing to guard.
        let read_only = SandboxArgs {
            permission_profile: Some(":read-only".into()),
            ..SandboxArgs::default()
        };
        let policy = build_policy(&read_only, &env(dir.path())).unwrap();
        assert!(!policy.sandbox.unwrap().guard_protected_names);
    }

    #[test]
    fn cd_must_be_an_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        for (cd, reason) in [("missing", "No such file"), ("file", "not a directory")] {
            let args = SandboxArgs {
                cwd: Some(cd.into()),
                ..SandboxArgs::default()
            };
            let err = build_policy(&args, &env(dir.path()))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("-C {cd}:")) && err.contains(reason),
                "{err}"
            );
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let args = SandboxArgs {
            cwd: Some("sub/../sub".into()),
            ..SandboxArgs::default()
        };
        let policy = build_policy(&args, &env(dir.path())).unwrap();
        assert_eq!(policy.sandbox.unwrap().cwd, dir.path().join("sub"));
    }

    #[test]
    fn an_administrators_default_permissions_beats_p() {
        let dir = tempfile::tempdir().unwrap();
        let system = tempfile::tempdir().unwrap();
        std::fs::write(
            system.path().join("managed_config.toml"),
            "default_permissions = \":read-only\"\n",
        )
        .unwrap();
        let mut environment = env(dir.path());
        environment.system_dir = Some(system.path().to_path_buf());
        let args = SandboxArgs {
            permission_profile: Some(":danger-full-access".into()),
            ..SandboxArgs::default()
        };
        let policy = build_policy(&args, &environment).unwrap();
        assert_eq!(policy.profile, ":read-only");
        assert!(
            policy.chosen_by.contains("(managed)"),
            "{}",
            policy.chosen_by
        );
    }

    #[test]
    fn requirements_apply_without_p_or_with_include_managed_config() {
        let dir = tempfile::tempdir().unwrap();
        let system = tempfile::tempdir().unwrap();
        std::fs::write(system.path().join("requirements.toml"), "").unwrap();
        let mut environment = env(dir.path());
        environment.system_dir = Some(system.path().to_path_buf());
        let refused = |args: &SandboxArgs| build_policy(args, &environment).is_err();
        assert!(refused(&SandboxArgs::default()));
        let chosen = SandboxArgs {
            permission_profile: Some(":workspace".into()),
            ..SandboxArgs::default()
        };
        assert!(!refused(&chosen));
        assert!(refused(&SandboxArgs {
            include_managed_config: true,
            ..chosen
        }));
    }

    #[test]
    fn transparent_tcp_needs_the_built_in_proxy() {
        let dir = tempfile::tempdir().unwrap();
        let args = |overrides: &[&str]| SandboxArgs {
            transparent_tcp: true,
            permission_profile: Some("p".into()),
            config_overrides: overrides.iter().map(ToString::to_string).collect(),
            ..SandboxArgs::default()
        };
        let enabled = ["permissions.p.network.enabled=true"];
        let err = build_policy(&args(&enabled), &env(dir.path())).unwrap_err();
        assert!(
            matches!(err, PolicyError::TransparentTcpWithoutProxy),
            "{err}"
        );
        let proxied = [
            "permissions.p.network.enabled=true",
            "features.network_proxy=true",
        ];
        let policy = build_policy(&args(&proxied), &env(dir.path())).unwrap();
        assert!(
            policy
                .warnings
                .iter()
                .any(|warning| warning.starts_with("--transparent-tcp")),
            "{:?}",
            policy.warnings
        );
    }

    #[test]
    fn no_home_at_all_runs_on_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let environment = Environment {
            process_cwd: dir.path().to_path_buf(),
            ..Environment::default()
        };
        let policy = build_policy(&SandboxArgs::default(), &environment).unwrap();
        assert_eq!(policy.profile, ":read-only");
    }

    #[test]
    fn a_codex_home_that_is_no_directory_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "").unwrap();
        for (name, says) in [
            ("missing", "does not exist"),
            ("file", "is not a directory"),
        ] {
            let mut environment = env(dir.path());
            environment.codex_home = Some(dir.path().join(name));
            let err = build_policy(&SandboxArgs::default(), &environment)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!(
                    "CODEX_HOME={}: {says}",
                    dir.path().join(name).display()
                )),
                "{err}"
            );
        }
    }
}
