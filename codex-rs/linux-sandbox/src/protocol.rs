//! The contract between the outer stage (`codex` on the host) and the inner
//! stage (the same binary, exec'd by bwrap inside the namespaces): the
//! hidden command line, the descriptors it names, the report the inner
//! stage writes when it stops before the command, and the exit statuses.
//! Both sides import only this module to talk to each other, and it is
//! pure, so both directions are unit-tested.
//!
//! ```text
//! <helper> --codex-inner-stage --network MODE
//!          [--guard-names [--project-root PATH | --scratch-root PATH]...]
//!          [--close-unix-sockets [--allow-unix-socket PATH]...]
//!          --report-fd N [--helper-fd M] [--procfs-fd F]
//!          [--proxy-fd P --proxy-listen ADDR [--proxy-listen ADDR]...]
//!          [--command-fd C] -- [COMMAND...]
//! ```
//!
//! The order is fixed and every field but `--helper-fd` is required; the
//! proxy fields come exactly when the network mode is `proxy`;
//! `--procfs-fd` only with the guard or closed sockets, whose supervisor
//! reads it. The only
//! writer is [`inner_stage_args`], so anything else is refused rather than
//! guessed at.

use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use codex_sandboxing::NetworkMode;
pub use codex_sandboxing::exit_status;

use crate::proxy::handoff::MAX_LISTENERS;
use crate::proxy::routes::ListenSpec;

/// The first argument that turns `codex` or `codex-linux-sandbox` into the
/// inner stage. Checked before any other parsing, whatever the arg0.
pub const INNER_STAGE_FLAG: &str = "--codex-inner-stage";

/// The flag that asks for the protected-name guard.
const GUARD_NAMES_FLAG: &str = "--guard-names";

/// The flag that asks the stage to close the host's Unix sockets
/// (`guard::sockets`), with or without the protected-name guard.
const CLOSE_UNIX_SOCKETS_FLAG: &str = "--close-unix-sockets";

/// The flag before a host Unix socket the command may connect to (after
/// [`CLOSE_UNIX_SOCKETS_FLAG`]).
const ALLOW_UNIX_SOCKET_FLAG: &str = "--allow-unix-socket";

/// The flag before a writable root the guard judges as a project root.
const PROJECT_ROOT_FLAG: &str = "--project-root";

/// The flag before a writable root the guard judges as a temporary root.
const SCRATCH_ROOT_FLAG: &str = "--scratch-root";

/// What kind of writable root a [`GuardRoot`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    /// The workspace or a configured writable root: every protection, at
    /// any depth.
    Project,
    /// A temporary root (`/tmp`, `$TMPDIR`): protected names are refused
    /// only at its top level.
    Scratch,
}

/// A writable root as the guard judges it: its real path (symlinks
/// resolved, as the sandbox mounts it) and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardRoot {
    /// Absolute, normalised, symlinks resolved.
    pub path: std::path::PathBuf,
    /// How entries below it are judged.
    pub kind: RootKind,
}

/// The process name the inner stage gets where bwrap supports `--argv0`,
/// and the prefix of every message it prints itself.
pub const HELPER_ARGV0: &str = "codex-linux-sandbox";

/// A descriptor the outer stage opens for bwrap or the inner stage. Its
/// number is known only at launch; `--explain` shows its name instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Descriptor {
    /// bwrap's `--json-status-fd`.
    Status,
    /// bwrap's `--seccomp`: the compiled filter.
    Seccomp,
    /// Where the inner stage reports why it stopped ([`StageReport`]).
    Report,
    /// The running image of this binary, which bwrap execs as the inner
    /// stage through `/proc/self/fd/N`.
    Helper,
    /// The inner end of the proxy handoff socket pair.
    Proxy,
    /// The command, NUL-separated, when it is too long for bwrap's
    /// argument count.
    Command,
    /// The outer stage's `/proc`, for the supervisor of a sandbox that has
    /// none of its own.
    Procfs,
}

