//! Network, syscall and process isolation, checked from the host after real
//! sandboxed commands.
//!
//! Raw system calls and socket attempts are made by a small C fixture,
//! `tests/probes/probe.c`, compiled once per test process with `cc` into a
//! private temporary directory (removed when the process exits). Without
//! `cc` the tests that need it print `SKIPPED ...` and return, like
//! `require_sandbox!`. The source is read from
//! `$CARGO_MANIFEST_DIR/tests/probes/probe.c`; when the test binary runs
//! where that path is unreadable (copied elsewhere and run as another user),
//! set `CODEX_TEST_PROBES_DIR` to a directory holding `probe.c`.
//!
//! Every denial is paired with a control showing the same attempt succeeds
//! where it should: with the network enabled, outside the sandbox, or under
//! `:danger-full-access`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

mod common;

use std::ffi::OsString;
use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{World, assert_code, no_proc_pass, stderr, stdout};

/// Options that turn the network on (the default profile restricts it).
use common::NETWORK_ENABLED;
/// Both network modes, for denials that must hold in either.
const BOTH_NETWORK_MODES: [&[&str]; 2] = [&[], NETWORK_ENABLED];
/// How long a host endpoint is watched for an attempt that must not arrive.
const QUIET_PERIOD: Duration = Duration::from_secs(1);
/// Upper bound for an attempt that must arrive (it normally already has).
const ARRIVAL_LIMIT: Duration = Duration::from_secs(5);
/// The status the sandbox reports for a death by SIGSYS (128 + 31).
const KILLED_BY_SIGSYS: i32 = 128 + libc::SIGSYS;

// ---------------------------------------------------------------------------
// The probe fixture.

/// The compiled probe, or `None` (with a printed reason) when `cc` is
/// missing; compiled once per test process.
fn probe(test: &str) -> Option<&'static Path> {
    static PROBE: OnceLock<Option<PathBuf>> = OnceLock::new();
    let probe = PROBE.get_or_init(compile_probe).as_deref();
    if probe.is_none() {
        eprintln!("SKIPPED {test}: no C compiler (`cc`) to build tests/probes/probe.c");
    }
    probe
}

/// Skips the calling test (with a printed reason) when the probe cannot be
/// built; otherwise evaluates to its path.
macro_rules! require_probe {
    () => {
        match probe(module_path!()) {
            Some(path) => path,
            None => return,
        }
    };
}

fn probe_source() -> PathBuf {
    let in_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probes/probe.c");
    if std::fs::File::open(&in_tree).is_ok() {
        return in_tree;
    }
    let from_env = std::env::var_os("CODEX_TEST_PROBES_DIR")
        .map(|dir| PathBuf::from(dir).join("probe.c"))
        .filter(|path| std::fs::File::open(path).is_ok());
    from_env.unwrap_or_else(|| {
        panic!(
            "cannot read {}; set CODEX_TEST_PROBES_DIR to a directory holding probe.c",
            in_tree.display()
        )
    })
}

/// Where the probe is built; removed at process exit.
static PROBE_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_probe_dir() {
    if let Some(dir) = PROBE_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn compile_probe() -> Option<PathBuf> {
    if Command::new("cc").arg("--version").output().is_err() {
        return None;
    }
    let source = probe_source();
    // A test that panics here leaves `PROBE` unset and the next one tries
    // again, in the same directory.
    let dir = PROBE_DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("codex-isolation-probe-")
            .tempdir()
            .expect("tempdir for the probe")
            .keep();
        // SAFETY: registers a plain `extern "C"` function with no
        // arguments; it only reads a `OnceLock`, which is set by the time
        // the process exits.
        unsafe { libc::atexit(remove_probe_dir) };
        dir
    });
    let binary = dir.join("probe");
    let output = Command::new("cc")
        .args(["-O0", "-pthread", "-o"])
        .arg(&binary)
        .arg(&source)
        .stdin(Stdio::null())
        .output()
        .expect("run cc");
    assert!(
        output.status.success(),
        "cc failed on {}: {}",
        source.display(),
        stderr(&output)
    );
    Some(binary)
}

/// The probe's command line: its path, then `args`.
fn probe_argv(probe: &Path, args: &[String]) -> Vec<OsString> {
    std::iter::once(probe.as_os_str().to_owned())
        .chain(args.iter().map(OsString::from))
        .collect()
}

/// Runs the probe in `world`'s sandbox with `options`.
fn sandboxed(world: &World, options: &[&str], probe: &Path, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    world.run(options, &probe_argv(probe, &args))
}

