//! How many connections a server may hold at once, from the process's limit
//! on open files (`RLIMIT_NOFILE`).
//!
//! Every accepted connection is a file descriptor, and so is every upstream
//! socket the proxy opens for one, the run store's files and the process's
//! own (standard streams, the listener, the runtime's poller). A server that
//! accepts whatever arrives runs out of descriptors under a crowd of idle
//! clients (`EMFILE`): new clients are turned away and, worse, the
//! connections already accepted can no longer open their upstream socket or
//! write the store. So the accept loop holds at most a cap of connections,
//! set so that each of them, and the process's own files, keeps the
//! descriptors it needs.

use std::sync::OnceLock;

/// Descriptors kept for the process's own files: standard streams, the
/// listener, the runtime's poller and wakers, the store's database and
/// journal, a model file, the log. At most a quarter of the limit, so a
/// tiny limit still leaves room for connections.
const RESERVED_FDS: u64 = 64;

/// The cap when the open-file limit cannot be read (no such limit on this
/// system, or `getrlimit` failed): what a common default soft limit of 1024
/// would give a proxy, rounded.
const CAP_WITHOUT_LIMIT: usize = 480;

/// The most connections the accept loop holds, when neither the limit nor
/// an explicit cap says less: the most permits a semaphore can hold.
const MAX_CAP: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// The cap on connections a server holds at once: `explicit` if given
/// (with a warning when the open-file limit cannot back it), else derived
/// from the open-file limit with [`RESERVED_FDS`] kept back and
/// `fds_per_connection` descriptors for each connection (the client's
/// socket, and the proxy's upstream socket for it). The first call raises
/// the soft limit to the hard one. Logs the cap and where it came from.
pub(crate) fn connection_cap(explicit: Option<usize>, fds_per_connection: u64) -> usize {
    let limit = *open_files_limit();
    let derived = limit.map_or(CAP_WITHOUT_LIMIT, |limit| {
        cap_for_limit(limit, fds_per_connection)
    });
    match (explicit, limit) {
        (Some(cap), Some(limit)) if cap > derived => {
            tracing::warn!(
                max_connections = cap,
                open_files_limit = limit,
                "the connection cap is above the {derived} connections the open-file limit \
                 leaves room for: a crowd of clients can use up the descriptors that upstream \
                 sockets and the store need; raise the limit (`ulimit -n`) or lower the cap"
            );
            cap.min(MAX_CAP)
        }
        (Some(cap), _) => {
            tracing::info!(
                max_connections = cap,
                "holding at most this many connections"
            );
            cap.min(MAX_CAP)
        }
        (None, Some(limit)) => {
            tracing::info!(
                max_connections = derived,
                open_files_limit = limit,
                fds_per_connection,
                "holding at most this many connections: what the open-file limit leaves \
                 beside the process's own files, at fds_per_connection each"
            );
            derived
        }
        (None, None) => {
            tracing::info!(
                max_connections = derived,
                "holding at most this many connections (the open-file limit is unknown)"
            );
            derived
        }
    }
}

/// The cap an open-file limit of `limit` leaves room for when each
/// connection takes `fds_per_connection` descriptors: at least one.
fn cap_for_limit(limit: u64, fds_per_connection: u64) -> usize {
    let reserved = RESERVED_FDS.min(limit / 4);
    let cap = limit.saturating_sub(reserved) / fds_per_connection.max(1);
    usize::try_from(cap).unwrap_or(MAX_CAP).clamp(1, MAX_CAP)
}

/// The process's soft limit on open files, read (and raised) once per
/// process; `None` where there is no such limit or it cannot be read, and
/// `u64::MAX` for an unlimited one.
fn open_files_limit() -> &'static Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    LIMIT.get_or_init(raise_soft_limit)
}

/// Raises the soft open-file limit to the hard one, as Go's runtime does at
/// start: the soft limit is often 1024 (256 on macOS) while the hard one
/// allows far more, and a server that holds a connection per client needs
/// the room. Returns the soft limit in force afterwards.
#[cfg(unix)]
fn raise_soft_limit() -> Option<u64> {
    let mut limits = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` to the pointer it is given,
    // which points to a live, writable `rlimit` for the whole call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limits) } != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot read the open-file limit; the connection cap is a default"
        );
        return None;
    }
    let soft = limits.rlim_cur;
    if soft == libc::RLIM_INFINITY {
        return Some(u64::MAX);
    }
    if soft >= limits.rlim_max {
        return Some(to_u64(soft));
    }
    // macOS refuses a soft limit above OPEN_MAX when the hard one is
    // unlimited; that value is the next best.
    const OPEN_MAX_FALLBACK: libc::rlim_t = 10240;
    let mut error = None;
    for wanted in [limits.rlim_max, OPEN_MAX_FALLBACK] {
        if wanted <= soft || wanted > limits.rlim_max {
            continue;
        }
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limits.rlim_max,
        };
        // SAFETY: `setrlimit` reads one `rlimit` from the pointer it is
        // given, which points to a live `rlimit` for the whole call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::info!(
                from = to_u64(soft),
                to = to_u64(wanted),
                "raised the open-file limit (the soft limit, towards the hard one)"
            );
            return Some(to_u64(wanted));
        }
        error = Some(std::io::Error::last_os_error());
    }
    if let Some(error) = error {
        tracing::warn!(
            %error,
            soft = to_u64(soft),
            hard = to_u64(limits.rlim_max),
            "cannot raise the open-file limit; the connection cap follows the soft limit"
        );
    }
    Some(to_u64(soft))
}

#[cfg(not(unix))]
fn raise_soft_limit() -> Option<u64> {
    None
}

/// An `rlim_t` (32 bits on some targets, signed on others) as a `u64`,
/// unlimited as `u64::MAX`.
#[cfg(unix)]
#[allow(clippy::useless_conversion)] // it is a `u64` on Linux and macOS
fn to_u64(value: libc::rlim_t) -> u64 {
    if value == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        u64::try_from(value).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_descriptors_for_the_process_and_each_upstream_socket() {
        // The limit of the report: 256 descriptors, 64 kept, two a connection.
        assert_eq!(cap_for_limit(256, 2), 96);
        assert_eq!(cap_for_limit(1024, 2), 480);
        assert_eq!(cap_for_limit(1024, 1), 960);
        // A tiny limit keeps a quarter, and there is always one connection.
        assert_eq!(cap_for_limit(40, 2), 15);
        assert_eq!(cap_for_limit(1, 2), 1);
        assert_eq!(cap_for_limit(0, 2), 1);
        assert_eq!(cap_for_limit(u64::MAX, 2), MAX_CAP);
        assert_eq!(cap_for_limit(100, 0), 75);
    }

    #[test]
    fn an_explicit_cap_wins() {
        assert_eq!(connection_cap(Some(4), 2), 4);
        assert_eq!(connection_cap(Some(usize::MAX), 2), MAX_CAP);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let limit = open_files_limit().expect("Linux and macOS have the limit");
        let mut now = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in `raise_soft_limit`.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) }, 0);
        assert_eq!(limit, to_u64(now.rlim_cur));
        assert!(now.rlim_cur == now.rlim_max || now.rlim_cur == 10240);
    }
}