impl Descriptor {
    /// The name `--explain` shows, as `<NAME>`.
    pub fn placeholder(self) -> &'static str {
        match self {
            Descriptor::Status => "<status-fd>",
            Descriptor::Seccomp => "<seccomp-fd>",
            Descriptor::Report => "<report-fd>",
            Descriptor::Helper => "<helper-fd>",
            Descriptor::Proxy => "<proxy-fd>",
            Descriptor::Command => "<command-fd>",
            Descriptor::Procfs => "<procfs-fd>",
        }
    }
}

/// One argument of a command line that names descriptors: plain text, or
/// a descriptor's number (alone, or after `prefix`) filled in at launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Passed as written.
    Text(OsString),
    /// `prefix` followed by the descriptor's number (`/proc/self/fd/7`).
    Fd {
        /// Written before the number; empty for the number alone.
        prefix: &'static str,
        /// Whose number.
        descriptor: Descriptor,
    },
}

impl Arg {
    /// The number of `descriptor` alone.
    pub fn fd(descriptor: Descriptor) -> Self {
        Arg::Fd {
            prefix: "",
            descriptor,
        }
    }

    /// The argument with descriptors written as `number(descriptor)`.
    pub fn resolve(&self, number: &impl Fn(Descriptor) -> String) -> OsString {
        match self {
            Arg::Text(text) => text.clone(),
            Arg::Fd { prefix, descriptor } => format!("{prefix}{}", number(*descriptor)).into(),
        }
    }
}

/// Text arguments from the usual string and path types.
macro_rules! text_arg_from {
    ($($source:ty),*) => {$(
        impl From<$source> for Arg {
            fn from(text: $source) -> Self {
                Arg::Text(text.into())
            }
        }
    )*};
}
text_arg_from!(&str, String, OsString, &std::path::Path, std::path::PathBuf);

/// `args` with every descriptor written as `number(descriptor)`.
pub fn resolve_args(args: &[Arg], number: impl Fn(Descriptor) -> String) -> Vec<OsString> {
    args.iter().map(|arg| arg.resolve(&number)).collect()
}

/// `args` with every descriptor written as its placeholder, for showing.
pub fn placeholder_args(args: &[Arg]) -> Vec<OsString> {
    resolve_args(args, |descriptor| descriptor.placeholder().to_owned())
}

/// What the inner stage is asked to do, as the outer stage plans it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerStageRequest<'a> {
    /// Which seccomp filter to install.
    pub network: NetworkMode,
    /// The writable roots, when the command runs under the protected-name
    /// guard; `None` without the guard.
    pub guard: Option<&'a [GuardRoot]>,
    /// Whether the host's Unix sockets are closed to the command (the
    /// network is enabled and the stage supervises its calls).
    pub close_unix_sockets: bool,
    /// The host Unix sockets the command may connect to nonetheless
    /// (only with `close_unix_sockets`).
    pub allowed_unix_sockets: &'a [PathBuf],
    /// Whether bwrap execs the stage through [`Descriptor::Helper`].
    pub through_helper_fd: bool,
    /// Whether the supervisor reads procfs through [`Descriptor::Procfs`].
    pub procfs_fd: bool,
    /// Where to listen for the proxy route, exactly in network mode proxy.
    pub proxy_listen: Option<&'a [ListenSpec]>,
    /// Whether the command comes through [`Descriptor::Command`] rather
    /// than after `--`.
    pub command_through_fd: bool,
}

/// What the inner stage was asked to do, as it parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerStageArgs {
    /// Which seccomp filter to install.
    pub network: NetworkMode,
    /// The writable roots, when the command runs under the protected-name
    /// guard; `None` without the guard.
    pub guard: Option<Vec<GuardRoot>>,
    /// Whether the host's Unix sockets are closed to the command (the
    /// network is enabled and the stage supervises its calls).
    pub close_unix_sockets: bool,
    /// The host Unix sockets the command may connect to nonetheless.
    pub allowed_unix_sockets: Vec<PathBuf>,
    /// Where to write why the stage failed (close-on-exec once the stage
    /// starts, so a started command never holds it).
    pub report_fd: RawFd,
    /// The descriptor bwrap exec'd the stage through, if any; closed at
    /// once so the command never holds it.
    pub helper_fd: Option<RawFd>,
    /// The outer stage's `/proc`, for the supervisor to read instead of
    /// the sandbox's, which is not mounted; close-on-exec, like the report.
    pub procfs_fd: Option<RawFd>,
    /// The proxy routes, exactly when `network` is proxy.
    pub proxy: Option<ProxyStageArgs>,
    /// Where the command is.
    pub command: CommandSource,
}

