//! The filter is checked by running it: a minimal classic-BPF evaluator
//! (only the instructions seccompiler and the x32 guard emit) decides each
//! synthetic syscall, so every rule is tested without the kernel.

use super::*;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// Evaluates `program` on `seccomp_data { nr, arch, ip: 0, args }`.
fn run(program: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for arg in args {
        data.extend_from_slice(&arg.to_ne_bytes());
    }
    let word = |offset: u32| {
        let o = offset as usize;
        u32::from_ne_bytes(data[o..o + 4].try_into().unwrap())
    };
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let insn = &program[pc];
        pc += 1;
        let jump = |taken: bool| {
            if taken {
                insn.jt as usize
            } else {
                insn.jf as usize
            }
        };
        match insn.code {
            0x20 => acc = word(insn.k),            // ld  [k]
            0x54 => acc &= insn.k,                 // and #k
            0x05 => pc += insn.k as usize,         // ja
            0x15 => pc += jump(acc == insn.k),     // jeq #k
            0x25 => pc += jump(acc > insn.k),      // jgt #k
            0x35 => pc += jump(acc >= insn.k),     // jge #k
            0x45 => pc += jump(acc & insn.k != 0), // jset #k
            0x06 => return insn.k,                 // ret #k
            code => panic!("instruction {code:#x} not modelled"),
        }
    }
}

fn syscall(program: &[sock_filter], nr: i64, args: [u64; 6]) -> u32 {
    run(program, nr as u32, AUDIT_ARCH_X86_64, args)
}

fn filter(network: NetworkMode) -> BpfProgram {
    build_filter(network, ListedSockets::None).unwrap()
}

const AF_UNIX: u64 = libc::AF_UNIX as u64;
const AF_INET: u64 = libc::AF_INET as u64;
const AF_INET6: u64 = libc::AF_INET6 as u64;
const AF_NETLINK: u64 = libc::AF_NETLINK as u64;
const STREAM: u64 = libc::SOCK_STREAM as u64;
const DGRAM: u64 = libc::SOCK_DGRAM as u64;
const CLOEXEC: u64 = libc::SOCK_CLOEXEC as u64;
const ALL_MODES: [NetworkMode; 3] = [
    NetworkMode::Restricted,
    NetworkMode::Enabled,
    NetworkMode::Proxy,
];

