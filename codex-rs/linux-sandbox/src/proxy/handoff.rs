//! Handing the listeners from the inner stage to the outer one: one
//! `SOCK_SEQPACKET` message over a socket pair whose inner end bwrap
//! passes down, carrying the route indices as data and the listening
//! sockets as `SCM_RIGHTS`, in the same order.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};

/// The most listeners one sandbox routes (six proxy variables, two
/// addresses each at most).
pub const MAX_LISTENERS: usize = 12;

/// A connected pair for the handoff: `(outer end, inner end)`, both
/// close-on-exec.
pub fn channel() -> io::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)
}

/// Sends `listeners` (route index, listening socket) in one message.
pub fn send_listeners(
    channel: BorrowedFd<'_>,
    listeners: &[(u8, BorrowedFd<'_>)],
) -> io::Result<()> {
    let indices: Vec<u8> = listeners.iter().map(|(index, _)| *index).collect();
    let fds: Vec<RawFd> = listeners.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
    let data = [IoSlice::new(&indices)];
    let rights = [ControlMessage::ScmRights(&fds)];
    let sent = sendmsg::<()>(channel.as_raw_fd(), &data, &rights, MsgFlags::empty(), None)?;
    if sent != indices.len() {
        return Err(io::Error::other("short handoff message"));
    }
    Ok(())
}

/// Waits for the listeners. `Ok(None)` when the inner stage ended (every
/// copy of the inner end closed) without sending any: it failed and says
/// why through its report descriptor.
pub fn receive_listeners(channel: BorrowedFd<'_>) -> io::Result<Option<Vec<(usize, OwnedFd)>>> {
    let mut indices = [0u8; MAX_LISTENERS];
    let mut data = [IoSliceMut::new(&mut indices)];
    let mut space = nix::cmsg_space!([RawFd; MAX_LISTENERS]);
    let message = loop {
        match recvmsg::<()>(
            channel.as_raw_fd(),
            &mut data,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    let mut fds = Vec::new();
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            // SAFETY: the kernel just installed these descriptors in this
            // process for this message; nothing else owns them.
            fds.extend(
                received
                    .into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let count = message.bytes;
    if message
        .flags
        .intersects(MsgFlags::MSG_CTRUNC | MsgFlags::MSG_TRUNC)
    {
        return Err(io::Error::other("handoff message truncated"));
    }
    if count == 0 && fds.is_empty() {
        return Ok(None);
    }
    if count != fds.len() {
        return Err(io::Error::other(format!(
            "handoff message names {count} routes but carries {} sockets",
            fds.len()
        )));
    }
    Ok(Some(
        indices[..count]
            .iter()
            .map(|index| usize::from(*index))
            .zip(fds)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::fd::AsFd;

    #[test]
    fn listeners_cross_with_their_indices_and_still_accept() {
        let (outer, inner) = channel().unwrap();
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let second = TcpListener::bind("127.0.0.1:0").unwrap();
        let second_addr = second.local_addr().unwrap();
        send_listeners(inner.as_fd(), &[(0, first.as_fd()), (3, second.as_fd())]).unwrap();
        let received = receive_listeners(outer.as_fd()).unwrap().unwrap();
        let indices: Vec<usize> = received.iter().map(|(index, _)| *index).collect();
        assert_eq!(indices, [0, 3]);
        let (_, fd) = received.into_iter().nth(1).unwrap();
        let listener = TcpListener::from(fd);
        assert_eq!(listener.local_addr().unwrap(), second_addr);
        let _client = std::net::TcpStream::connect(second_addr).unwrap();
        listener.accept().unwrap();
    }

    #[test]
    fn a_closed_inner_end_reads_as_nothing_sent() {
        let (outer, inner) = channel().unwrap();
        drop(inner);
        assert!(receive_listeners(outer.as_fd()).unwrap().is_none());
    }
}