/// Runs the probe directly on the host, with no sandbox.
fn unsandboxed(probe: &Path, args: &[&str]) -> Output {
    Command::new(probe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the probe on the host")
}

/// Asserts the probe reported the call failing with EPERM.
fn assert_eperm(output: &Output, what: &str) {
    assert_code(output, 1);
    assert!(
        stdout(output).contains(": EPERM"),
        "{what}: expected EPERM, got: {}",
        stdout(output)
    );
}

// ---------------------------------------------------------------------------
// Host endpoints the sandboxed probe tries to reach.

enum Listener {
    Tcp(TcpListener),
    Udp(UdpSocket),
    Stream(UnixListener),
    Datagram(UnixDatagram),
}

/// A socket listening on the host, and the probe arguments that target it.
struct Endpoint {
    listener: Listener,
    probe_args: Vec<String>,
}

/// A name no other test (or test process) uses at the same time.
fn unique_name(kind: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "codex-isolation-{kind}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Endpoint {
    fn new(listener: Listener, probe_args: &[&str]) -> Self {
        match &listener {
            Listener::Tcp(socket) => socket.set_nonblocking(true),
            Listener::Udp(socket) => socket.set_nonblocking(true),
            Listener::Stream(socket) => socket.set_nonblocking(true),
            Listener::Datagram(socket) => socket.set_nonblocking(true),
        }
        .unwrap();
        Endpoint {
            listener,
            probe_args: probe_args.iter().map(|arg| arg.to_string()).collect(),
        }
    }

    fn tcp() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        Self::new(Listener::Tcp(listener), &["tcp", &port])
    }

    fn udp() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port().to_string();
        Self::new(Listener::Udp(socket), &["udp", &port])
    }

    fn unix_stream(dir: &Path) -> Self {
        let path = dir.join("stream.sock");
        let listener = UnixListener::bind(&path).unwrap();
        Self::new(
            Listener::Stream(listener),
            &["unix", path.to_str().unwrap()],
        )
    }

    /// A Unix datagram socket at a path; `probe_kind` is `unix-dgram` or
    /// `unix-raw` (how the probe makes its sending socket).
    fn unix_datagram(dir: &Path, probe_kind: &str) -> Self {
        let path = dir.join("datagram.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        Self::new(
            Listener::Datagram(socket),
            &[probe_kind, path.to_str().unwrap()],
        )
    }

    fn abstract_stream() -> Self {
        let name = unique_name("abstract");
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixListener::bind_addr(&address).unwrap();
        Self::new(Listener::Stream(listener), &["abstract", &name])
    }

    /// Whether a connection or datagram is waiting, without blocking.
    fn something_arrived(&self) -> bool {
        let mut buffer = [0u8; 64];
        let result = match &self.listener {
            Listener::Tcp(socket) => socket.accept().map(drop),
            Listener::Udp(socket) => socket.recv_from(&mut buffer).map(drop),
            Listener::Stream(socket) => socket.accept().map(drop),
            Listener::Datagram(socket) => socket.recv_from(&mut buffer).map(drop),
        };
        match result {
            Ok(()) => true,
            Err(err) if err.kind() == ErrorKind::WouldBlock => false,
            Err(err) => panic!("host endpoint failed: {err}"),
        }
    }

    /// Watches the endpoint for up to `limit`; true as soon as anything
    /// arrives.
    fn arrives_within(&self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.something_arrived() {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The restricted sandbox's attempt fails with EPERM and nothing reaches the
/// host endpoint; then the same attempt with the network enabled arrives.
fn restricted_network_cannot_reach(make_endpoint: impl FnOnce(&World) -> Endpoint) {
    let probe = require_probe!();
    let world = World::new();
    let endpoint = make_endpoint(&world);
    let argv = probe_argv(probe, &endpoint.probe_args);
    let what = endpoint.probe_args.join(" ");

    let output = world.run(&[], &argv);
    assert!(
        !endpoint.arrives_within(QUIET_PERIOD),
        "`{what}` from the restricted sandbox reached the host: {}",
        stdout(&output)
    );
    assert_eperm(&output, &what);

    // Control: the identical attempt gets through with the network
    // enabled (an Internet socket) or unsandboxed (a Unix socket, which
    // stays closed with the network enabled too).
    let output = match endpoint.listener {
        Listener::Tcp(_) | Listener::Udp(_) => world.run(NETWORK_ENABLED, &argv),
        Listener::Stream(_) | Listener::Datagram(_) => {
            let args: Vec<&str> = endpoint.probe_args.iter().map(String::as_str).collect();
            unsandboxed(probe, &args)
        }
    };
    assert_code(&output, 0);
    assert!(
        endpoint.arrives_within(ARRIVAL_LIMIT),
        "`{what}` in the control never arrived: {}",
        stdout(&output)
    );
}

// ---------------------------------------------------------------------------
// 1. Network.

#[test]
fn restricted_network_blocks_tcp_to_host_loopback() {
    require_sandbox!();
    restricted_network_cannot_reach(|_| Endpoint::tcp());
}

#[test]
fn restricted_network_blocks_udp_to_host_loopback() {
    require_sandbox!();
    restricted_network_cannot_reach(|_| Endpoint::udp());
}

#[test]
fn restricted_network_blocks_a_host_unix_stream_socket_at_a_path() {
    require_sandbox!();
    restricted_network_cannot_reach(|world| Endpoint::unix_stream(&world.outside));
}

#[test]
fn restricted_network_blocks_a_host_unix_datagram_socket_at_a_path() {
    require_sandbox!();
    restricted_network_cannot_reach(|world| Endpoint::unix_datagram(&world.outside, "unix-dgram"));
}

/// `socket(AF_UNIX, SOCK_RAW, 0)` gives a datagram socket (the kernel maps
/// SOCK_RAW to SOCK_DGRAM for AF_UNIX) that could `sendmsg` to any host
/// path; the filter must allow only stream and seqpacket types.
#[test]
fn restricted_network_blocks_unix_raw_datagrams_to_a_host_path() {
    require_sandbox!();
    restricted_network_cannot_reach(|world| Endpoint::unix_datagram(&world.outside, "unix-raw"));
}

#[test]
fn restricted_network_blocks_a_host_abstract_unix_socket() {
    require_sandbox!();
    restricted_network_cannot_reach(|_| Endpoint::abstract_stream());
}

#[test]
fn only_the_restricted_sandbox_has_its_own_network_namespace() {
    require_sandbox!();
    require_own_proc!();
    let world = World::new();
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host = host.to_str().unwrap();
    let output = world.run(&[], &["readlink", "/proc/self/ns/net"]);
    assert_code(&output, 0);
    let restricted = stdout(&output);
    assert!(restricted.starts_with("net:["), "{restricted}");
    assert_ne!(restricted.trim(), host);
    let output = world.run(NETWORK_ENABLED, &["readlink", "/proc/self/ns/net"]);
    assert_code(&output, 0);
    assert_eq!(stdout(&output).trim(), host);
}

// ---------------------------------------------------------------------------
// 1b. Host Unix sockets with the network enabled: the host's network
// namespace, where only the guard's supervisor keeps them closed.

/// With the network enabled, the probe `args` fails with `errno`, and
/// nothing reaches `endpoint`; unsandboxed, the same attempt arrives.
fn enabled_network_cannot_reach(
    world: &World,
    probe: &Path,
    endpoint: &Endpoint,
    args: &[&str],
    errno: &str,
) {
    let what = args.join(" ");
    let output = sandboxed(world, NETWORK_ENABLED, probe, args);
    assert!(
        !endpoint.arrives_within(QUIET_PERIOD),
        "`{what}` with the network enabled reached the host: {}",
        stdout(&output)
    );
    assert_code(&output, 1);
    assert!(
        stdout(&output).contains(&format!(": {errno}")),
        "`{what}`: expected {errno}, got: {}",
        stdout(&output)
    );
    assert_code(&unsandboxed(probe, args), 0);
    assert!(
        endpoint.arrives_within(ARRIVAL_LIMIT),
        "`{what}` unsandboxed never arrived"
    );
}

#[test]
fn enabled_network_keeps_a_host_unix_socket_closed_by_every_spelling() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let endpoint = Endpoint::unix_stream(&world.outside);
    let path = world.outside.join("stream.sock");
    let path = path.to_str().unwrap();
    let link = world.ws.join("link.sock");
    std::os::unix::fs::symlink(path, &link).unwrap();
    for args in [
        ["unix", path],
        ["unix-fd", path],
        ["unix", link.to_str().unwrap()],
    ] {
        // Without a /proc of its own, the sandbox has no /proc/self/fd to
        // connect through.
        let errno = if args[0] == "unix-fd" && no_proc_pass() {
            "ENOENT"
        } else {
            "EACCES"
        };
        enabled_network_cannot_reach(&world, probe, &endpoint, &args, errno);
    }
    // The refusal names the socket, once per run however often it is tried.
    let output = world.sh(
        NETWORK_ENABLED,
        &format!("{0} unix {path}; {0} unix {path}", probe.display()),
    );
    let said = stderr(&output)
        .matches(&format!("Unix socket {path} "))
        .count();
    assert_eq!(said, 1, "{}", stderr(&output));
}

#[test]
fn enabled_network_keeps_host_abstract_names_and_datagram_sockets_closed() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let endpoint = Endpoint::abstract_stream();
    let args: Vec<&str> = endpoint.probe_args.iter().map(String::as_str).collect();
    enabled_network_cannot_reach(&world, probe, &endpoint, &args, "EACCES");
    for kind in ["unix-dgram", "unix-raw"] {
        let endpoint = Endpoint::unix_datagram(&world.outside, kind);
        let args: Vec<&str> = endpoint.probe_args.iter().map(String::as_str).collect();
        enabled_network_cannot_reach(&world, probe, &endpoint, &args, "EPERM");
        std::fs::remove_file(world.outside.join("datagram.sock")).unwrap();
    }
}

