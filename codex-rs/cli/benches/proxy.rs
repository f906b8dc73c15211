//! Cost of the proxy route (network mode proxy) against a direct loopback
//! connection, measured in the same run.
//!
//! Run with `cargo bench -p codex-cli --bench proxy` (or `just bench`). It
//! prints numbers and never fails on a threshold; it exits non-zero only
//! when it cannot run (no usable sandbox, a client that fails).
//!
//! # What is measured
//!
//! Two servers run on host loopback in this process: an echo server
//! (answers each byte it reads) and a sink (reads until EOF, then answers
//! with the byte count). This same bench binary is the client
//! (`CODEX_BENCH_PROXY_CLIENT` selects that mode), started twice with the
//! same arguments:
//!
//! - **direct**: on the host, connecting straight to the servers;
//! - **bridged**: inside `codex sandbox` with network mode proxy and
//!   `HTTP_PROXY`/`HTTPS_PROXY` naming the two servers, so every connection
//!   goes to the inner stage's listener in the sandbox's namespace and is
//!   forwarded by the bridge in `codex` (splice) to the server.
//!
//! The client times, for each mode:
//!
//! - **connect latency**: 300 rounds of connect, one byte to the echo
//!   server and back, close (after 20 discarded warm-up rounds); the median
//!   is reported. The bridged median minus the direct one is the latency
//!   the route adds to each connection (its own accept, a connect to the
//!   server and two splice hops).
//! - **throughput**: 5 transfers of 512 MiB to the sink in 256 KiB writes,
//!   each timed from connect to the sink's byte count; the median is
//!   reported as MiB/s.
//!
//! Targets (issue 6): bridged throughput at least 70% of direct, at most
//! 0.5 ms added per connection.
//!
//! # CPU per GiB
//!
//! The report also gives the CPU time all parties together spent per GiB
//! moved: this process (the servers are its threads) plus the client, or
//! plus `codex sandbox` and every descendant it reaped (bwrap, the client)
//! for the bridged run (`RUSAGE_SELF` + `RUSAGE_CHILDREN` deltas). Loopback
//! TCP work is charged to whichever task the kernel happens to run it in,
//! so only the total is meaningful; it includes the latency rounds, which
//! are small beside 2.5 GiB.