/// Where the inner stage finds the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSource {
    /// After `--`; never empty.
    Arguments(Vec<OsString>),
    /// NUL-separated in this descriptor (a long command: bwrap counts
    /// every argument of its own command line, and refuses more than
    /// [`BWRAP_MAX_ARGS`]).
    Descriptor(RawFd),
}

/// The most arguments bwrap accepts on its command line, its own options
/// included (bubblewrap's `MAX_ARGS`).
pub const BWRAP_MAX_ARGS: usize = 9000;

/// Commands with more arguments than this reach the inner stage through
/// [`Descriptor::Command`]: what is left of [`BWRAP_MAX_ARGS`] holds
/// bwrap's own options, a few per mount.
pub const COMMAND_ARGS_ON_BWRAPS_LINE: usize = 4096;

/// The command as a descriptor carries it: each argument followed by NUL.
pub fn encode_command(command: &[OsString]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for arg in command {
        bytes.extend_from_slice(arg.as_bytes());
        bytes.push(0);
    }
    bytes
}

/// The command [`encode_command`] wrote; an error when it holds none.
pub fn decode_command(bytes: &[u8]) -> Result<Vec<OsString>, ArgsError> {
    let body = bytes
        .strip_suffix(&[0])
        .ok_or_else(|| ArgsError("the command descriptor holds no command".into()))?;
    Ok(body
        .split(|byte| *byte == 0)
        .map(|arg| OsString::from_vec(arg.to_vec()))
        .collect())
}

/// The inner stage's part of proxy routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyStageArgs {
    /// The socket to hand the listeners up through.
    pub channel_fd: RawFd,
    /// Where to listen, in route order; never empty.
    pub listen: Vec<ListenSpec>,
}

/// Why the hidden command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed inner-stage arguments: {0}")]
pub struct ArgsError(String);

