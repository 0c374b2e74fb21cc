//! systemd's readiness protocol (`Type=notify`, see `packaging/systemd/swiftgit.service`): a
//! datagram `READY=1` to the socket `$NOTIFY_SOCKET` names once every listener is bound, and
//! `STOPPING=1` when a signal starts the shutdown. A path that starts with `@` is an abstract
//! socket. Without the variable (not started by systemd) nothing is sent; a failure is logged
//! and otherwise ignored: serving matters more than telling.

use std::os::unix::net::UnixDatagram;

/// The variable systemd sets for a `Type=notify` service.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (e.g. `READY=1`) to systemd, if it asked for it.
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET).filter(|value| !value.is_empty()) else {
        return;
    };
    if let Err(error) = send(&socket, state) {
        tracing::warn!(%error, state, "cannot notify systemd through {NOTIFY_SOCKET}");
    }
}

fn send(socket: &std::ffi::OsStr, state: &str) -> std::io::Result<usize> {
    let sender = UnixDatagram::unbound()?;
    let bytes = socket.as_encoded_bytes();
    match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sender.send_to_addr(state.as_bytes(), &address)
        }
        None => sender.send_to(state.as_bytes(), socket),
    }
}