#[cfg(target_os = "linux")]
fn main() {
    if let Ok(spec) = std::env::var("CODEX_BENCH_PROXY_CLIENT") {
        match linux::client(&spec) {
            Ok(report) => println!("{report}"),
            Err(message) => {
                eprintln!("proxy bench client: {message}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Err(message) = linux::main() {
        eprintln!("proxy bench: cannot run: {message}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("proxy bench: skipped, the sandbox benchmark needs Linux");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    const LATENCY_WARM_UPS: usize = 20;
    const LATENCY_ROUNDS: usize = 300;
    const TRANSFERS: usize = 5;
    const TRANSFER_BYTES: u64 = 512 * 1024 * 1024;
    const WRITE_SIZE: usize = 256 * 1024;
    const TARGET_THROUGHPUT_RATIO: f64 = 0.7;
    const TARGET_ADDED_LATENCY_MS: f64 = 0.5;

    pub fn main() -> Result<(), String> {
        let codex = std::env::var("CODEX_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_codex").to_string());
        let me = std::env::current_exe().map_err(|err| format!("own path: {err}"))?;
        let echo = start_server(serve_echo)?;
        let sink = start_server(serve_sink)?;
        let spec = format!("{echo} {sink}");
        println!("codex binary: {codex}");
        println!("servers on host loopback: echo {echo}, sink {sink}");

        let before = Usage::now();
        let direct = Command::new(&me)
            .env("CODEX_BENCH_PROXY_CLIENT", &spec)
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("direct client: {err}"))?;
        let direct_usage = Usage::now().since(&before);
        let direct = parse_report("direct", &direct)?;

        let workspace = tempfile::tempdir().map_err(|err| format!("workspace: {err}"))?;
        let codex_home = tempfile::tempdir().map_err(|err| format!("CODEX_HOME: {err}"))?;
        std::fs::write(
            codex_home.path().join("config.toml"),
            "[permissions.bench.filesystem]\n\":root\" = \"read\"\n\":workspace_roots\" = \"write\"\n\
             [permissions.bench.network]\nmode = \"proxy\"\n",
        )
        .map_err(|err| format!("config: {err}"))?;
        let before = Usage::now();
        let bridged = Command::new(&codex)
            .args(["sandbox", "-P", "bench", "--"])
            .arg(&me)
            .current_dir(workspace.path())
            .env("CODEX_HOME", codex_home.path())
            .env("CODEX_BENCH_PROXY_CLIENT", &spec)
            .env("HTTP_PROXY", format!("http://{echo}"))
            .env("HTTPS_PROXY", format!("http://{sink}"))
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("codex sandbox: {err}"))?;
        let bridged_usage = Usage::now().since(&before);
        let bridged = parse_report("bridged", &bridged)?;

        println!();
        println!(
            "mode        connect+1B median ms   throughput MiB/s (median of {TRANSFERS} x 512 MiB)   CPU s/GiB (all parties)"
        );
        let gib = (TRANSFERS as u64 * TRANSFER_BYTES) as f64 / (1024.0 * 1024.0 * 1024.0);
        for (name, report, usage) in [
            ("direct", &direct, &direct_usage),
            ("bridged", &bridged, &bridged_usage),
        ] {
            println!(
                "{name:<10}  {:>20.3}   {:>38.0}   {:>23.3}",
                report.latency_ms,
                report.mib_per_s,
                (usage.own + usage.children) / gib
            );
        }
        let ratio = bridged.mib_per_s / direct.mib_per_s;
        let added = bridged.latency_ms - direct.latency_ms;
        println!();
        println!(
            "throughput bridged / direct = {ratio:.3}   target >= {TARGET_THROUGHPUT_RATIO}   {}",
            verdict(ratio >= TARGET_THROUGHPUT_RATIO)
        );
        println!(
            "added per connection = {added:.3} ms   target <= {TARGET_ADDED_LATENCY_MS} ms   {}",
            verdict(added <= TARGET_ADDED_LATENCY_MS)
        );
        Ok(())
    }

    fn verdict(met: bool) -> &'static str {
        if met { "met" } else { "NOT met" }
    }

    struct Report {
        latency_ms: f64,
        mib_per_s: f64,
    }

    /// CPU seconds (user + system) of this process and of its reaped
    /// descendants.
    struct Usage {
        own: f64,
        children: f64,
    }

    impl Usage {
        fn now() -> Self {
            Usage {
                own: cpu_seconds(libc::RUSAGE_SELF),
                children: cpu_seconds(libc::RUSAGE_CHILDREN),
            }
        }

        fn since(&self, earlier: &Usage) -> Usage {
            Usage {
                own: self.own - earlier.own,
                children: self.children - earlier.children,
            }
        }
    }

    fn cpu_seconds(who: libc::c_int) -> f64 {
        // SAFETY: an all-zero `rusage` is valid, and getrusage only writes
        // into the local it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::getrusage(who, &mut usage) };
        let seconds = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    fn parse_report(mode: &str, output: &std::process::Output) -> Result<Report, String> {
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "{mode} client failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let mut fields = text.split_whitespace().map(str::parse::<f64>);
        match (fields.next(), fields.next()) {
            (Some(Ok(latency_ms)), Some(Ok(mib_per_s))) => Ok(Report {
                latency_ms,
                mib_per_s,
            }),
            _ => Err(format!("{mode} client printed {text:?}")),
        }
    }

    fn start_server(serve: fn(TcpStream)) -> Result<SocketAddr, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|err| format!("bind a server: {err}"))?;
        let addr = listener
            .local_addr()
            .map_err(|err| format!("server address: {err}"))?;
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream));
            }
        });
        Ok(addr)
    }

    fn serve_echo(mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let mut byte = [0u8; 1];
        while stream.read_exact(&mut byte).is_ok() {
            if stream.write_all(&byte).is_err() {
                return;
            }
        }
    }

    fn serve_sink(mut stream: TcpStream) {
        let mut buffer = vec![0u8; WRITE_SIZE];
        let mut total: u64 = 0;
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => total += read as u64,
                Err(_) => return,
            }
        }
        let _ = stream.write_all(&total.to_le_bytes());
    }

    /// The client: `spec` is `ECHO_ADDR SINK_ADDR`; prints
    /// `LATENCY_MS MIB_PER_S`.
    pub fn client(spec: &str) -> Result<String, String> {
        let mut addrs = spec.split_whitespace().map(str::parse::<SocketAddr>);
        let (Some(Ok(echo)), Some(Ok(sink))) = (addrs.next(), addrs.next()) else {
            return Err(format!("bad spec {spec:?}"));
        };
        let mut latencies = Vec::with_capacity(LATENCY_ROUNDS);
        for round in 0..LATENCY_WARM_UPS + LATENCY_ROUNDS {
            let start = Instant::now();
            let mut stream =
                TcpStream::connect(echo).map_err(|err| format!("connect {echo}: {err}"))?;
            stream
                .set_nodelay(true)
                .map_err(|err| format!("nodelay: {err}"))?;
            stream
                .write_all(b"x")
                .map_err(|err| format!("echo write: {err}"))?;
            let mut byte = [0u8; 1];
            stream
                .read_exact(&mut byte)
                .map_err(|err| format!("echo read: {err}"))?;
            drop(stream);
            if round >= LATENCY_WARM_UPS {
                latencies.push(start.elapsed());
            }
        }
        let mut rates = Vec::with_capacity(TRANSFERS);
        let chunk = vec![0x5au8; WRITE_SIZE];
        for _ in 0..TRANSFERS {
            let start = Instant::now();
            let mut stream =
                TcpStream::connect(sink).map_err(|err| format!("connect {sink}: {err}"))?;
            let mut sent: u64 = 0;
            while sent < TRANSFER_BYTES {
                stream
                    .write_all(&chunk)
                    .map_err(|err| format!("sink write: {err}"))?;
                sent += WRITE_SIZE as u64;
            }
            stream
                .shutdown(Shutdown::Write)
                .map_err(|err| format!("shutdown: {err}"))?;
            let mut count = [0u8; 8];
            stream
                .read_exact(&mut count)
                .map_err(|err| format!("sink count: {err}"))?;
            if u64::from_le_bytes(count) != sent {
                return Err("the sink received a different byte count".into());
            }
            rates.push(sent as f64 / (1024.0 * 1024.0) / start.elapsed().as_secs_f64());
        }
        Ok(format!(
            "{} {}",
            ms(median(&mut latencies)),
            median_f64(&mut rates)
        ))
    }

    fn median(times: &mut [Duration]) -> Duration {
        times.sort_unstable();
        times[times.len() / 2]
    }

    fn median_f64(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    fn ms(duration: Duration) -> f64 {
        duration.as_secs_f64() * 1000.0
    }
}