#[test]
fn enabled_network_refuses_binding_an_abstract_name_a_host_client_would_reach() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let name = unique_name("bind");
    let output = sandboxed(&world, NETWORK_ENABLED, probe, &["abstract-bind", &name]);
    assert_code(&output, 1);
    assert!(stdout(&output).contains(": EACCES"), "{}", stdout(&output));
    assert!(
        stderr(&output).contains(&format!("@{name}")),
        "{}",
        stderr(&output)
    );
    assert_code(&unsandboxed(probe, &["abstract-bind", &name]), 0);
}

#[test]
fn an_address_rewritten_during_connect_never_reaches_a_host_socket() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let endpoint = Endpoint::unix_stream(&world.outside);
    let host = world.outside.join("stream.sock");
    let own = world.ws.join("own.sock");
    let args = ["unix-race", host.to_str().unwrap(), own.to_str().unwrap()];
    let output = sandboxed(&world, NETWORK_ENABLED, probe, &args);
    assert_code(&output, 0);
    // Connects to its own socket went through: the race ran.
    assert!(
        !stdout(&output).contains("unix-race: ok 0"),
        "{}",
        stdout(&output)
    );
    assert!(
        !endpoint.arrives_within(QUIET_PERIOD),
        "a rewritten address reached the host: {}",
        stdout(&output)
    );
    std::fs::remove_file(&own).unwrap();
    assert_code(&unsandboxed(probe, &args), 0);
    assert!(
        endpoint.arrives_within(ARRIVAL_LIMIT),
        "unsandboxed, the race never reached the host socket"
    );
}

