//! `extends`: a permission profile built on another, merged as OpenAI
//! Codex merges them. The child's keys win; tables merge key by key (a
//! filesystem key's nested table, `workspace_roots`, `network` and its
//! tables); any other value is replaced whole. `description` and
//! `extends` belong to the profile that writes them and are never
//! inherited. A profile may extend another `[permissions]` profile,
//! `:read-only` or `:workspace`; an unknown parent, `:danger-full-access`
//! (no rules to build on) and a chain that loops are errors.
//!
//! Every value of the merged profile remembers which profile declared it,
//! so that `--explain` and error messages name the key where it is
//! written, in the parent if that is where it comes from.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::{ConfigSource, LoadedConfig, PermissionProfileToml};

use super::{RuleOrigin, built_in, dotted};

/// Who declared a value of a merged profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declarer {
    /// `[permissions.NAME]` of the configuration, set in `source`.
    Config {
        /// The profile's name.
        profile: String,
        /// The layer that set the value.
        source: ConfigSource,
    },
    /// A built-in profile named by `extends`, or chosen itself.
    BuiltIn(&'static str),
}

/// Who declared each value of a merged profile table.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Declarations {
    Value(Declarer),
    Table(BTreeMap<String, Declarations>),
}

/// A profile with everything it inherits merged in.
#[derive(Debug, Clone)]
pub struct MergedProfile {
    /// The merged profile, typed.
    pub toml: PermissionProfileToml,
    /// The profiles merged: the chosen one first, then its ancestors.
    pub lineage: Vec<String>,
    declarations: BTreeMap<String, Declarations>,
}

/// A key path and what is wrong there.
pub type KeyError = (Vec<String>, String);

impl MergedProfile {
    /// `[permissions.NAME]` with the profiles it extends merged in. The
    /// profile must exist; errors name the `extends` key at fault.
    pub fn of_config(loaded: &LoadedConfig, name: &str) -> Result<Self, KeyError> {
        let mut lineage: Vec<String> = Vec::new();
        let mut layers: Vec<(toml::Table, Declarer)> = Vec::new();
        let mut next = name.to_string();
        loop {
            if let Some(start) = lineage.iter().position(|seen| *seen == next) {
                let mut cycle = lineage[start..].to_vec();
                cycle.push(next);
                let last = lineage.last().map_or(name, String::as_str);
                return Err((
                    extends_key(last),
                    format!(
                        "profiles extend each other in a cycle: {}",
                        cycle.join(" -> ")
                    ),
                ));
            }
            let (table, by) = match config_table(loaded, &next) {
                Some(table) => (
                    table,
                    Declarer::Config {
                        profile: next.clone(),
                        source: ConfigSource::Default,
                    },
                ),
                None => match built_in::table(&next) {
                    Some((built_in, table)) => (table, Declarer::BuiltIn(built_in)),
                    None => {
                        let child = lineage.last().map_or(name, String::as_str);
                        let message = if next.starts_with(':') {
                            format!(
                                "cannot extend the built-in profile `{next}`; a profile can extend :read-only, :workspace or a profile of [permissions]"
                            )
                        } else {
                            format!("extends `{next}`, which is not a profile of [permissions]")
                        };
                        return Err((extends_key(child), message));
                    }
                },
            };
            let parent = table
                .get("extends")
                .and_then(toml::Value::as_str)
                .map(str::to_string);
            lineage.push(next);
            layers.push((table, by));
            match parent {
                Some(parent) => next = parent,
                None => break,
            }
        }
        Self::merge(Some(loaded), layers, lineage)
    }

    /// The built-in profile `name`, when it has a table of rules.
    pub fn of_built_in(name: &str) -> Option<Result<Self, KeyError>> {
        let (name, table) = built_in::table(name)?;
        let by = Declarer::BuiltIn(name);
        Some(Self::merge(None, vec![(table, by)], vec![name.to_string()]))
    }

    /// Merges `layers` (the chosen profile first) from the farthest
    /// ancestor down.
    fn merge(
        loaded: Option<&LoadedConfig>,
        layers: Vec<(toml::Table, Declarer)>,
        lineage: Vec<String>,
    ) -> Result<Self, KeyError> {
        let mut merged = toml::Table::new();
        let mut declarations = BTreeMap::new();
        for (table, by) in layers.into_iter().rev() {
            merged.remove("description");
            merged.remove("extends");
            declarations.remove("description");
            declarations.remove("extends");
            overlay(
                loaded,
                &mut merged,
                &mut declarations,
                &table,
                &by,
                &mut Vec::new(),
            );
        }
        let toml =
            PermissionProfileToml::deserialize(toml::Value::Table(merged)).map_err(|err| {
                (
                    vec!["permissions".to_string(), lineage[0].clone()],
                    format!(
                        "the profile, merged with the profiles it extends, is not valid: {}",
                        err.message()
                    ),
                )
            })?;
        Ok(MergedProfile {
            toml,
            lineage,
            declarations,
        })
    }

