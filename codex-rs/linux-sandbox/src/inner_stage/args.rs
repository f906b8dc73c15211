//! The inner stage's hidden command line, rendered by the outer stage and
//! parsed by the inner one. Pure, so both directions are unit-tested.
//!
//! ```text
//! <helper> --codex-inner-stage --network MODE [--guard-names] --report-fd N [--helper-fd M]
//!          [--proxy-fd P --proxy-listen ADDR [--proxy-listen ADDR]...] -- COMMAND...
//! ```
//!
//! The order is fixed and every field but `--helper-fd` is required; the
//! proxy fields come exactly when the network mode is `proxy`. The only
//! writer is [`inner_stage_args`], so anything else is refused rather than
//! guessed at.

use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;

use codex_sandboxing::NetworkMode;

use crate::proxy::handoff::MAX_LISTENERS;
use crate::proxy::routes::ListenSpec;
use crate::render::FdArg;

/// The first argument that turns `codex` or `codex-linux-sandbox` into the
/// inner stage. Checked before any other parsing, whatever the arg0.
pub const INNER_STAGE_FLAG: &str = "--codex-inner-stage";

/// The flag that asks for the protected-name guard.
const GUARD_NAMES_FLAG: &str = "--guard-names";

/// The process name the inner stage gets where bwrap supports `--argv0`.
pub const HELPER_ARGV0: &str = "codex-linux-sandbox";

/// What the inner stage was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerStageArgs {
    /// Which seccomp filter to install.
    pub network: NetworkMode,
    /// Whether to run the command under the protected-name guard.
    pub guard_names: bool,
    /// Where to write why the stage failed (close-on-exec once the stage
    /// starts, so a started command never holds it).
    pub report_fd: RawFd,
    /// The descriptor bwrap exec'd the stage through, if any; closed at
    /// once so the command never holds it.
    pub helper_fd: Option<RawFd>,
    /// The proxy routes, exactly when `network` is proxy.
    pub proxy: Option<ProxyStageArgs>,
    /// The command to exec; never empty.
    pub command: Vec<OsString>,
}

/// The inner stage's part of proxy routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyStageArgs {
    /// The socket to hand the listeners up through.
    pub channel_fd: RawFd,
    /// Where to listen, in route order; never empty.
    pub listen: Vec<ListenSpec>,
}

/// The proxy fields as the outer stage renders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStage<'a> {
    /// The inner end of the handoff socket pair.
    pub channel: FdArg,
    /// Where to listen, in route order.
    pub listen: &'a [ListenSpec],
}

/// Why the hidden command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed inner-stage arguments: {0}")]
pub struct ArgsError(String);

/// The arguments after the helper's path: [`INNER_STAGE_FLAG`], the fields
/// of [`InnerStageArgs`], then `--` and `command`.
pub fn inner_stage_args(
    network: NetworkMode,
    guard_names: bool,
    report: FdArg,
    helper: Option<FdArg>,
    proxy: Option<ProxyStage<'_>>,
    command: &[OsString],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        INNER_STAGE_FLAG.into(),
        "--network".into(),
        network.as_str().into(),
    ];
    if guard_names {
        args.push(GUARD_NAMES_FLAG.into());
    }
    args.push("--report-fd".into());
    args.push(report.render());
    if let Some(helper) = helper {
        args.push("--helper-fd".into());
        args.push(helper.render());
    }
    if let Some(proxy) = proxy {
        args.push("--proxy-fd".into());
        args.push(proxy.channel.render());
        for spec in proxy.listen {
            args.push("--proxy-listen".into());
            args.push(spec.render().into());
        }
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
    let guard_names = rest
        .as_slice()
        .first()
        .is_some_and(|arg| arg == GUARD_NAMES_FLAG);
    if guard_names {
        rest.next();
    }
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
    let proxy = parse_proxy_fields(&mut rest, network, &[Some(report_fd), helper_fd])?;
    if rest.next().map(OsString::as_os_str) != Some(OsStr::new("--")) {
        return Err(ArgsError("expected `--` before the command".into()));
    }
    let command: Vec<OsString> = rest.cloned().collect();
    if command.is_empty() {
        return Err(ArgsError("no command after `--`".into()));
    }
    Ok(InnerStageArgs {
        network,
        guard_names,
        report_fd,
        helper_fd,
        proxy,
        command,
    })
}

