//! The accept loop both servers share: HTTP/1.1 over hyper with a bound on
//! how long a client may take to send its request line and headers, a cap
//! on the connections held at once, and a graceful stop that can be
//! bounded too.
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never ran
//! under it: a client that opened a connection and sent half a request line
//! (or nothing) held a task and a file descriptor for as long as it liked.
//! The timeout alone still let a crowd of such clients take every
//! descriptor for its length, hence the cap.

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The longest a client may take to send a request's line and headers
/// (and a kept-alive connection may stay idle): a browser or an SDK sends
/// them at once, and a connection that sends nothing holds a file
/// descriptor that real clients need.
pub(crate) const MAX_HEADER_WAIT: Duration = Duration::from_secs(30);

/// How a server bounds its clients and its stop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// How long a client has to send a request's line and headers, counted
    /// from when the server starts reading them. An idle kept-alive
    /// connection is closed after this long too.
    pub header_timeout: Duration,
    /// How long requests in flight may go on after the stop signal before
    /// the server stops without them.
    pub drain: Duration,
    /// The most connections held at once (at least one). At the cap the
    /// server accepts no more until one closes: new clients wait in the
    /// listen queue instead of taking the file descriptors that the
    /// connections already held need for their upstream sockets and the
    /// store.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets open requests finish (within `limits.drain`) and returns.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut slots = ConnectionSlots::new(limits.max_connections);
    loop {
        // A slot first, then the connection: at the cap, the next client
        // waits to be accepted rather than being accepted and failing.
        let slot = tokio::select! {
            slot = slots.acquire() => slot,
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    pause_after(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small request and answer frames: do not wait to coalesce them.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            // The connection is closed: its slot is free for the next one.
            drop(slot);
        });
    }
    // No new connections from here on.
    drop(listener);
    // A second Ctrl-C or SIGTERM stops at once: whoever sends it does not
    // want to wait for the requests still open.
    let again = crate::shutdown_signal();
    tokio::select! {
        () = graceful.shutdown() => {}
        // Not the client's fault alone: a request may be waiting on its
        // upstream or on a run store another process holds, and its work
        // (a label being stored) may still be done after its connection is
        // closed.
        () = tokio::time::sleep(limits.drain) => tracing::warn!(
            waited_secs = limits.drain.as_secs_f64(),
            "stopping without the requests still open: a client that stopped sending or \
             reading, or a request still waiting on the upstream or on a run store another \
             process is writing (a label such a request was saving may still be saved, though \
             its page got no answer)"
        ),
        () = again => tracing::warn!("a second signal: stopping without the requests still open"),
    }
    Ok(())
}

/// The connections a server may still accept: one permit per connection,
/// held by the connection's task until the connection closes.
struct ConnectionSlots {
    free: Arc<Semaphore>,
    cap: usize,
    /// Whether reaching the cap has been logged: once per server, not for
    /// every client that then waits.
    cap_logged: bool,
}

impl ConnectionSlots {
    fn new(cap: usize) -> Self {
        let cap = cap.clamp(1, Semaphore::MAX_PERMITS);
        ConnectionSlots {
            free: Arc::new(Semaphore::new(cap)),
            cap,
            cap_logged: false,
        }
    }

    /// A free slot, waiting for a connection to close if there is none.
    /// Cancel-safe: a wait given up takes no slot.
    async fn acquire(&mut self) -> OwnedSemaphorePermit {
        if let Ok(slot) = Arc::clone(&self.free).try_acquire_owned() {
            return slot;
        }
        if !self.cap_logged {
            self.cap_logged = true;
            tracing::warn!(
                max_connections = self.cap,
                "holding as many connections as the cap allows: new clients wait to be \
                 accepted until one closes (logged once)"
            );
        }
        Arc::clone(&self.free)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

/// After a failed accept: nothing for an error about that one connection
/// (the client went away before it was accepted); otherwise (out of file
/// descriptors, say) a second's pause, so the loop does not spin while the
/// condition lasts.
async fn pause_after(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "could not accept a connection; trying again in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Runs `request` through `next` and, when the handler answered without
/// reading all of the request's body (a 401 for a wrong key, a 404 for an
/// unknown route), reads the rest of it and throws it away before the
/// answer goes out: at most `max_bytes` of it, within `timeout`. Otherwise
/// hyper, finding the body unread, closes the connection after the answer
/// without having said so, and a client that sends its next request on it
/// (an SDK's kept-alive connection) fails with a broken pipe or a reset. A
/// body that is larger, does not arrive in time or fails, or one the
/// answer is about (413, 408), is not waited for: the answer says
/// `Connection: close`, and the client opens a new connection.
pub(crate) async fn with_body_read(
    request: Request,
    next: Next,
    max_bytes: usize,
    timeout: Duration,
) -> Response {
    let left = Arc::new(Mutex::new(None));
    let request = request.map(|body| {
        Body::new(Watched {
            body: Some(body),
            left: Arc::clone(&left),
        })
    });
    let mut response = next.run(request).await;
    // The handler and its request are done with: a body they left unread
    // is in `left` now.
    let Some(rest) = left.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return response;
    };
    let about_the_body = matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    );
    let read = !about_the_body
        && rest.size_hint().lower() <= max_bytes as u64
        && read_to_end(rest, max_bytes, timeout).await;
    if !read {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads `body` to its end, keeping nothing; whether it ended within
/// `max_bytes` and `timeout`.
async fn read_to_end(body: Body, max_bytes: usize, timeout: Duration) -> bool {
    let mut stream = body.into_data_stream();
    let read = async {
        let mut total = 0usize;
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else {
                return false;
            };
            total += chunk.len();
            if total > max_bytes {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(false)
}

/// A request's body as the handler gets it: dropped before its end, it
/// leaves what is left of it in `left`, for [`with_body_read`].
struct Watched {
    /// `None` once the body has ended (or been left).
    body: Option<Body>,
    left: Arc<Mutex<Option<Body>>>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.body = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(body) = self.body.take()
            && !body.is_end_stream()
        {
            *self.left.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
        }
    }
}
