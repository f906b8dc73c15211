//! Loading `config.toml`: files, `-p` profile files and `-c` overrides,
//! layered into one validated [`ConfigToml`].
//!
//! The layers, lowest first, as Codex 0.171 stacks them:
//! `/etc/codex/config.toml`; `$CODEX_HOME/config.toml`;
//! `$CODEX_HOME/NAME.config.toml` (`-p NAME`); trusted projects'
//! `.codex/config.toml` ([`project`]); `-c`, `--enable`, `--disable`;
//! `/etc/codex/managed_config.toml`, which wins over everything, `-P`
//! included. `/etc/codex/requirements.toml` holds constraints this build
//! does not enforce: where Codex would read it, loading is refused.
//!
//! Each file is validated on its own first, so a schema error points at the
//! file, line and column that caused it; the layers are then deep-merged
//! (later layers win key by key) and validated once more as a whole.

pub mod keys;
mod overrides;
pub mod project;
mod schema;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use overrides::ConfigOverride;
pub use schema::{
    ConfigToml, DomainAccessToml, EnvironmentInherit, FeatureToml, GUARD_PROTECTED_NAMES,
    INNER_STAGE, KNOWN_FEATURES, ManagedProxyToml, NETWORK_PROXY, NetworkToml,
    PermissionProfileToml, ProxyModeToml, RETIRED_FEATURES, SandboxMode,
    ShellEnvironmentPolicyToml, USE_LEGACY_LANDLOCK, WorkspaceWriteToml,
};

/// Why the configuration could not be loaded. Every message names the file,
/// key or argument at fault and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file exists but could not be read.
    #[error("cannot read {}: {source}; fix its permissions or point CODEX_HOME elsewhere", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A `-p NAME` profile file does not exist.
    #[error("-p {name}: no profile file {}; create it or drop -p", path.display())]
    MissingProfileFile {
        /// The name given to `-p`.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `-p NAME` with neither `CODEX_HOME` nor `HOME` to find it in.
    #[error(
        "-p {name}: neither CODEX_HOME nor HOME is set, so there is no {name}.config.toml to read; set one of them"
    )]
    ProfileWithoutHome {
        /// The name given to `-p`.
        name: String,
    },
    /// A `-p NAME` that cannot name a file.
    #[error("-p {name}: pass a plain name such as `work` (ASCII letters, digits, `_` and `-`)")]
    BadProfileName {
        /// The name given to `-p`.
        name: String,
    },
    /// A legacy profile selector Codex 0.171 refuses.
    #[error("{}: {message}", path.display())]
    LegacyProfile {
        /// The file that holds it.
        path: PathBuf,
        /// What to do instead.
        message: String,
    },
    /// `--enable` or `--disable` names a feature neither this sandbox nor
    /// Codex knows (Codex refuses it too).
    #[error("{flag}: unknown feature flag `{name}`")]
    UnknownFeatureFlag {
        /// `--enable` or `--disable`.
        flag: &'static str,
        /// The name given.
        name: String,
    },
    /// `requirements.toml` exists where Codex would enforce it.
    #[error(
        "{}: managed requirements are not enforced by this build, so it refuses rather than run \
         without them (with -P and without --include-managed-config, Codex leaves them out too)",
        path.display()
    )]
    RequirementsNotEnforced {
        /// The file.
        path: PathBuf,
    },
    /// Malformed TOML or a key the schema does not accept.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column of the offending text.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A `-c` argument that is malformed or sets an invalid value.
    #[error("-c {arg}: {message}")]
    Override {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        message: String,
    },
    /// A well-formed key with a value or combination that makes no sense.
    #[error("{key} ({origin}): {message}")]
    Invalid {
        /// The dotted key at fault.
        key: String,
        /// Which layer set it.
        origin: ConfigSource,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// Where a configuration value came from; shown by `--explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A TOML file (`config.toml`, a `-p` profile file, the system's or a
    /// trusted project's).
    File(PathBuf),
    /// `managed_config.toml`: an administrator's, above every other layer.
    Managed(PathBuf),
    /// A `-c key=value` argument.
    Override(String),
    /// `--enable NAME` or `--disable NAME`.
    FeatureFlag(String),
    /// Nothing configured it: a built-in default.
    Default,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::Managed(path) => write!(f, "{} (managed)", path.display()),
            ConfigSource::Override(raw) => write!(f, "-c {raw}"),
            ConfigSource::FeatureFlag(flag) => f.write_str(flag),
            ConfigSource::Default => f.write_str("built-in default"),
        }
    }
}