#[test]
fn a_bind_raced_through_another_processs_descriptor_makes_no_host_socket_the_commands() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let endpoint = Endpoint::unix_stream(&world.outside);
    let host = world.outside.join("stream.sock");
    let empty = world.ws.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let args = [
        "unix-bindrace",
        host.to_str().unwrap(),
        empty.to_str().unwrap(),
    ];
    // With and without the protected-name guard (the bind is then carried
    // out as given, through whatever the flipping descriptor names).
    for options in [
        NETWORK_ENABLED.to_vec(),
        [NETWORK_ENABLED, &["--disable", "guard_protected_names"]].concat(),
    ] {
        let output = sandboxed(&world, &options, probe, &args);
        assert!(
            !endpoint.arrives_within(QUIET_PERIOD),
            "{options:?}: a raced bind reached the host socket: {}",
            stdout(&output)
        );
        assert_code(&output, 1);
    }
    assert_code(&unsandboxed(probe, &args), 0);
    assert!(
        endpoint.arrives_within(ARRIVAL_LIMIT),
        "unsandboxed, nothing arrived"
    );
}

/// After the statements `prelude`, waits (up to 20 s) for the file
/// `argv[2]`, then connects to the Unix socket `argv[1]` and prints
/// `connected` or `refused ERRNO`.
fn wait_then_connect(prelude: &str) -> String {
    format!(
        "import os, socket, sys, time\n{prelude}
deadline = time.time() + 20
while not os.path.exists(sys.argv[2]) and time.time() < deadline:
    time.sleep(0.01)
c = socket.socket(socket.AF_UNIX)
try:
    c.connect(sys.argv[1])
    print('connected')
except OSError as err:
    print('refused', err.errno)
"
    )
}

/// Runs [`wait_then_connect`]`(prelude)` in `world`'s sandbox with
/// `options`, connecting to `target` once `signal` exists.
fn spawn_waiting_connect(
    world: &World,
    options: &[&str],
    prelude: &str,
    target: &Path,
    signal: &Path,
) -> Child {
    let script = wait_then_connect(prelude);
    world
        .command(
            options,
            &[
                Path::new("/usr/bin/python3").as_os_str(),
                "-c".as_ref(),
                script.as_ref(),
                target.as_os_str(),
                signal.as_os_str(),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The sandboxed half of the inode-reuse attack: binds 300 sockets in the
/// workspace, removes and closes them (freeing their inode numbers, which
/// ext4 hands to the next files made), and says so.
const INODE_SPRAY: &str = "
os.mkdir('spray')
sockets = []
for i in range(300):
    s = socket.socket(socket.AF_UNIX)
    s.bind(f'spray/{i}')
    sockets.append(s)
for i in range(300):
    os.unlink(f'spray/{i}')
for s in sockets:
    s.close()
open('ready', 'w').close()
";

#[test]
fn a_host_socket_given_a_freed_inode_number_is_not_the_commands() {
    require_sandbox!();
    let world = World::new();
    let host = world.outside.join("late.sock");
    let ready = world.ws.join("ready");
    let child = spawn_waiting_connect(&world, NETWORK_ENABLED, INODE_SPRAY, &host, &host);
    let started = Instant::now();
    while !ready.exists() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ready.exists(), "the sandboxed spray never finished");
    let listener = UnixListener::bind(&host).unwrap();
    listener.set_nonblocking(true).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_refused_and_unreached(&listener, &output);
}

/// The command's connect to `listener` was refused (`EACCES`, as its
/// script prints) and nothing reached it.
fn assert_refused_and_unreached(listener: &UnixListener, output: &Output) {
    assert!(
        listener.accept().is_err(),
        "the command reached a host socket: {}",
        stdout(output)
    );
    assert!(
        stdout(output).contains(&format!("refused {}", libc::EACCES)),
        "{}",
        stdout(output)
    );
}

#[test]
fn enabled_network_refuses_an_abstract_name_the_kernel_would_choose() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let output = sandboxed(&world, NETWORK_ENABLED, probe, &["autobind"]);
    assert_code(&output, 1);
    assert!(stdout(&output).contains(": EACCES"), "{}", stdout(&output));
    assert_code(&unsandboxed(probe, &["autobind"]), 0);
    // In the restricted sandbox's own network namespace the name would be
    // the sandbox's, but bind is denied there anyway.
}

#[test]
fn a_socket_given_a_kernel_chosen_abstract_name_cannot_serve_the_host() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let output = sandboxed(
        &world,
        NETWORK_ENABLED,
        probe,
        &[
            "passcred-listen",
            world.ws.join("idle.sock").to_str().unwrap(),
        ],
    );
    assert_code(&output, 1);
    assert!(
        stdout(&output).contains("listen: EACCES"),
        "{}",
        stdout(&output)
    );
    let path = world.outside.join("idle.sock");
    assert_code(
        &unsandboxed(probe, &["passcred-listen", path.to_str().unwrap()]),
        0,
    );
}

