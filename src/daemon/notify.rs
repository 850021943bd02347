//! systemd's notify protocol (`sd_notify`), without a crate: one datagram per message to the unix
//! socket named by `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
//!
//! Owns the socket, the parsing of `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`, and the
//! message texts (`READY=1`, `STATUS=...`, `WATCHDOG=1`, `STOPPING=1`). The runner decides when to
//! send what; a phase worker may report its progress with [`status`]. Without `NOTIFY_SOCKET`
//! (not under systemd) every call is a no-op. It must never fail the daemon: a message that cannot
//! be sent is logged and dropped, because systemd is an observer, not a dependency.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::time::Duration;

/// Environment variable systemd sets to the notify socket's address.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";
/// Environment variable systemd sets to the watchdog timeout in microseconds (`WatchdogSec=`).
pub const WATCHDOG_USEC_ENV: &str = "WATCHDOG_USEC";
/// Environment variable naming the process the watchdog applies to (absent: this one).
pub const WATCHDOG_PID_ENV: &str = "WATCHDOG_PID";

/// Why the notify socket from the environment cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET={value:?} is neither an absolute path nor an abstract name (@...)")]
    BadAddress { value: String },
    #[error("NOTIFY_SOCKET={value:?}: {source}")]
    Address {
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create a unix datagram socket for NOTIFY_SOCKET: {0}")]
    Socket(#[source] std::io::Error),
    #[error("{WATCHDOG_USEC_ENV}={value:?} is not a positive number of microseconds")]
    BadWatchdog { value: String },
}

/// A connection to systemd's notify socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// How often to send `WATCHDOG=1` (half of `WATCHDOG_USEC`), when the watchdog is on.
    watchdog_every: Option<Duration>,
}

impl Notifier {
    /// The notifier the environment asks for; `Ok(None)` when not started by systemd.
    pub fn from_env() -> Result<Option<Self>, NotifyError> {
        let Some(value) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
            return Ok(None);
        };
        let value = value.to_string_lossy().into_owned();
        let addr = parse_address(&value)?;
        let socket = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
        let watchdog_every = watchdog_interval(
            std::env::var(WATCHDOG_USEC_ENV).ok().as_deref(),
            std::env::var(WATCHDOG_PID_ENV).ok().as_deref(),
            std::process::id(),
        )?;
        Ok(Some(Self {
            socket,
            addr,
            watchdog_every,
        }))
    }

    /// Send one message; failures are logged, never returned (see the module doc).
    fn send(&self, message: &str) {
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.addr) {
            tracing::warn!(error = %e, %message, "cannot notify systemd");
        }
    }
}

/// `@name` is the abstract namespace (Linux); anything else must be an absolute path.
fn parse_address(value: &str) -> Result<SocketAddr, NotifyError> {
    if let Some(name) = value.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes()).map_err(|source| NotifyError::Address {
            value: value.to_string(),
            source,
        })
    } else if value.starts_with('/') {
        SocketAddr::from_pathname(value).map_err(|source| NotifyError::Address {
            value: value.to_string(),
            source,
        })
    } else {
        Err(NotifyError::BadAddress {
            value: value.to_string(),
        })
    }
}

/// Half the watchdog timeout (systemd's advice), when the watchdog is on and meant for `own_pid`.
fn watchdog_interval(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Result<Option<Duration>, NotifyError> {
    let Some(usec) = usec else {
        return Ok(None);
    };
    // The watchdog of another process (a parent that exec'd us, say) is not ours to feed.
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return Ok(None);
    }
    match usec.trim().parse::<u64>() {
        Ok(us) if us > 0 => Ok(Some(
            Duration::from_micros(us / 2).max(Duration::from_millis(1)),
        )),
        _ => Err(NotifyError::BadWatchdog {
            value: usec.to_string(),
        }),
    }
}