/// What to load: where `CODEX_HOME` is and which layers the command line adds.
#[derive(Debug, Default, Clone)]
pub struct ConfigRequest {
    /// `$CODEX_HOME` (default `~/.codex`); `None` when neither it nor
    /// `HOME` is set: the built-in defaults, as in Codex.
    pub codex_home: Option<PathBuf>,
    /// `-p NAME`: layer `$CODEX_HOME/NAME.config.toml` over the base file.
    pub profile_file: Option<String>,
    /// `-c key=value` arguments, in order.
    pub overrides: Vec<String>,
    /// `--enable NAME` arguments.
    pub enable: Vec<String>,
    /// `--disable NAME` arguments.
    pub disable: Vec<String>,
    /// Where the system's configuration lives ([`SYSTEM_CONFIG_DIR`] for a
    /// real run); `None` reads no system file (unit tests).
    pub system_dir: Option<PathBuf>,
    /// The command's working directory, for trusted projects'
    /// `.codex/config.toml`; `None` reads none.
    pub project_dir: Option<PathBuf>,
    /// Whether `requirements.toml` applies (Codex leaves it out with `-P`
    /// unless `--include-managed-config`).
    pub requirements_apply: bool,
}

/// Where Codex keeps the system-wide configuration on Unix.
pub const SYSTEM_CONFIG_DIR: &str = "/etc/codex";

/// One layer of configuration and where it came from.
#[derive(Debug, Clone)]
struct Layer {
    source: ConfigSource,
    /// The keys this tool reads ([`keys::OURS`]); the others are set aside.
    table: toml::Table,
    /// Every key, for the few of Codex's that decide which layers load
    /// (project trust) or refuse a configuration (legacy `profile`).
    raw: toml::Table,
    /// The unknown keys set aside, one warning each.
    warnings: Vec<String>,
}

impl Layer {
    /// A layer from `source` holding `table`, with every key that is not
    /// ours set aside: Codex's silently, unknown ones with a warning.
    fn sorted(source: ConfigSource, table: toml::Table) -> Self {
        let raw = table.clone();
        let mut table = table;
        let warnings = keys::set_aside(&mut table)
            .iter()
            .filter_map(|key| key.warning(&source.to_string()))
            .collect();
        Layer {
            source,
            table,
            raw,
            warnings,
        }
    }
}

/// The validated configuration plus the layers it was built from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The merged, validated configuration.
    pub config: ConfigToml,
    /// The layers merged, untyped: what `config` was read from.
    merged: toml::Table,
    layers: Vec<Layer>,
    /// What the configuration sets that is accepted but has no effect,
    /// one line each, to print before the command runs.
    pub warnings: Vec<String>,
    /// The `CODEX_HOME` the configuration was looked for in.
    codex_home: Option<PathBuf>,
}

impl LoadedConfig {
    /// Loads and validates every layer the request names.
    pub fn load(request: &ConfigRequest) -> Result<Self, ConfigError> {
        let mut layers = Vec::new();
        let file = |path: PathBuf| ConfigSource::File(path);
        if let Some(system) = &request.system_dir {
            layers.extend(read_file_layer(&system.join("config.toml"), file)?);
        }
        let base = request
            .codex_home
            .as_ref()
            .map(|home| home.join("config.toml"));
        if let Some(base) = &base {
            layers.extend(read_file_layer(base, file)?);
        }
        if let Some(name) = &request.profile_file {
            let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if name.is_empty() || !name.chars().all(plain) {
                return Err(ConfigError::BadProfileName { name: name.clone() });
            }
            let Some(home) = &request.codex_home else {
                return Err(ConfigError::ProfileWithoutHome { name: name.clone() });
            };
            let path = home.join(format!("{name}.config.toml"));
            match read_file_layer(&path, file)? {
                Some(layer) => layers.push(layer),
                None => {
                    return Err(ConfigError::MissingProfileFile {
                        name: name.clone(),
                        path,
                    });
                }
            }
        }
        if let Some(dir) = &request.project_dir {
            let mut user_level = toml::Table::new();
            for layer in &layers {
                merge_into(&mut user_level, &layer.raw);
            }
            let trust = project::ProjectTrust::from_table(&user_level);
            let skip = base.clone().unwrap_or_default();
            for path in project::trusted_project_configs(dir, &trust, &skip) {
                layers.extend(read_file_layer(&path, file)?);
            }
        }
        for raw in &request.overrides {
            let parsed = ConfigOverride::parse(raw)?;
            let layer = Layer::sorted(ConfigSource::Override(raw.clone()), parsed.to_table());
            validate_table(&layer.table).map_err(|err| ConfigError::Override {
                arg: raw.clone(),
                message: err.message().to_string(),
            })?;
            layers.push(layer);
        }
        for (flags, value, spelling) in [
            (&request.enable, true, "--enable"),
            (&request.disable, false, "--disable"),
        ] {
            for name in flags {
                if keys::kind_of(&["features", name]) == keys::KeyKind::Unknown {
                    return Err(ConfigError::UnknownFeatureFlag {
                        flag: spelling,
                        name: name.clone(),
                    });
                }
                let mut features = toml::Table::new();
                features.insert(name.clone(), toml::Value::Boolean(value));
                layers.push(Layer::sorted(
                    ConfigSource::FeatureFlag(format!("{spelling} {name}")),
                    toml::Table::from_iter([("features".into(), features.into())]),
                ));
            }
        }
        if let Some(system) = &request.system_dir {
            layers.extend(read_file_layer(
                &system.join("managed_config.toml"),
                ConfigSource::Managed,
            )?);
            let requirements = system.join("requirements.toml");
            if request.requirements_apply && requirements.exists() {
                return Err(ConfigError::RequirementsNotEnforced { path: requirements });
            }
        }
        refuse_legacy_profiles(&layers, request.profile_file.as_deref())?;
        let mut loaded = Self::from_layers(layers)?;
        loaded.codex_home = request.codex_home.clone();
        Ok(loaded)
    }