    /// Who declared the value at `path` (below the profile, for example
    /// `["filesystem", ":root"]`); for a merged table, who declared its
    /// first value.
    pub fn declarer_of(&self, path: &[&str]) -> Declarer {
        let mut level = &self.declarations;
        let mut found = None;
        for segment in path {
            match level.get(*segment) {
                Some(Declarations::Value(by)) => return by.clone(),
                Some(Declarations::Table(inner)) => {
                    found = first_declarer(inner);
                    level = inner;
                }
                None => break,
            }
        }
        found.unwrap_or_else(|| self.chosen())
    }

    /// The whole key path of the value at `path`, in the profile that
    /// declared it (`permissions.base.filesystem.":root"`).
    pub fn key_path(&self, path: &[&str]) -> Vec<String> {
        let profile = match self.declarer_of(path) {
            Declarer::Config { profile, .. } => profile,
            Declarer::BuiltIn(name) => name.to_string(),
        };
        ["permissions", profile.as_str()]
            .iter()
            .chain(path)
            .map(|segment| segment.to_string())
            .collect()
    }

    /// Where a rule made from the value at `path` comes from.
    pub fn origin_of(&self, path: &[&str]) -> RuleOrigin {
        match self.declarer_of(path) {
            Declarer::BuiltIn(name) => RuleOrigin::BuiltIn(name),
            Declarer::Config { source, .. } => {
                let key = self.key_path(path);
                let key: Vec<&str> = key.iter().map(String::as_str).collect();
                RuleOrigin::Config {
                    key: dotted(&key),
                    source,
                }
            }
        }
    }

    fn chosen(&self) -> Declarer {
        match built_in::table(&self.lineage[0]) {
            Some((name, _)) => Declarer::BuiltIn(name),
            None => Declarer::Config {
                profile: self.lineage[0].clone(),
                source: ConfigSource::Default,
            },
        }
    }
}

fn config_table(loaded: &LoadedConfig, name: &str) -> Option<toml::Table> {
    match loaded.value_at(&["permissions", name])? {
        toml::Value::Table(table) => Some(table.clone()),
        _ => None,
    }
}

fn extends_key(profile: &str) -> Vec<String> {
    vec!["permissions".into(), profile.into(), "extends".into()]
}

/// `top` laid over `base`: tables merge key by key, any other value
/// replaces what was there. `path` is the key path below the profile.
fn overlay(
    loaded: Option<&LoadedConfig>,
    base: &mut toml::Table,
    declarations: &mut BTreeMap<String, Declarations>,
    top: &toml::Table,
    by: &Declarer,
    path: &mut Vec<String>,
) {
    for (key, value) in top {
        path.push(key.clone());
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(incoming)) => {
                let slot = declarations
                    .entry(key.clone())
                    .or_insert_with(|| Declarations::Table(BTreeMap::new()));
                if !matches!(slot, Declarations::Table(_)) {
                    *slot = Declarations::Table(BTreeMap::new());
                }
                let Declarations::Table(inner) = slot else {
                    unreachable!("made a table above")
                };
                overlay(loaded, existing, inner, incoming, by, path);
            }
            _ => {
                base.insert(key.clone(), value.clone());
                declarations.insert(key.clone(), declaration_of(value, by, loaded, path));
            }
        }
        path.pop();
    }
}

/// Who declared `value` (at `path`) and, for a table, each value in it.
fn declaration_of(
    value: &toml::Value,
    by: &Declarer,
    loaded: Option<&LoadedConfig>,
    path: &mut Vec<String>,
) -> Declarations {
    match value {
        toml::Value::Table(table) => Declarations::Table(declarations_of(table, by, loaded, path)),
        _ => Declarations::Value(with_source(by, loaded, path)),
    }
}

fn declarations_of(
    table: &toml::Table,
    by: &Declarer,
    loaded: Option<&LoadedConfig>,
    path: &mut Vec<String>,
) -> BTreeMap<String, Declarations> {
    table
        .iter()
        .map(|(key, value)| {
            path.push(key.clone());
            let declaration = declaration_of(value, by, loaded, path);
            path.pop();
            (key.clone(), declaration)
        })
        .collect()
}

/// `by`, with the layer that set the value at `path` when it is a
/// profile of the configuration.
fn with_source(by: &Declarer, loaded: Option<&LoadedConfig>, path: &[String]) -> Declarer {
    match (by, loaded) {
        (Declarer::Config { profile, .. }, Some(loaded)) => {
            let full: Vec<&str> = ["permissions", profile.as_str()]
                .into_iter()
                .chain(path.iter().map(String::as_str))
                .collect();
            Declarer::Config {
                profile: profile.clone(),
                source: loaded.source_of(&full),
            }
        }
        _ => by.clone(),
    }
}

fn first_declarer(table: &BTreeMap<String, Declarations>) -> Option<Declarer> {
    table.values().find_map(|declaration| match declaration {
        Declarations::Value(by) => Some(by.clone()),
        Declarations::Table(inner) => first_declarer(inner),
    })
}
