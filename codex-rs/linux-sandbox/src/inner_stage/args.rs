//! The inner stage's hidden command line, rendered by the outer stage and
//! parsed by the inner one. Pure, so both directions are unit-tested.
//!
//! ```text
//! <helper> --codex-inner-stage --network MODE --report-fd N [--helper-fd M] -- COMMAND...
//! ```
//!
//! The order is fixed and every field but `--helper-fd` is required: the
//! only writer is [`inner_stage_args`], so anything else is refused rather
//! than guessed at.

use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;

use codex_sandboxing::NetworkMode;

use crate::render::FdArg;

/// The first argument that turns `codex` or `codex-linux-sandbox` into the
/// inner stage. Checked before any other parsing, whatever the arg0.
pub const INNER_STAGE_FLAG: &str = "--codex-inner-stage";

/// The process name the inner stage gets where bwrap supports `--argv0`.
pub const HELPER_ARGV0: &str = "codex-linux-sandbox";

/// What the inner stage was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerStageArgs {
    /// Which seccomp filter to install.
    pub network: NetworkMode,
    /// Where to write why the stage failed (close-on-exec once the stage
    /// starts, so a started command never holds it).
    pub report_fd: RawFd,
    /// The descriptor bwrap exec'd the stage through, if any; closed at
    /// once so the command never holds it.
    pub helper_fd: Option<RawFd>,
    /// The command to exec; never empty.
    pub command: Vec<OsString>,
}

/// Why the hidden command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed inner-stage arguments: {0}")]
pub struct ArgsError(String);

/// The arguments after the helper's path: [`INNER_STAGE_FLAG`], the fields
/// of [`InnerStageArgs`], then `--` and `command`.
pub fn inner_stage_args(
    network: NetworkMode,
    report: FdArg,
    helper: Option<FdArg>,
    command: &[OsString],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        INNER_STAGE_FLAG.into(),
        "--network".into(),
        network.as_str().into(),
        "--report-fd".into(),
        report.render(),
    ];
    if let Some(helper) = helper {
        args.push("--helper-fd".into());
        args.push(helper.render());
    }
    args.push("--".into());
    args.extend(command.iter().cloned());
    args
}

/// Parses the arguments that follow [`INNER_STAGE_FLAG`].
pub fn parse_inner_stage_args(args: &[OsString]) -> Result<InnerStageArgs, ArgsError> {
    let mut rest = args.iter();
    let network = match value_of(&mut rest, "--network")?.to_str() {
        Some("restricted") => NetworkMode::Restricted,
        Some("enabled") => NetworkMode::Enabled,
        Some("proxy") => NetworkMode::Proxy,
        _ => {
            return Err(ArgsError(
                "--network must be restricted, enabled or proxy".into(),
            ));
        }
    };
    let report_fd = fd_of(&mut rest, "--report-fd")?;
    let mut helper_fd = None;
    if rest
        .as_slice()
        .first()
        .is_some_and(|arg| arg == "--helper-fd")
    {
        let fd = fd_of(&mut rest, "--helper-fd")?;
        if fd == report_fd {
            return Err(ArgsError("--report-fd and --helper-fd must differ".into()));
        }
        helper_fd = Some(fd);
    }
    if rest.next().map(OsString::as_os_str) != Some(OsStr::new("--")) {
        return Err(ArgsError("expected `--` before the command".into()));
    }
    let command: Vec<OsString> = rest.cloned().collect();
    if command.is_empty() {
        return Err(ArgsError("no command after `--`".into()));
    }
    Ok(InnerStageArgs {
        network,
        report_fd,
        helper_fd,
        command,
    })
}

fn value_of<'a>(
    rest: &mut std::slice::Iter<'a, OsString>,
    flag: &str,
) -> Result<&'a OsStr, ArgsError> {
    match (rest.next(), rest.next()) {
        (Some(name), Some(value)) if name == flag => Ok(value),
        _ => Err(ArgsError(format!("expected {flag} VALUE"))),
    }
}

/// A descriptor number above stderr: the stage must never close or mark
/// the command's standard streams.
fn fd_of(rest: &mut std::slice::Iter<'_, OsString>, flag: &str) -> Result<RawFd, ArgsError> {
    let value = value_of(rest, flag)?;
    value
        .to_str()
        .and_then(|text| text.parse::<RawFd>().ok())
        .filter(|fd| *fd > 2)
        .ok_or_else(|| {
            ArgsError(format!(
                "{flag} must be a descriptor number above 2, not {}",
                value.to_string_lossy()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn what_is_rendered_parses_back_for_every_network_mode() {
        for network in [
            NetworkMode::Restricted,
            NetworkMode::Enabled,
            NetworkMode::Proxy,
        ] {
            for helper_fd in [None, Some(6)] {
                let command = os(&["sh", "-c", "echo hi", "--", "--helper-fd", "7"]);
                let rendered =
                    inner_stage_args(network, FdArg::Fd(5), helper_fd.map(FdArg::Fd), &command);
                assert_eq!(rendered[0], INNER_STAGE_FLAG);
                assert_eq!(
                    parse_inner_stage_args(&rendered[1..]),
                    Ok(InnerStageArgs {
                        network,
                        report_fd: 5,
                        helper_fd,
                        command: command.clone(),
                    })
                );
            }
        }
    }

    #[test]
    fn placeholders_render_as_names() {
        let rendered = inner_stage_args(
            NetworkMode::Restricted,
            FdArg::Placeholder("report-fd"),
            Some(FdArg::Placeholder("helper-fd")),
            &os(&["true"]),
        );
        assert_eq!(
            rendered,
            os(&[
                INNER_STAGE_FLAG,
                "--network",
                "restricted",
                "--report-fd",
                "<report-fd>",
                "--helper-fd",
                "<helper-fd>",
                "--",
                "true",
            ])
        );
    }

    #[test]
    fn anything_but_the_rendered_form_is_refused() {
        let cases: [(&[&str], &str); 11] = [
            (&[], "expected --network"),
            (
                &["--network", "open", "--report-fd", "5", "--", "true"],
                "restricted, enabled or proxy",
            ),
            (
                &["--report-fd", "5", "--network", "restricted", "--", "true"],
                "expected --network",
            ),
            (
                &["--network", "restricted", "--report-fd", "2", "--", "true"],
                "above 2, not 2",
            ),
            (
                &["--network", "restricted", "--report-fd", "-1", "--", "true"],
                "above 2, not -1",
            ),
            (
                &["--network", "restricted", "--report-fd", "x", "--", "true"],
                "above 2, not x",
            ),
            (
                &["--network", "restricted", "--report-fd", "5", "true"],
                "expected `--`",
            ),
            (
                &["--network", "restricted", "--report-fd", "5", "--"],
                "no command",
            ),
            (
                &[
                    "--network",
                    "restricted",
                    "--report-fd",
                    "5",
                    "--helper-fd",
                    "5",
                    "--",
                    "true",
                ],
                "must differ",
            ),
            (
                &[
                    "--network",
                    "restricted",
                    "--report-fd",
                    "5",
                    "--helper-fd",
                    "--",
                    "true",
                ],
                "above 2, not --",
            ),
            (
                &["--network", "restricted", "--report-fd", "5", "--helper-fd"],
                "expected --helper-fd",
            ),
        ];
        for (args, needle) in cases {
            let err = parse_inner_stage_args(&os(args)).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