    /// The configuration of one file at `path` holding `text`, validated as
    /// [`LoadedConfig::load`] validates a file it reads (for tools and
    /// fuzzing, which have the text already).
    pub fn from_file_text(path: &Path, text: &str) -> Result<Self, ConfigError> {
        Self::from_layers(vec![parse_layer(
            path,
            text,
            ConfigSource::File(path.to_path_buf()),
        )?])
    }

    fn from_layers(layers: Vec<Layer>) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::new();
        for layer in &layers {
            merge_into(&mut merged, &layer.table);
        }
        let config = validate_table(&merged).map_err(|err| ConfigError::Invalid {
            key: "config".into(),
            origin: layers
                .last()
                .map_or(ConfigSource::Default, |layer| layer.source.clone()),
            message: err.message().to_string(),
        })?;
        let mut loaded = Self {
            config,
            merged,
            layers,
            warnings: Vec::new(),
            codex_home: None,
        };
        let mut warnings: Vec<String> = loaded
            .layers
            .iter()
            .flat_map(|layer| layer.warnings.iter().cloned())
            .collect();
        warnings.extend(loaded.retired_features());
        loaded.warnings = warnings;
        Ok(loaded)
    }

    /// The directories a command must not change for the next run to be
    /// what this one was: `CODEX_HOME` and every directory a configuration
    /// file was read from.
    pub fn configuration_directories(&self) -> Vec<PathBuf> {
        let mut dirs = self.file_directories();
        if let Some(home) = &self.codex_home
            && !dirs.contains(home)
        {
            dirs.push(home.clone());
        }
        dirs
    }

    /// The directories of the configuration files that were read.
    pub fn file_directories(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .layers
            .iter()
            .filter_map(|layer| match &layer.source {
                ConfigSource::File(path) | ConfigSource::Managed(path) => {
                    path.parent().map(Path::to_path_buf)
                }
                _ => None,
            })
            .filter(|dir| !dir.as_os_str().is_empty())
            .collect();
        dirs.dedup();
        dirs
    }

    /// The merged value at `path` (outermost key first), untyped.
    pub fn value_at(&self, path: &[&str]) -> Option<&toml::Value> {
        lookup(&self.merged, path)
    }

    /// The layer that last set the value at `path` (outermost key first).
    pub fn source_of(&self, path: &[&str]) -> ConfigSource {
        self.layers
            .iter()
            .rev()
            .find(|layer| lookup(&layer.table, path).is_some())
            .map_or(ConfigSource::Default, |layer| layer.source.clone())
    }

    /// One warning per retired feature that is set (an unknown one was
    /// set aside with its own warning).
    fn retired_features(&self) -> Vec<String> {
        self.config
            .features
            .keys()
            .filter_map(|name| {
                let (_, fate) = RETIRED_FEATURES.iter().find(|(old, _)| old == name)?;
                Some(format!(
                    "features.{name} ({}) is no longer used: {fate}",
                    self.source_of(&["features", name])
                ))
            })
            .collect()
    }
}