/// `--proxy-fd P --proxy-listen ADDR...`, required in proxy mode and
/// refused in any other; `P` must differ from the stage's other
/// descriptors.
fn parse_proxy_fields(
    rest: &mut std::slice::Iter<'_, OsString>,
    network: NetworkMode,
    other_fds: &[Option<RawFd>],
) -> Result<Option<ProxyStageArgs>, ArgsError> {
    let next_is = |rest: &std::slice::Iter<'_, OsString>, flag: &str| {
        rest.as_slice().first().is_some_and(|arg| arg == flag)
    };
    if network != NetworkMode::Proxy {
        if next_is(rest, "--proxy-fd") {
            return Err(ArgsError(
                "--proxy-fd is only for network mode proxy".into(),
            ));
        }
        return Ok(None);
    }
    let channel_fd = fd_of(rest, "--proxy-fd")?;
    if other_fds.contains(&Some(channel_fd)) {
        return Err(ArgsError(
            "--proxy-fd must differ from the other descriptors".into(),
        ));
    }
    let mut listen = Vec::new();
    while next_is(rest, "--proxy-listen") {
        let text = value_of(rest, "--proxy-listen")?;
        let spec = text
            .to_str()
            .ok_or_else(|| ArgsError("--proxy-listen must be text".into()))
            .and_then(|text| ListenSpec::parse(text).map_err(ArgsError))?;
        listen.push(spec);
    }
    if listen.is_empty() || listen.len() > MAX_LISTENERS {
        return Err(ArgsError(format!(
            "network mode proxy needs 1 to {MAX_LISTENERS} --proxy-listen addresses"
        )));
    }
    Ok(Some(ProxyStageArgs { channel_fd, listen }))
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

    fn listen_specs() -> Vec<ListenSpec> {
        ["127.0.0.1:3128", "[::1]:3128?"]
            .iter()
            .map(|text| ListenSpec::parse(text).unwrap())
            .collect()
    }

    #[test]
    fn what_is_rendered_parses_back_for_every_network_mode() {
        let specs = listen_specs();
        for network in [
            NetworkMode::Restricted,
            NetworkMode::Enabled,
            NetworkMode::Proxy,
        ] {
            for (helper_fd, guard_names) in [(None, false), (Some(6), true), (None, true)] {
                let command = os(&["sh", "-c", "echo hi", "--", "--helper-fd", "7"]);
                let proxy = (network == NetworkMode::Proxy).then_some(ProxyStage {
                    channel: FdArg::Fd(9),
                    listen: &specs,
                });
                let rendered = inner_stage_args(
                    network,
                    guard_names,
                    FdArg::Fd(5),
                    helper_fd.map(FdArg::Fd),
                    proxy,
                    &command,
                );
                assert_eq!(rendered[0], INNER_STAGE_FLAG);
                assert_eq!(
                    parse_inner_stage_args(&rendered[1..]),
                    Ok(InnerStageArgs {
                        network,
                        guard_names,
                        report_fd: 5,
                        helper_fd,
                        proxy: proxy.map(|_| ProxyStageArgs {
                            channel_fd: 9,
                            listen: specs.clone(),
                        }),
                        command: command.clone(),
                    })
                );
            }
        }
    }

    #[test]
    fn proxy_fields_come_exactly_with_proxy_mode_and_are_validated() {
        let base = |network: &str, extra: &[&str]| {
            let mut args = vec!["--network", network, "--report-fd", "5"];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["--", "true"]);
            os(&args)
        };
        let cases: [(Vec<OsString>, &str); 7] = [
            (base("proxy", &[]), "expected --proxy-fd"),
            (
                base(
                    "restricted",
                    &["--proxy-fd", "9", "--proxy-listen", "127.0.0.1:1"],
                ),
                "only for network mode proxy",
            ),
            (base("proxy", &["--proxy-fd", "9"]), "needs 1 to 12"),
            (
                base(
                    "proxy",
                    &["--proxy-fd", "5", "--proxy-listen", "127.0.0.1:1"],
                ),
                "must differ",
            ),
            (
                base(
                    "proxy",
                    &["--proxy-fd", "9", "--proxy-listen", "10.0.0.1:3128"],
                ),
                "not a loopback address",
            ),
            (
                base(
                    "proxy",
                    &["--proxy-fd", "9", "--proxy-listen", "0.0.0.0:3128"],
                ),
                "not a loopback address",
            ),
            (
                base("proxy", &["--proxy-fd", "9", "--proxy-listen", "nonsense"]),
                "not an address:port",
            ),
        ];
        for (args, needle) in cases {
            let err = parse_inner_stage_args(&args).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        let many: Vec<&str> = (0..13)
            .flat_map(|_| ["--proxy-listen", "127.0.0.1:3128"])
            .collect();
        let mut extra = vec!["--proxy-fd", "9"];
        extra.extend(many);
        let err = parse_inner_stage_args(&base("proxy", &extra)).unwrap_err();
        assert!(err.to_string().contains("needs 1 to 12"), "{err}");
    }

    #[test]
    fn placeholders_render_as_names() {
        let rendered = inner_stage_args(
            NetworkMode::Restricted,
            true,
            FdArg::Placeholder("report-fd"),
            Some(FdArg::Placeholder("helper-fd")),
            None,
            &os(&["true"]),
        );
        assert_eq!(
            rendered,
            os(&[
                INNER_STAGE_FLAG,
                "--network",
                "restricted",
                "--guard-names",
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