#[test]
#[cfg(target_arch = "x86_64")]
fn ordinary_syscalls_are_allowed_in_every_mode() {
    for network in ALL_MODES {
        let program = filter(network);
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_clone,
        ] {
            assert_eq!(
                syscall(&program, nr, [0; 6]),
                RET_ALLOW,
                "{nr} under {network:?}"
            );
        }
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn debugging_and_io_uring_are_denied_in_every_mode() {
    for network in ALL_MODES {
        let program = filter(network);
        for nr in ALWAYS_DENIED {
            assert_eq!(
                syscall(&program, nr, [0; 6]),
                RET_EPERM,
                "{nr} under {network:?}"
            );
        }
    }
}

#[test]
fn set_id_bits_are_denied_in_every_mode_setting_call() {
    let setuid = libc::S_ISUID as u64;
    let setgid = libc::S_ISGID as u64;
    for network in ALL_MODES {
        let program = filter(network);
        for &(nr, arg) in MODE_SETTING {
            let with_mode = |mode: u64| {
                let mut args = [0u64; 6];
                args[usize::from(arg)] = mode;
                syscall(&program, nr, args)
            };
            for mode in [0o755, 0o644, 0o1777, 0o600 | (1 << 32)] {
                assert_eq!(with_mode(mode), RET_ALLOW, "{nr} mode {mode:o}");
            }
            for mode in [
                setuid | 0o755,
                setgid | 0o755,
                setuid | setgid | 0o777,
                setgid,
            ] {
                assert_eq!(
                    with_mode(mode),
                    RET_EPERM,
                    "{nr} mode {mode:o} under {network:?}"
                );
            }
        }
    }
}

/// Asserts that `nr` (`socket` or `socketpair`) makes an `AF_UNIX` socket
/// of every value of the four type bits, whatever the flags, only as a
/// stream or seqpacket socket (`SOCK_RAW`, 3, matters: the kernel turns it
/// into a datagram socket).
#[cfg(target_arch = "x86_64")]
fn assert_unix_streams_only(program: &BpfProgram, nr: i64) {
    for socket_type in 0..16u64 {
        let allowed = socket_type == STREAM || socket_type == libc::SOCK_SEQPACKET as u64;
        let want = if allowed { RET_ALLOW } else { RET_EPERM };
        for flags in [0, CLOEXEC, libc::SOCK_NONBLOCK as u64] {
            assert_eq!(
                syscall(program, nr, [AF_UNIX, socket_type | flags, 0, 0, 0, 0]),
                want,
                "AF_UNIX type {socket_type} flags {flags:#x}"
            );
        }
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn restricted_network_allows_only_unix_stream_sockets() {
    let program = filter(NetworkMode::Restricted);
    for nr in [libc::SYS_socket, libc::SYS_socketpair] {
        assert_unix_streams_only(&program, nr);
        assert_eq!(
            syscall(&program, nr, [AF_UNIX, STREAM, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            syscall(&program, nr, [AF_UNIX, STREAM | CLOEXEC, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            syscall(&program, nr, [AF_UNIX, DGRAM, 0, 0, 0, 0]),
            RET_EPERM
        );
        assert_eq!(
            syscall(&program, nr, [AF_UNIX, DGRAM | CLOEXEC, 0, 0, 0, 0]),
            RET_EPERM
        );
        for family in [AF_INET, AF_INET6, AF_NETLINK, 0] {
            assert_eq!(
                syscall(&program, nr, [family, STREAM, 0, 0, 0, 0]),
                RET_EPERM,
                "family {family}"
            );
        }
        // The kernel reads `family` and `type` as 32-bit ints, and so does
        // the filter: high bits can neither hide AF_INET nor fake AF_UNIX.
        assert_eq!(
            syscall(&program, nr, [AF_INET | 1 << 32, STREAM, 0, 0, 0, 0]),
            RET_EPERM
        );
        assert_eq!(
            syscall(&program, nr, [AF_UNIX | 1 << 32, STREAM, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(
            syscall(&program, nr, [AF_UNIX, DGRAM | 1 << 32, 0, 0, 0, 0]),
            RET_EPERM
        );
    }
    for nr in NETWORK_DENIED {
        assert_eq!(syscall(&program, nr, [3, 0, 0, 0, 0, 0]), RET_EPERM, "{nr}");
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn enabled_network_allows_every_family_and_no_unix_datagram() {
    let program = filter(NetworkMode::Enabled);
    for nr in [libc::SYS_socket, libc::SYS_socketpair] {
        for family in [AF_INET, AF_INET6, AF_NETLINK] {
            for socket_type in 0..16u64 {
                assert_eq!(
                    syscall(&program, nr, [family, socket_type, 0, 0, 0, 0]),
                    RET_ALLOW,
                    "family {family} type {socket_type}"
                );
            }
        }
        assert_unix_streams_only(&program, nr);
        // High bits cannot hide AF_UNIX: the kernel reads an int.
        assert_eq!(
            syscall(&program, nr, [AF_UNIX | 1 << 32, DGRAM, 0, 0, 0, 0]),
            RET_EPERM
        );
    }
    for nr in NETWORK_DENIED {
        assert_eq!(syscall(&program, nr, [3, 0, 0, 0, 0, 0]), RET_ALLOW, "{nr}");
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn proxy_routed_network_allows_internet_sockets_and_no_unix_socket() {
    let program = filter(NetworkMode::Proxy);
    for family in [AF_INET, AF_INET6] {
        for socket_type in [STREAM, DGRAM, STREAM | CLOEXEC] {
            assert_eq!(
                syscall(
                    &program,
                    libc::SYS_socket,
                    [family, socket_type, 0, 0, 0, 0]
                ),
                RET_ALLOW,
                "family {family} type {socket_type}"
            );
        }
    }
    for family in [
        AF_UNIX,
        AF_NETLINK,
        libc::AF_PACKET as u64,
        libc::AF_VSOCK as u64,
        0,
    ] {
        for socket_type in [STREAM, DGRAM, libc::SOCK_SEQPACKET as u64] {
            assert_eq!(
                syscall(
                    &program,
                    libc::SYS_socket,
                    [family, socket_type, 0, 0, 0, 0]
                ),
                RET_EPERM,
                "family {family} type {socket_type}"
            );
        }
    }
    // High bits cannot turn AF_UNIX into an allowed family.
    assert_eq!(
        syscall(
            &program,
            libc::SYS_socket,
            [AF_UNIX | 1 << 32, STREAM, 0, 0, 0, 0]
        ),
        RET_EPERM
    );
    // A socketpair reaches nothing outside the command: stream and
    // seqpacket pairs pass, as in the restricted mode; the rest do not.
    assert_eq!(
        syscall(
            &program,
            libc::SYS_socketpair,
            [AF_UNIX, STREAM | CLOEXEC, 0, 0, 0, 0]
        ),
        RET_ALLOW
    );
    for (family, socket_type) in [(AF_UNIX, DGRAM), (AF_INET, STREAM)] {
        assert_eq!(
            syscall(
                &program,
                libc::SYS_socketpair,
                [family, socket_type, 0, 0, 0, 0]
            ),
            RET_EPERM
        );
    }
    // connect, bind, sendto and the rest are what reaching the proxy takes.
    for nr in NETWORK_DENIED {
        assert_eq!(syscall(&program, nr, [3, 0, 0, 0, 0, 0]), RET_ALLOW, "{nr}");
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn foreign_abis_are_killed() {
    for network in ALL_MODES {
        let program = filter(network);
        // i386 through int 0x80: its ptrace is 26, which is x86_64's msync.
        assert_eq!(run(&program, 26, AUDIT_ARCH_I386, [0; 6]), RET_KILL);
        assert_eq!(run(&program, 20, AUDIT_ARCH_I386, [0; 6]), RET_KILL);
        // x32: ptrace is 0x40000000 + 521; any x32 number is killed.
        assert_eq!(syscall(&program, 0x4000_0000 + 521, [0; 6]), RET_KILL);
        assert_eq!(syscall(&program, 0x4000_0000 + 39, [0; 6]), RET_KILL);
        assert_eq!(syscall(&program, 0x3fff_ffff, [0; 6]), RET_ALLOW);
    }
}

#[test]
fn program_bytes_are_eight_bytes_per_instruction_in_native_order() {
    let program = [sock_filter {
        code: 0x0006,
        jt: 1,
        jf: 2,
        k: 0x7fff_0000,
    }];
    let bytes = program_bytes(&program);
    assert_eq!(bytes.len(), 8);
    assert_eq!(&bytes[0..2], &0x0006u16.to_ne_bytes());
    assert_eq!((bytes[2], bytes[3]), (1, 2));
    assert_eq!(&bytes[4..8], &0x7fff_0000u32.to_ne_bytes());
}

#[test]
#[cfg(target_arch = "x86_64")]
fn listed_sockets_open_the_client_side_of_unix_streams_in_every_mode() {
    let restricted = build_filter(NetworkMode::Restricted, ListedSockets::Some).unwrap();
    for nr in [
        libc::SYS_connect,
        libc::SYS_sendto,
        libc::SYS_getsockopt,
        libc::SYS_getpeername,
        libc::SYS_shutdown,
    ] {
        assert_eq!(
            syscall(&restricted, nr, [3, 0, 0, 0, 0, 0]),
            RET_ALLOW,
            "{nr}"
        );
    }
    for nr in SERVER_CALLS {
        assert_eq!(
            syscall(&restricted, nr, [3, 0, 0, 0, 0, 0]),
            RET_EPERM,
            "{nr}"
        );
    }
    // Still only Unix stream and seqpacket sockets: nothing else to connect.
    let socket = |program: &BpfProgram, family, socket_type| {
        syscall(program, libc::SYS_socket, [family, socket_type, 0, 0, 0, 0])
    };
    assert_eq!(socket(&restricted, AF_UNIX, STREAM), RET_ALLOW);
    assert_eq!(socket(&restricted, AF_UNIX, DGRAM), RET_EPERM);
    assert_eq!(socket(&restricted, AF_INET, STREAM), RET_EPERM);

    let proxy = build_filter(NetworkMode::Proxy, ListedSockets::Some).unwrap();
    for (family, socket_type, want) in [
        (AF_INET, STREAM, RET_ALLOW),
        (AF_INET6, DGRAM, RET_ALLOW),
        (AF_UNIX, STREAM, RET_ALLOW),
        (AF_UNIX, STREAM | CLOEXEC, RET_ALLOW),
        (AF_UNIX, libc::SOCK_SEQPACKET as u64, RET_ALLOW),
        (AF_UNIX, DGRAM, RET_EPERM),
        (AF_UNIX, libc::SOCK_RAW as u64, RET_EPERM),
        (AF_NETLINK, DGRAM, RET_EPERM),
        (0, STREAM, RET_EPERM),
    ] {
        assert_eq!(
            socket(&proxy, family, socket_type),
            want,
            "family {family} type {socket_type}"
        );
    }
    // Listing changes nothing where the network is enabled.
    assert_eq!(
        build_filter(NetworkMode::Enabled, ListedSockets::Some).unwrap(),
        build_filter(NetworkMode::Enabled, ListedSockets::None).unwrap()
    );
}