/// The process's notifier, set once by [`init_from_env`].
static NOTIFIER: OnceLock<Option<Notifier>> = OnceLock::new();

/// Read the environment once (the runner calls it before Startup). A bad `NOTIFY_SOCKET` is
/// returned for the runner to log; the daemon runs on without notifications.
pub fn init_from_env() -> Result<(), NotifyError> {
    let mut result = Ok(());
    NOTIFIER.get_or_init(|| match Notifier::from_env() {
        Ok(n) => n,
        Err(e) => {
            result = Err(e);
            None
        }
    });
    result
}

fn with(f: impl FnOnce(&Notifier)) {
    if let Some(Some(n)) = NOTIFIER.get() {
        f(n);
    }
}

/// Whether systemd is listening (a notify socket was given).
pub fn enabled() -> bool {
    matches!(NOTIFIER.get(), Some(Some(_)))
}

/// `READY=1`: Startup is done.
pub fn ready() {
    with(|n| n.send("READY=1"));
}

/// `STATUS=<text>`: one line shown by `systemctl status` (newlines are replaced: one line only).
pub fn status(text: &str) {
    with(|n| n.send(&format!("STATUS={}", text.replace('\n', " "))));
}

/// The STATUS text of a progress report: the phase, how far blocks are stored contiguously and,
/// with the product workers, how many blocks this run stored.
pub fn progress_text(
    phase: impl std::fmt::Display,
    last_indexed: crate::primitives::BlockNumber,
    blocks_stored: Option<u64>,
) -> String {
    let mut text = format!("phase: {phase}, last indexed block {last_indexed}");
    if let Some(n) = blocks_stored {
        text.push_str(&format!(", {n} blocks stored this run"));
    }
    text
}

/// `WATCHDOG=1`: the event loop is alive.
pub fn watchdog() {
    with(|n| n.send("WATCHDOG=1"));
}

/// `STOPPING=1`: a graceful stop has begun.
pub fn stopping() {
    with(|n| n.send("STOPPING=1"));
}

/// How often to call [`watchdog`], when systemd's watchdog is on for this process.
pub fn watchdog_every() -> Option<Duration> {
    match NOTIFIER.get() {
        Some(Some(n)) => n.watchdog_every,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_absolute_paths_or_abstract_names() {
        assert!(parse_address("/run/systemd/notify").is_ok());
        let a = parse_address("@histd-test").unwrap();
        use std::os::linux::net::SocketAddrExt;
        assert_eq!(a.as_abstract_name(), Some(&b"histd-test"[..]));
        assert!(matches!(
            parse_address("relative/path"),
            Err(NotifyError::BadAddress { .. })
        ));
    }

    #[test]
    fn watchdog_is_half_the_timeout_and_only_for_us() {
        assert_eq!(watchdog_interval(None, None, 7).unwrap(), None);
        assert_eq!(
            watchdog_interval(Some("2000000"), None, 7).unwrap(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            watchdog_interval(Some("2000000"), Some("7"), 7).unwrap(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            watchdog_interval(Some("2000000"), Some("8"), 7).unwrap(),
            None
        );
        assert!(watchdog_interval(Some("0"), None, 7).is_err());
        assert!(watchdog_interval(Some("soon"), None, 7).is_err());
    }

    #[test]
    fn progress_text_names_phase_tip_and_blocks_stored() {
        use crate::primitives::BlockNumber;
        assert_eq!(
            progress_text("fast_sync", BlockNumber(42), None),
            "phase: fast_sync, last indexed block 42"
        );
        assert_eq!(
            progress_text("fast_sync", BlockNumber(42), Some(7)),
            "phase: fast_sync, last indexed block 42, 7 blocks stored this run"
        );
    }

    #[test]
    fn messages_arrive_on_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("histd-notify-unit-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            addr: parse_address(&format!("@{name}")).unwrap(),
            watchdog_every: None,
        };
        n.send("READY=1");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
    }
}