/// The arguments after the helper's path: [`INNER_STAGE_FLAG`], the fields
/// of `request`, then `--` and `command`.
pub fn inner_stage_args(request: &InnerStageRequest<'_>, command: &[OsString]) -> Vec<Arg> {
    let mut args: Vec<Arg> = vec![
        INNER_STAGE_FLAG.into(),
        "--network".into(),
        request.network.as_str().into(),
    ];
    if let Some(roots) = request.guard {
        args.push(GUARD_NAMES_FLAG.into());
        for root in roots {
            args.push(match root.kind {
                RootKind::Project => PROJECT_ROOT_FLAG.into(),
                RootKind::Scratch => SCRATCH_ROOT_FLAG.into(),
            });
            args.push(root.path.as_path().into());
        }
    }
    if request.close_unix_sockets {
        args.push(CLOSE_UNIX_SOCKETS_FLAG.into());
        for socket in request.allowed_unix_sockets {
            args.push(ALLOW_UNIX_SOCKET_FLAG.into());
            args.push(socket.as_path().into());
        }
    }
    args.push("--report-fd".into());
    args.push(Arg::fd(Descriptor::Report));
    if request.through_helper_fd {
        args.push("--helper-fd".into());
        args.push(Arg::fd(Descriptor::Helper));
    }
    if request.procfs_fd {
        args.push("--procfs-fd".into());
        args.push(Arg::fd(Descriptor::Procfs));
    }
    if let Some(listen) = request.proxy_listen {
        args.push("--proxy-fd".into());
        args.push(Arg::fd(Descriptor::Proxy));
        for spec in listen {
            args.push("--proxy-listen".into());
            args.push(spec.render().into());
        }
    }
    if request.command_through_fd {
        args.push("--command-fd".into());
        args.push(Arg::fd(Descriptor::Command));
        args.push("--".into());
    } else {
        args.push("--".into());
        args.extend(command.iter().cloned().map(Arg::Text));
    }
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
    let guard = if next_is(&rest, GUARD_NAMES_FLAG) {
        rest.next();
        Some(parse_guard_roots(&mut rest)?)
    } else {
        None
    };
    let close_unix_sockets = next_is(&rest, CLOSE_UNIX_SOCKETS_FLAG);
    let mut allowed_unix_sockets = Vec::new();
    if close_unix_sockets {
        rest.next();
        while next_is(&rest, ALLOW_UNIX_SOCKET_FLAG) {
            let path = PathBuf::from(value_of(&mut rest, ALLOW_UNIX_SOCKET_FLAG)?);
            if !path.is_absolute() {
                return Err(ArgsError(format!(
                    "{ALLOW_UNIX_SOCKET_FLAG} needs an absolute path, not {}",
                    path.display()
                )));
            }
            allowed_unix_sockets.push(path);
        }
    }
    let report_fd = fd_of(&mut rest, "--report-fd")?;
    let mut helper_fd = None;
    if next_is(&rest, "--helper-fd") {
        let fd = fd_of(&mut rest, "--helper-fd")?;
        if fd == report_fd {
            return Err(ArgsError("--report-fd and --helper-fd must differ".into()));
        }
        helper_fd = Some(fd);
    }
    let mut procfs_fd = None;
    if next_is(&rest, "--procfs-fd") {
        let fd = fd_of(&mut rest, "--procfs-fd")?;
        if guard.is_none() && !close_unix_sockets {
            return Err(ArgsError(
                "--procfs-fd needs --guard-names or --close-unix-sockets".into(),
            ));
        }
        if [Some(report_fd), helper_fd].contains(&Some(fd)) {
            return Err(ArgsError(
                "--procfs-fd must differ from the other descriptors".into(),
            ));
        }
        procfs_fd = Some(fd);
    }
    let proxy = parse_proxy_fields(&mut rest, network, &[Some(report_fd), helper_fd, procfs_fd])?;
    let command_fd = if next_is(&rest, "--command-fd") {
        let fd = fd_of(&mut rest, "--command-fd")?;
        let taken = [
            Some(report_fd),
            helper_fd,
            procfs_fd,
            proxy.as_ref().map(|proxy| proxy.channel_fd),
        ];
        if taken.contains(&Some(fd)) {
            return Err(ArgsError(
                "--command-fd must differ from the other descriptors".into(),
            ));
        }
        Some(fd)
    } else {
        None
    };
    if rest.next().map(OsString::as_os_str) != Some(OsStr::new("--")) {
        return Err(ArgsError("expected `--` before the command".into()));
    }
    let inline: Vec<OsString> = rest.cloned().collect();
    let command = match command_fd {
        Some(_) if !inline.is_empty() => {
            return Err(ArgsError(
                "a command after `--` and --command-fd both; pass one".into(),
            ));
        }
        Some(fd) => CommandSource::Descriptor(fd),
        None if inline.is_empty() => return Err(ArgsError("no command after `--`".into())),
        None => CommandSource::Arguments(inline),
    };
    Ok(InnerStageArgs {
        network,
        guard,
        close_unix_sockets,
        allowed_unix_sockets,
        report_fd,
        helper_fd,
        procfs_fd,
        proxy,
        command,
    })
}

/// The `--project-root PATH` and `--scratch-root PATH` pairs after
/// `--guard-names`; every path absolute.
fn parse_guard_roots(
    rest: &mut std::slice::Iter<'_, OsString>,
) -> Result<Vec<GuardRoot>, ArgsError> {
    let mut roots = Vec::new();
    loop {
        let kind = if next_is(rest, PROJECT_ROOT_FLAG) {
            RootKind::Project
        } else if next_is(rest, SCRATCH_ROOT_FLAG) {
            RootKind::Scratch
        } else {
            return Ok(roots);
        };
        let flag = match kind {
            RootKind::Project => PROJECT_ROOT_FLAG,
            RootKind::Scratch => SCRATCH_ROOT_FLAG,
        };
        let path = std::path::PathBuf::from(value_of(rest, flag)?);
        if !path.is_absolute() {
            return Err(ArgsError(format!(
                "{flag} must be an absolute path, not {}",
                path.display()
            )));
        }
        roots.push(GuardRoot { path, kind });
    }
}