#[test]
fn a_listed_socket_the_command_could_replace_is_refused_before_anything_runs() {
    require_sandbox!();
    let world = World::new();
    let in_workspace = world.ws.join("agent.sock");
    let _listener = UnixListener::bind(&in_workspace).unwrap();
    let link = world.outside.join("agent-link.sock");
    std::os::unix::fs::symlink(&in_workspace, &link).unwrap();
    let marker = world.ws.join("ran");
    for listed in [&in_workspace, &link] {
        list_socket(&world, listed.display());
        let output = world.run(&[], &["touch", marker.to_str().unwrap()]);
        assert_code(&output, 78);
        assert!(
            stderr(&output).contains(&format!("writable root {}", world.ws.display())),
            "{}",
            stderr(&output)
        );
        assert!(!marker.exists());
    }
}

#[test]
fn a_listed_socket_removed_during_the_run_lends_its_inode_number_to_no_other() {
    require_sandbox!();
    let world = World::new();
    let listed = world.outside.join("agent.sock");
    let listener = UnixListener::bind(&listed).unwrap();
    list_socket(&world, listed.display());
    let newcomer = world.outside.join("service.sock");
    let go = world.ws.join("go");
    let child = spawn_waiting_connect(&world, &[], "", &newcomer, &go);
    std::thread::sleep(Duration::from_millis(500));
    // The listed server goes away; the next file made nearby (on ext4)
    // would get its inode number, were the sandbox not holding it.
    drop(listener);
    std::fs::remove_file(&listed).unwrap();
    let service = UnixListener::bind(&newcomer).unwrap();
    service.set_nonblocking(true).unwrap();
    std::fs::write(&go, "").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_refused_and_unreached(&service, &output);
}