/// Reads one TOML file into a layer. A missing file is `Ok(None)`; any other
/// read error, malformed TOML or unknown key is an error with its location.
fn read_file_layer(
    path: &Path,
    source: impl Fn(PathBuf) -> ConfigSource,
) -> Result<Option<Layer>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_layer(path, &text, source(path.to_path_buf())).map(Some),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The layer the file at `path` makes with contents `text`: malformed TOML,
/// or a value this tool cannot read in a key it reads, is an error with its
/// location.
fn parse_layer(path: &Path, text: &str, source: ConfigSource) -> Result<Layer, ConfigError> {
    let parse_error = |err: toml::de::Error| {
        let offset = err.span().map_or(0, |span| span.start);
        let (line, column) = line_and_column(text, offset);
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: err.message().trim().to_string(),
        }
    };
    let table: toml::Table = toml::from_str(text).map_err(parse_error)?;
    let layer = Layer::sorted(source, table);
    // Validate what is read with spans, so errors point into the file.
    let mut spanned = toml::de::DeTable::parse(text).map_err(parse_error)?;
    keep_only(spanned.get_mut(), &layer.table);
    ConfigToml::deserialize(toml::de::Deserializer::from(spanned)).map_err(parse_error)?;
    Ok(layer)
}

/// Removes from `spanned` every key that `kept` (the same document with
/// keys set aside) no longer has.
fn keep_only(spanned: &mut toml::de::DeTable<'_>, kept: &toml::Table) {
    let keys: Vec<String> = spanned
        .keys()
        .map(|key| key.get_ref().to_string())
        .collect();
    for key in keys {
        match kept.get(&key) {
            None => {
                spanned.remove(key.as_str());
            }
            Some(toml::Value::Table(kept_inner)) => {
                if let Some(value) = spanned.get_mut(key.as_str())
                    && let toml::de::DeValue::Table(inner) = value.get_mut()
                {
                    keep_only(inner, kept_inner);
                }
            }
            Some(_) => {}
        }
    }
}

/// Codex 0.171 refuses the legacy profile selector `profile = "NAME"` in
/// any layer, and `-p NAME` while a file still has `[profiles.NAME]`.
fn refuse_legacy_profiles(layers: &[Layer], chosen: Option<&str>) -> Result<(), ConfigError> {
    for layer in layers {
        let path = match &layer.source {
            ConfigSource::File(path) | ConfigSource::Managed(path) => path.clone(),
            other => PathBuf::from(other.to_string()),
        };
        if let Some(value) = layer.raw.get("profile") {
            return Err(ConfigError::LegacyProfile {
                path,
                message: format!(
                    "legacy `profile = {value}` is no longer supported (as in Codex); use --profile NAME \
                     with $CODEX_HOME/NAME.config.toml instead"
                ),
            });
        }
        if let Some(name) = chosen
            && layer
                .raw
                .get("profiles")
                .and_then(toml::Value::as_table)
                .is_some_and(|profiles| profiles.contains_key(name))
        {
            return Err(ConfigError::LegacyProfile {
                path,
                message: format!(
                    "--profile {name} cannot be used while this file has a legacy [profiles.{name}] \
                     table (as in Codex); move its settings into {name}.config.toml and remove it"
                ),
            });
        }
    }
    Ok(())
}

fn validate_table(table: &toml::Table) -> Result<ConfigToml, toml::de::Error> {
    ConfigToml::deserialize(toml::Value::Table(table.clone()))
}

/// Deep merge: tables merge key by key, anything else is replaced.
fn merge_into(base: &mut toml::Table, layer: &toml::Table) {
    for (key, value) in layer {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(incoming)) => {
                merge_into(existing, incoming);
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

fn lookup<'a>(table: &'a toml::Table, path: &[&str]) -> Option<&'a toml::Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get(*first)?;
    match (rest.is_empty(), value) {
        (true, value) => Some(value),
        (false, toml::Value::Table(inner)) => lookup(inner, rest),
        (false, _) => None,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
impl LoadedConfig {
    /// A config made of one in-memory `config.toml`, for unit tests.
    pub(crate) fn from_test_toml(text: &str) -> Self {
        Self::from_test_layers(text, &[])
    }

    /// Like [`LoadedConfig::from_test_toml`], with `-c` arguments layered
    /// over the file.
    pub(crate) fn from_test_layers(text: &str, overrides: &[&str]) -> Self {
        let table: toml::Table = toml::from_str(text).expect("test TOML parses");
        let mut layers = vec![Layer::sorted(
            ConfigSource::File(PathBuf::from("config.toml")),
            table,
        )];
        for raw in overrides {
            let parsed = ConfigOverride::parse(raw).expect("test override parses");
            layers.push(Layer::sorted(
                ConfigSource::Override((*raw).to_owned()),
                parsed.to_table(),
            ));
        }
        Self::from_layers(layers).expect("test TOML is valid")
    }
}