fn next_is(rest: &std::slice::Iter<'_, OsString>, flag: &str) -> bool {
    rest.as_slice().first().is_some_and(|arg| arg == flag)
}

/// `--proxy-fd P --proxy-listen ADDR...`, required in proxy mode and
/// refused in any other; `P` must differ from the stage's other
/// descriptors.
fn parse_proxy_fields(
    rest: &mut std::slice::Iter<'_, OsString>,
    network: NetworkMode,
    other_fds: &[Option<RawFd>],
) -> Result<Option<ProxyStageArgs>, ArgsError> {
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
            .and_then(|text| ListenSpec::parse(text).map_err(|err| ArgsError(err.to_string())))?;
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

/// The step of the inner stage that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageStep {
    /// Closing the descriptor bwrap exec'd the stage through.
    HelperFd,
    /// Listening for the proxy route and handing the listeners up.
    ProxyListeners,
    /// Setting `no_new_privs`.
    NoNewPrivs,
    /// Building or installing the seccomp filter.
    Seccomp,
    /// Starting the protected-name guard.
    Guard,
    /// Reading the command from its descriptor.
    Command,
    /// Exec'ing the command.
    Exec,
    /// A step this build does not know (a stage from another build, or
    /// text that is not a report).
    #[serde(other)]
    Unknown,
}

/// Why the inner stage stopped before the command started: written as one
/// JSON line to [`Descriptor::Report`], read by the outer stage after bwrap
/// ends. A report that is empty means the command started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StageReport {
    /// The step that failed.
    pub step: StageStep,
    /// What happened, for the user.
    pub message: String,
}

impl StageReport {
    /// A report of `step` failing with `message`.
    pub fn new(step: StageStep, message: impl Into<String>) -> Self {
        StageReport {
            step,
            message: message.into(),
        }
    }

    /// Writes the report to the report descriptor and ends the stage with
    /// [`exit_status::SETUP`]: the command never started.
    pub fn write_and_exit(&self, report: &mut std::fs::File) -> ! {
        use std::io::Write;
        // Nothing to do if the report cannot be written: the exit status
        // still says the command did not run.
        let _ = report.write_all(self.to_line().as_bytes());
        std::process::exit(exit_status::SETUP)
    }

    /// The report as one line of JSON, newline included.
    pub fn to_line(&self) -> String {
        // A struct of a unit enum and a string always serialises.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// Reads what the inner stage wrote: `None` when nothing was written
    /// (the command started). Text that is not a report (a stage from
    /// another build) is kept as the message of an [`StageStep::Unknown`]
    /// step.
    pub fn parse(text: &str) -> Option<StageReport> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(
            serde_json::from_str(text)
                .unwrap_or_else(|_| StageReport::new(StageStep::Unknown, text)),
        )
    }
}

/// Where a stage says why it stopped before the command started.
#[derive(Debug)]
pub enum FailureReport {
    /// The report descriptor the outer stage reads after bwrap ends (the
    /// bubblewrap pipeline's inner stage).
    Pipe(std::fs::File),
    /// This process's stderr, one line as `codex` prints its errors (the
    /// legacy pipeline, where `codex` itself supervises): `program` starts
    /// it.
    Stderr {
        /// `codex sandbox`, `codex-linux-sandbox`.
        program: String,
    },
}

impl FailureReport {
    /// Says why `failure` stopped the stage and ends it with
    /// [`exit_status::SETUP`]: the command never started.
    pub fn fail(&mut self, failure: StageReport) -> ! {
        match self {
            FailureReport::Pipe(file) => failure.write_and_exit(file),
            FailureReport::Stderr { program } => {
                eprintln!("{program}: sandbox setup failed: {}", failure.message);
                std::process::exit(exit_status::SETUP)
            }
        }
    }
}

