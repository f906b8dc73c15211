//! The built-in profiles `:read-only` and `:workspace`, written as the
//! profile tables a configuration would hold, so that choosing one, and a
//! user profile that `extends` one, go through the same parser and mean
//! the same thing (Codex defines the two parents it lets profiles extend
//! with exactly these keys):
//!
//! ```toml
//! [permissions.":read-only".filesystem]
//! ":root" = "read"
//!
//! [permissions.":workspace".filesystem]
//! ":root" = "read"
//! ":tmpdir" = "write"
//! ":slash_tmp" = "write"
//! ":workspace_roots" = { "." = "write" }
//! ```

use std::path::{Path, PathBuf};

use crate::config::LoadedConfig;
use crate::glob::is_glob;

use super::{
    FsTarget, NetworkMode, READ_ONLY, RuleOrigin, SandboxProfile, WORKSPACE, WorkspaceRoot,
};

/// The profile table of the built-in `name`, for those that have one
/// (`:danger-full-access` has no rules to hold), with its canonical name.
pub fn table(name: &str) -> Option<(&'static str, toml::Table)> {
    let access = |text: &str| toml::Value::String(text.to_string());
    let mut filesystem = toml::Table::new();
    filesystem.insert(":root".into(), access("read"));
    let name = match name {
        READ_ONLY => READ_ONLY,
        WORKSPACE => {
            filesystem.insert(":tmpdir".into(), access("write"));
            filesystem.insert(":slash_tmp".into(), access("write"));
            let mut roots = toml::Table::new();
            roots.insert(".".into(), access("write"));
            filesystem.insert(":workspace_roots".into(), toml::Value::Table(roots));
            WORKSPACE
        }
        _ => return None,
    };
    let mut table = toml::Table::new();
    table.insert("filesystem".into(), toml::Value::Table(filesystem));
    Some((name, table))
}

/// The legacy `workspace-write` mode (`-c sandbox_mode=workspace-write`):
/// `workspace`, the built-in `:workspace`, tuned by
/// `[sandbox_workspace_write]`. A writable root must be an absolute plain
/// path; the error says which is not.
pub fn tune_legacy_workspace(
    mut workspace: SandboxProfile,
    loaded: &LoadedConfig,
) -> Result<SandboxProfile, String> {
    let settings = &loaded.config.sandbox_workspace_write;
    workspace.filesystem.retain(|rule| match rule.target {
        FsTarget::Tmpdir => !settings.exclude_tmpdir_env_var,
        FsTarget::SlashTmp => !settings.exclude_slash_tmp,
        _ => true,
    });
    if settings.network_access {
        workspace.network = NetworkMode::Enabled;
    }
    workspace.extra_workspace_roots = settings
        .writable_roots
        .iter()
        .map(|root| {
            writable_root(root).map(|path| WorkspaceRoot {
                path,
                origin: RuleOrigin::Config {
                    key: "sandbox_workspace_write.writable_roots".into(),
                    source: loaded.source_of(&["sandbox_workspace_write", "writable_roots"]),
                },
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(workspace)
}

fn writable_root(root: &Path) -> Result<PathBuf, String> {
    if !root.is_absolute() {
        return Err(format!(
            "`{}` is relative; writable roots must be absolute paths",
            root.display()
        ));
    }
    if is_glob(&root.to_string_lossy()) {
        return Err(format!(
            "`{}` is a glob; writable roots must be plain paths (globs can only deny reading)",
            root.display()
        ));
    }
    Ok(root.to_path_buf())
}
