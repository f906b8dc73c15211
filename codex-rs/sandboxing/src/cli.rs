//! The command-line options shared by `codex sandbox` and the standalone
//! `codex-linux-sandbox` helper, spelled as the Codex CLI spells them.

use std::ffi::OsString;
use std::path::PathBuf;

/// Text shown after the options in `--help`: the profiles, an example
/// profile, examples, then the exit statuses ([`crate::exit_status`]).
pub fn after_help() -> String {
    format!(
        "{BUILT_IN_PROFILES}\n\nInside every writable root, {} (and the git dir a .git\nfile points to) stay read-only, and none of them can be created.\n\n{OWN_PROFILE_AND_EXAMPLES}\n\n{}",
        crate::protected::names_in_words(),
        crate::exit_status::help_paragraph()
    )
}

/// The built-in profiles, for [`after_help`].
const BUILT_IN_PROFILES: &str = "\
Built-in profiles (-P NAME, or default_permissions in config.toml):
  :read-only           read everything, write nothing, no network  [default]
  :workspace           read everything; write the workspace (-C, default the current
                       directory), $TMPDIR and /tmp; no network
  :danger-full-access  no sandbox at all
The legacy -c sandbox_mode=read-only|workspace-write|danger-full-access also chooses one
(written in config.toml it is ignored, as in Codex).";

/// A profile of one's own and examples, for [`after_help`].
const OWN_PROFILE_AND_EXAMPLES: &str = "\
A profile of your own, in $CODEX_HOME/config.toml (default ~/.codex/config.toml):

  default_permissions = \"dev\"

  [permissions.dev]
  extends = \":workspace\"            # or :read-only, or another profile

  [permissions.dev.filesystem]
  \"/code/secrets\" = \"deny\"         # read, write or deny; the deepest rule wins
  \"/code/secrets/scratch\" = \"write\"

  [permissions.dev.network]
  enabled = true                     # the host's network; restricted without it

Examples:
  codex sandbox -- git status
  codex sandbox -P :workspace -- cargo test
  codex sandbox -c sandbox_mode=workspace-write -c 'sandbox_workspace_write.writable_roots=[\"/data\"]' -- make
  codex sandbox --explain -P dev -- npm test";

/// Options of a sandboxed run.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SandboxArgs {
    /// Permission profile to use (a built-in like :read-only, or a
    /// [permissions.NAME] profile from config.toml).
    #[arg(
        short = 'P',
        long = "permission-profile",
        visible_alias = "permissions-profile",
        value_name = "NAME"
    )]
    pub permission_profile: Option<String>,

    /// Override a config.toml key (repeatable). The value is parsed as TOML,
    /// else taken as a string: -c sandbox_mode=read-only.
    #[arg(short = 'c', long = "config", value_name = "key=value")]
    pub config_overrides: Vec<String>,

    /// Enable a feature flag (same as -c features.FEATURE=true).
    #[arg(long = "enable", value_name = "FEATURE")]
    pub enable: Vec<String>,

    /// Disable a feature flag (same as -c features.FEATURE=false).
    #[arg(long = "disable", value_name = "FEATURE")]
    pub disable: Vec<String>,

    /// Layer $CODEX_HOME/NAME.config.toml over config.toml.
    #[arg(short = 'p', long = "profile", value_name = "NAME")]
    pub config_profile: Option<String>,

    /// With -P: apply /etc/codex/requirements.toml too, as Codex does
    /// without -P (this build refuses to run where requirements apply).
    #[arg(long, requires = "permission_profile")]
    pub include_managed_config: bool,

    /// Workspace root and working directory (default: the current
    /// directory); needs -P, as in Codex.
    #[arg(short = 'C', long = "cd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// Codex's: run under the sandbox this `codex/sandbox-state` JSON
    /// describes (permissionProfile, sandboxCwd) instead of a profile.
    #[arg(
        long,
        value_name = "JSON",
        conflicts_with_all = ["permission_profile", "cwd", "include_managed_config"]
    )]
    pub sandbox_state_json: Option<String>,

    /// With --sandbox-state-json: one more readable directory (repeatable).
    #[arg(long, value_name = "DIR", requires = "sandbox_state_json")]
    pub sandbox_state_readable_root: Vec<PathBuf>,

    /// With --sandbox-state-json: no network, whatever the state says.
    #[arg(long, requires = "sandbox_state_json")]
    pub sandbox_state_disable_network: bool,

    /// Print the effective policy and the bwrap command line; run nothing.
    #[arg(long)]
    pub explain: bool,

    /// Do not mount a fresh /proc (for containers that forbid it).
    #[arg(long)]
    pub no_proc: bool,

    /// Codex's: route outbound TCP through the managed proxy. Needs the
    /// built-in proxy (features.network_proxy or [managed_proxy]); direct
    /// connections then stay blocked rather than rerouted.
    #[arg(long)]
    pub transparent_tcp: bool,

    /// The command to run and its arguments.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        required_unless_present = "explain"
    )]
    pub command: Vec<OsString>,
}