#[test]
fn a_thread_with_a_descriptor_table_of_its_own_never_gets_another_socket_connected() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let path = world.ws.join("own.sock");
    let output = sandboxed(
        &world,
        NETWORK_ENABLED,
        probe,
        &["unix-own-table", path.to_str().unwrap()],
    );
    // The supervisor copies descriptors from the process's table; the
    // thread's differs, so its connect fails rather than connecting the
    // process's socket of the same number.
    assert_code(&output, 0);
    assert!(
        stdout(&output).contains("thread EBADF, process socket untouched"),
        "{}",
        stdout(&output)
    );
    let path = world.outside.join("own.sock");
    let output = unsandboxed(probe, &["unix-own-table", path.to_str().unwrap()]);
    assert_code(&output, 0);
    assert!(
        stdout(&output).contains("thread connected, process socket untouched"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn sockets_the_command_makes_work_with_the_network_enabled() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let own = world.ws.join("own.sock");
    let output = sandboxed(
        &world,
        NETWORK_ENABLED,
        probe,
        &["unix-own", own.to_str().unwrap()],
    );
    assert_code(&output, 0);
    // By a relative path too, and a socket pair.
    let output = world.sh(
        NETWORK_ENABLED,
        &format!(
            "cd sub 2>/dev/null || mkdir sub && cd sub && {} unix-own rel.sock && \
             /usr/bin/python3 -c 'import socket; a, b = socket.socketpair(); a.send(b\"x\"); print(b.recv(1))'",
            probe.display()
        ),
    );
    assert_code(&output, 0);
    assert!(
        stdout(&output).contains("unix-own: ok"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("b'x'"), "{}", stdout(&output));
}

/// Gives `world` the test profile with the host socket `key` listed
/// (`network.unix_sockets`) and the network restricted.
fn list_socket(world: &World, key: impl std::fmt::Display) {
    world.config(&format!(
        "{}[permissions.test-workspace.network]\nunix_sockets = {{ \"{key}\" = \"allow\" }}\n",
        common::TEST_PROFILE_CONFIG
    ));
}

/// The test profile with `network` in its network table, the host socket
/// `$CODEX_TEST_LISTED` listed there, and `rest` after it.
fn listing_profile(network: &str, rest: &str) -> String {
    format!(
        "{}[permissions.test-workspace.network]\n{network}\nunix_sockets = {{ \"$CODEX_TEST_LISTED\" = \"allow\" }}\n{rest}",
        common::TEST_PROFILE_CONFIG
    )
}

#[test]
fn a_listed_host_socket_is_reachable_in_every_network_mode_and_no_other() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let listed = Endpoint::unix_stream(&world.outside);
    let listed_path = world.outside.join("stream.sock");
    let other_dir = world.outside.join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = Endpoint::unix_stream(&other_dir);
    let other_path = other_dir.join("stream.sock");
    for (network, rest) in [
        ("", ""),
        ("enabled = true", ""),
        ("enabled = true", "[features]\nnetwork_proxy = true\n"),
    ] {
        world.config(&listing_profile(network, rest));
        let network = format!("{network} {rest}");
        let run = |target: &Path| {
            world
                .command(
                    &[],
                    &[probe.as_os_str(), "unix".as_ref(), target.as_os_str()],
                )
                .env("CODEX_TEST_LISTED", &listed_path)
                .output()
                .unwrap()
        };
        let output = run(&listed_path);
        assert_code(&output, 0);
        assert!(
            listed.arrives_within(ARRIVAL_LIMIT),
            "[{network}] the listed socket was not reached: {}{}",
            stdout(&output),
            stderr(&output)
        );
        let output = run(&other_path);
        assert_code(&output, 1);
        assert!(
            stdout(&output).contains(": EACCES"),
            "[{network}] {}",
            stdout(&output)
        );
        assert!(
            !other.arrives_within(QUIET_PERIOD),
            "[{network}] an unlisted host socket was reached"
        );
        assert!(
            stderr(&output).contains("unix_sockets"),
            "[{network}] the refusal names no key: {}",
            stderr(&output)
        );
    }
}

#[test]
fn ssh_add_reaches_a_listed_agent_and_no_other() {
    require_sandbox!();
    if Command::new("ssh-agent").arg("-h").output().is_err() {
        eprintln!(
            "SKIPPED ssh_add_reaches_a_listed_agent_and_no_other: no ssh-agent (openssh-client)"
        );
        return;
    }
    let world = World::new();
    let socket = world.outside.join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !socket.exists() && started.elapsed() < ARRIVAL_LIMIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ssh_add = |listed: &str| {
        list_socket(&world, listed);
        world
            .command(&[], &["ssh-add", "-l"])
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .unwrap()
    };
    // Listed through the shorthand: the agent answers (it holds no key).
    let output = ssh_add(":ssh_agent");
    let _ = agent.kill();
    let _ = agent.wait();
    assert_code(&output, 1);
    assert!(
        stdout(&output).contains("no identities"),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(world.outside.join("agent2.sock"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Another socket listed: this agent stays out of reach.
    list_socket(&world, socket.display());
    let output = world
        .command(&[], &["ssh-add", "-l"])
        .env("SSH_AUTH_SOCK", world.outside.join("agent2.sock"))
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    assert_code(&output, 2);
    assert!(
        stderr(&output).contains("refused to connect"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn listing_a_container_engine_socket_warns_that_it_gives_the_host() {
    require_sandbox!();
    let world = World::new();
    let path = world.outside.join("docker.sock");
    let _listener = UnixListener::bind(&path).unwrap();
    list_socket(&world, path.display());
    let output = world.run(&[], &["true"]);
    assert_code(&output, 0);
    let said = stderr(&output)
        .matches(&format!("allows {}", path.display()))
        .count();
    assert_eq!(said, 1, "{}", stderr(&output));
}

#[test]
fn a_unix_socket_key_of_no_known_form_is_refused_naming_it() {
    require_sandbox!();
    let world = World::new();
    list_socket(&world, "agent.sock");
    let marker = world.ws.join("ran");
    let output = world.run(&[], &["touch", marker.to_str().unwrap()]);
    assert_ne!(output.status.code(), Some(0));
    assert!(
        stderr(&output).contains("unix_sockets.\"agent.sock\""),
        "{}",
        stderr(&output)
    );
    assert!(!marker.exists());
}

// ---------------------------------------------------------------------------
// 2. System calls.

/// A call the host allows (shown first) fails with EPERM in the sandbox, in
/// both network modes.
fn denied_in_the_sandbox_allowed_outside(call: &str) {
    let probe = require_probe!();
    let outside = unsandboxed(probe, &[call]);
    if outside.status.code() != Some(0) {
        eprintln!(
            "SKIPPED {}: `{call}` fails on this host even unsandboxed, so a denial would prove nothing: {}",
            module_path!(),
            stdout(&outside)
        );
        return;
    }
    let world = World::new();
    for options in BOTH_NETWORK_MODES {
        let output = sandboxed(&world, options, probe, &[call]);
        assert_eperm(&output, &format!("{call} with {options:?}"));
    }
}

#[test]
fn io_uring_setup_is_denied() {
    require_sandbox!();
    denied_in_the_sandbox_allowed_outside("io_uring");
}

/// A thread with a umask of its own (`clone` without `CLONE_FS`) that
/// execs takes over its process's id: what it creates next gets its own
/// umask (077), not the one the process's first thread had (022), which
/// the guard's supervisor keeps between calls.
#[test]
fn an_exec_from_a_thread_with_its_own_umask_creates_with_that_umask() {
    require_sandbox!();
    let probe = require_probe!();
    let world = World::new();
    let expected = [
        ("after-exec", 0o600),
        ("after-exec-dir", 0o700),
        ("leader", 0o644),
        ("thread", 0o600),
    ];
    for options in [&["--disable", "guard_protected_names"][..], &[]] {
        let dir = world.ws.join("made");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let output = sandboxed(
            &world,
            options,
            probe,
            &["umask-exec-thread", dir.to_str().unwrap()],
        );
        assert_code(&output, 0);
        for (name, mode) in expected {
            let made = std::fs::metadata(dir.join(name))
                .unwrap_or_else(|err| panic!("{name} ({options:?}): {err}"))
                .permissions()
                .mode();
            assert_eq!(made & 0o777, mode, "{name} with {options:?}");
        }
    }
}

#[test]
fn ptrace_traceme_is_denied() {
    require_sandbox!();
    denied_in_the_sandbox_allowed_outside("ptrace");
}

#[test]
fn process_vm_readv_is_denied() {
    require_sandbox!();
    denied_in_the_sandbox_allowed_outside("vm_readv");
}

/// A syscall through another ABI kills the sandboxed process with SIGSYS;
/// outside the sandbox the same probe returns (successfully or with an
/// errno) or dies of something else.
#[cfg(target_arch = "x86_64")]
fn other_abi_kills_with_sigsys(call: &str) {
    let probe = require_probe!();
    let outside = unsandboxed(probe, &[call]);
    assert_ne!(
        outside.status.signal(),
        Some(libc::SIGSYS),
        "`{call}` dies of SIGSYS even outside the sandbox"
    );
    eprintln!(
        "{call} outside the sandbox: {:?} {}",
        outside.status,
        stdout(&outside).trim()
    );
    let world = World::new();
    for options in BOTH_NETWORK_MODES {
        let output = sandboxed(&world, options, probe, &[call]);
        assert_code(&output, KILLED_BY_SIGSYS);
        assert_eq!(stdout(&output), "", "the probe went on after `{call}`");
        // Control: the probe itself runs in this sandbox.
        assert_eperm(&sandboxed(&world, options, probe, &["ptrace"]), "ptrace");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn an_x32_syscall_kills_the_process() {
    require_sandbox!();
    other_abi_kills_with_sigsys("x32");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn an_i386_int80_syscall_kills_the_process() {
    require_sandbox!();
    other_abi_kills_with_sigsys("int80");
}

/// The `NoNewPrivs`, `Seccomp` and `Seccomp_filters` lines of a
/// `/proc/PID/status` text.
fn seccomp_status(status: &str) -> Vec<(String, String)> {
    status
        .lines()
        .filter_map(|line| line.split_once(":\t"))
        .filter(|(key, _)| ["NoNewPrivs", "Seccomp", "Seccomp_filters"].contains(key))
        .map(|(key, value)| (key.to_string(), value.trim().to_string()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

#[test]
fn the_sandboxed_process_has_no_new_privs_and_a_seccomp_filter() {
    require_sandbox!();
    require_own_proc!();
    let world = World::new();
    for options in BOTH_NETWORK_MODES {
        let output = world.run(options, &["cat", "/proc/self/status"]);
        assert_code(&output, 0);
        let text = stdout(&output);
        assert!(text.contains("NoNewPrivs:\t1\n"), "{text}");
        assert!(text.contains("Seccomp:\t2\n"), "{text}");
        let inside = seccomp_status(&text);

        // Control: the same read without a sandbox shows this host
        // process's own state, one filter fewer (where the kernel counts).
        let output = world.run(
            &["-P", ":danger-full-access"],
            &["cat", "/proc/self/status"],
        );
        assert_code(&output, 0);
        let outside = seccomp_status(&stdout(&output));
        let host = seccomp_status(&std::fs::read_to_string("/proc/self/status").unwrap());
        assert_eq!(outside, host);
        assert_ne!(inside, outside, "the sandbox changed nothing");
        if let (Some(inside), Some(outside)) = (
            field(&inside, "Seccomp_filters"),
            field(&outside, "Seccomp_filters"),
        ) {
            let inside: u32 = inside.parse().unwrap();
            let outside: u32 = outside.parse().unwrap();
            assert!(
                inside > outside,
                "filters: {inside} inside, {outside} outside"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 3. Processes.

/// A host process that is killed (and reaped) when the test ends, however
/// it ends.
struct HostProcess(Child);

impl HostProcess {
    /// `sleep 30` with `CODEX_ISOLATION_MARKER=marker` in its environment,
    /// once the host can read the marker in its `/proc/PID/environ`.
    fn sleeper(marker: &str) -> Self {
        let child = Command::new("sleep")
            .arg("30")
            .env("CODEX_ISOLATION_MARKER", marker)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut process = HostProcess(child);
        // `spawn` can return before the kernel has set up the new
        // program's environment; wait until the host can read the marker,
        // so that its absence in the sandbox means something.
        let environ = format!("/proc/{}/environ", process.pid());
        let start = Instant::now();
        while !std::fs::read(&environ)
            .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(marker))
        {
            assert!(process.alive(), "sleep exited early");
            assert!(
                start.elapsed() < ARRIVAL_LIMIT,
                "the marker never showed in {environ}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        process
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    /// Waits up to `limit` for the process to end; its status if it did.
    fn ended_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Signals `pid` and reads its environment, reporting each step.
fn poke_script(pid: u32) -> String {
    format!(
        "kill -0 {pid}; echo kill0=$?; \
         cat /proc/{pid}/environ; echo \" environ=$?\"; \
         kill -TERM {pid}; echo term=$?; \
         kill -0 $$ && echo self=ok"
    )
}

/// The script's own report lines, without anything it read: a failure
/// message must not carry a host environment into the test log.
fn report(out: &str) -> String {
    out.lines()
        .filter_map(|line| {
            ["kill0=", "environ=", "term=", "self="]
                .iter()
                .find_map(|key| line.rfind(key).map(|at| &line[at..]))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn host_processes_cannot_be_signalled_or_inspected() {
    require_sandbox!();
    let world = World::new();
    let marker = unique_name("marker");
    let mut victim = HostProcess::sleeper(&marker);
    let script = poke_script(victim.pid());
    let modes: [&[&str]; 3] = [
        &[],
        NETWORK_ENABLED,
        &["--no-proc", "--disable", "guard_protected_names"],
    ];
    for options in modes {
        let output = world.sh(options, &script);
        let out = stdout(&output);
        assert!(
            !out.contains(&marker) && !stderr(&output).contains(&marker),
            // Not the output itself: it would be the whole host environment.
            "{options:?}: the sandbox read the host process's environment (marker in its output)"
        );
        let report = report(&out);
        assert!(out.contains("kill0=1"), "{options:?}: {report}");
        assert!(out.contains("term=1"), "{options:?}: {report}");
        // Control: signalling works on the sandbox's own processes.
        assert!(out.contains("self=ok"), "{options:?}: {report}");
        assert!(victim.alive(), "{options:?}: the host process was killed");
    }

    // Control: the same script without a sandbox reads the marker and kills.
    let mut control = HostProcess::sleeper(&marker);
    let output = world.sh(&["-P", ":danger-full-access"], &poke_script(control.pid()));
    let out = stdout(&output);
    assert!(out.contains(&marker), "{}", report(&out));
    assert!(
        out.contains("kill0=0") && out.contains("term=0"),
        "{}",
        report(&out)
    );
    let status = control.ended_within(ARRIVAL_LIMIT);
    assert_eq!(
        status.and_then(|status| status.signal()),
        Some(libc::SIGTERM),
        "the unsandboxed kill did not land"
    );
    assert!(victim.alive(), "the host process died on its own");
}

// ---------------------------------------------------------------------------
// Inherited descriptors.

/// The descriptors the command holds, found with `fstat` (no `/proc`
/// needed): only its standard streams, in every pipeline, also the one
/// whose supervisor holds the outer stage's `/proc` (`--no-proc`) and the
/// one that supervises sockets (network enabled), though this test process
/// passes descriptors of its own to `codex`. The control shows that the
/// probe sees a descriptor the shell opened.
#[test]
fn the_command_holds_only_its_standard_streams_with_or_without_proc() {
    require_sandbox!();
    let world = World::new();
    let probe = "import os\n\
                 open_fds = []\n\
                 for fd in range(1024):\n\
                 \x20   try:\n\
                 \x20       os.fstat(fd)\n\
                 \x20       open_fds.append(fd)\n\
                 \x20   except OSError:\n\
                 \x20       pass\n\
                 print(open_fds)";
    let network_no_proc = [NETWORK_ENABLED, &["--no-proc"]].concat();
    let modes: [&[&str]; 4] = [&[], &["--no-proc"], NETWORK_ENABLED, &network_no_proc];
    for options in modes {
        let output = world.run(options, &["python3", "-c", probe]);
        assert_code(&output, 0);
        assert_eq!(
            stdout(&output),
            "[0, 1, 2]\n",
            "{options:?}: {}",
            stderr(&output)
        );
    }
    let control = Command::new("sh")
        .args(["-c", "exec 5</dev/null; exec python3 -c \"$0\"", probe])
        .output()
        .unwrap();
    // Whatever else this test process passes on (a jobserver's pipes),
    // the probe sees the descriptor the shell opened.
    assert!(
        stdout(&control).starts_with("[0, 1, 2, 5"),
        "{}{}",
        stdout(&control),
        stderr(&control)
    );
}

/// A directory descriptor inherited by `codex` would let the command
/// `openat` outside every mount; none may cross into the sandbox. The
/// control runs the same listing with the same inheritance, unsandboxed.
#[test]
fn descriptors_inherited_by_the_sandbox_do_not_reach_the_command() {
    require_sandbox!();
    require_own_proc!();
    let world = World::new();
    std::fs::write(world.outside.join("secret"), "outside").unwrap();
    let listing =
        "ls /proc/self/fd | tr '\\n' ' '; cat /proc/self/fd/7/secret 2>/dev/null || echo no-secret";
    let sandboxed = world.command(&[], &["/bin/sh", "-c", listing]);
    let mut with_fd_7 = Command::new("/bin/sh");
    with_fd_7
        .arg("-c")
        .arg(format!(
            "exec 7<'{}'; exec \"$0\" \"$@\"",
            world.outside.display()
        ))
        .arg(sandboxed.get_program())
        .args(sandboxed.get_args())
        .env("CODEX_HOME", &world.codex_home)
        .stdin(Stdio::null());
    let output = with_fd_7.output().unwrap();
    assert_code(&output, 0);
    assert_eq!(
        stdout(&output),
        "0 1 2 3 no-secret\n",
        "{}",
        stderr(&output)
    );

    let control = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("exec 7<'{}'; {listing}", world.outside.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        stdout(&control).ends_with("outside"),
        "{}",
        stdout(&control)
    );
}