/// The shell's convention for how a process ended: its exit code, or
/// 128+N when signal N killed it.
pub fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
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

    /// A project root and a temporary root.
    fn guard_roots() -> Vec<GuardRoot> {
        vec![
            GuardRoot {
                path: "/ws".into(),
                kind: RootKind::Project,
            },
            GuardRoot {
                path: "/tmp".into(),
                kind: RootKind::Scratch,
            },
        ]
    }

    /// Descriptor numbers as a launch might open them.
    fn numbers(descriptor: Descriptor) -> String {
        match descriptor {
            Descriptor::Status => "4",
            Descriptor::Seccomp => "3",
            Descriptor::Report => "5",
            Descriptor::Helper => "6",
            Descriptor::Proxy => "9",
            Descriptor::Command => "8",
            Descriptor::Procfs => "7",
        }
        .to_owned()
    }

    #[test]
    fn what_is_rendered_parses_back_for_every_network_mode() {
        let specs = listen_specs();
        for network in [
            NetworkMode::Restricted,
            NetworkMode::Enabled,
            NetworkMode::Proxy,
        ] {
            let roots = guard_roots();
            let guards = [None, Some(&roots[..]), Some(&roots[..0])];
            for (through_helper_fd, guard) in
                [(false, guards[0]), (true, guards[1]), (false, guards[2])]
            {
                let command = os(&["sh", "-c", "echo hi", "--", "--helper-fd", "7"]);
                let close_unix_sockets = network == NetworkMode::Enabled && through_helper_fd;
                let sockets = [PathBuf::from("/run/agent.sock"), "/tmp/a b.sock".into()];
                let allowed_unix_sockets = if close_unix_sockets {
                    &sockets[..]
                } else {
                    &[]
                };
                let request = InnerStageRequest {
                    network,
                    guard,
                    close_unix_sockets,
                    allowed_unix_sockets,
                    through_helper_fd,
                    procfs_fd: guard.is_some() && !through_helper_fd,
                    proxy_listen: (network == NetworkMode::Proxy).then_some(&specs[..]),
                    command_through_fd: false,
                };
                let rendered = resolve_args(&inner_stage_args(&request, &command), numbers);
                assert_eq!(rendered[0], INNER_STAGE_FLAG);
                assert_eq!(
                    parse_inner_stage_args(&rendered[1..]),
                    Ok(InnerStageArgs {
                        network,
                        guard: guard.map(<[GuardRoot]>::to_vec),
                        close_unix_sockets,
                        allowed_unix_sockets: allowed_unix_sockets.to_vec(),
                        report_fd: 5,
                        helper_fd: through_helper_fd.then_some(6),
                        procfs_fd: (guard.is_some() && !through_helper_fd).then_some(7),
                        proxy: request.proxy_listen.map(|_| ProxyStageArgs {
                            channel_fd: 9,
                            listen: specs.clone(),
                        }),
                        command: CommandSource::Arguments(command.clone()),
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
    fn a_long_command_goes_through_its_descriptor_and_round_trips() {
        let request = InnerStageRequest {
            network: NetworkMode::Restricted,
            guard: None,
            close_unix_sockets: false,
            allowed_unix_sockets: &[],
            through_helper_fd: false,
            procfs_fd: false,
            proxy_listen: None,
            command_through_fd: true,
        };
        let command = os(&["sh", "-c", "echo \"$@\"", "", "two words", "--"]);
        let rendered = resolve_args(&inner_stage_args(&request, &command), numbers);
        assert_eq!(
            rendered.last().map(OsString::as_os_str),
            Some(OsStr::new("--"))
        );
        let parsed = parse_inner_stage_args(&rendered[1..]).unwrap();
        assert_eq!(parsed.command, CommandSource::Descriptor(8));
        assert_eq!(decode_command(&encode_command(&command)), Ok(command));
        assert!(decode_command(b"").is_err());
        assert!(decode_command(b"no terminator").is_err());
    }

    #[test]
    fn an_allowed_unix_socket_must_be_absolute() {
        let args = os(&[
            "--network",
            "enabled",
            "--close-unix-sockets",
            "--allow-unix-socket",
            "agent.sock",
            "--report-fd",
            "5",
            "--",
            "true",
        ]);
        let err = parse_inner_stage_args(&args).unwrap_err();
        assert!(err.to_string().contains("absolute"), "{err}");
    }

    #[test]
    fn the_command_descriptor_is_checked() {
        let args = |extra: &[&str]| {
            let mut args = vec!["--network", "restricted", "--report-fd", "5"];
            args.extend_from_slice(extra);
            os(&args)
        };
        let err = parse_inner_stage_args(&args(&["--command-fd", "5", "--"])).unwrap_err();
        assert!(err.to_string().contains("must differ"), "{err}");
        let err = parse_inner_stage_args(&args(&["--command-fd", "8", "--", "true"])).unwrap_err();
        assert!(err.to_string().contains("pass one"), "{err}");
    }

    #[test]
    fn placeholders_render_as_names() {
        let roots = guard_roots();
        let request = InnerStageRequest {
            network: NetworkMode::Restricted,
            guard: Some(&roots),
            close_unix_sockets: false,
            allowed_unix_sockets: &[],
            through_helper_fd: true,
            procfs_fd: false,
            proxy_listen: None,
            command_through_fd: false,
        };
        assert_eq!(
            placeholder_args(&inner_stage_args(&request, &os(&["true"]))),
            os(&[
                INNER_STAGE_FLAG,
                "--network",
                "restricted",
                "--guard-names",
                "--project-root",
                "/ws",
                "--scratch-root",
                "/tmp",
                "--report-fd",
                "<report-fd>",
                "--helper-fd",
                "<helper-fd>",
                "--",
                "true",
            ])
        );
        let path = Arg::Fd {
            prefix: "/proc/self/fd/",
            descriptor: Descriptor::Helper,
        };
        assert_eq!(path.resolve(&numbers), "/proc/self/fd/6");
    }

    #[test]
    fn anything_but_the_rendered_form_is_refused() {
        let cases: [(&[&str], &str); 15] = [
            (&[], "expected --network"),
            (
                &[
                    "--network",
                    "restricted",
                    "--guard-names",
                    "--project-root",
                    "ws",
                    "--report-fd",
                    "5",
                    "--",
                    "true",
                ],
                "--project-root must be an absolute path, not ws",
            ),
            (
                &[
                    "--network",
                    "restricted",
                    "--scratch-root",
                    "/tmp",
                    "--report-fd",
                    "5",
                    "--",
                    "true",
                ],
                "expected --report-fd",
            ),
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
            (
                &[
                    "--network",
                    "restricted",
                    "--report-fd",
                    "5",
                    "--procfs-fd",
                    "7",
                    "--",
                    "true",
                ],
                "--procfs-fd needs --guard-names or --close-unix-sockets",
            ),
            (
                &[
                    "--network",
                    "restricted",
                    "--guard-names",
                    "--report-fd",
                    "5",
                    "--procfs-fd",
                    "5",
                    "--",
                    "true",
                ],
                "must differ",
            ),
        ];
        for (args, needle) in cases {
            let err = parse_inner_stage_args(&os(args)).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_report_is_one_json_line_that_reads_back() {
        let report = StageReport::new(StageStep::Seccomp, "cannot install: \"EINVAL\"\nsecond");
        let line = report.to_line();
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.starts_with("{\"step\":\"seccomp\","), "{line}");
        assert_eq!(StageReport::parse(&line), Some(report));
        assert_eq!(StageReport::parse(""), None);
        assert_eq!(StageReport::parse(" \n"), None);
        assert_eq!(
            StageReport::parse("free text\n"),
            Some(StageReport::new(StageStep::Unknown, "free text"))
        );
        assert_eq!(
            StageReport::parse("{\"step\":\"later\",\"message\":\"m\"}"),
            Some(StageReport::new(StageStep::Unknown, "m"))
        );
    }
}
