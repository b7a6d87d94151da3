//! The accept loop both servers share: HTTP/1.1 over hyper with a bound on
//! how long a client may take to send its request line and headers, a cap
//! on the connections held at once, and a graceful stop that can be
//! bounded too.
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never ran
//! under it: a client that opened a connection and sent half a request line
//! (or nothing) held a task and a file descriptor for as long as it liked.
//! The timeout alone still let a crowd of such clients take every
//! descriptor for its length, hence the cap. A client that stops reading
//! its answer is disconnected once it has accepted nothing for a while
//! (see [`Limits::write_timeout`]): otherwise it would hold its connection,
//! and a proxied stream its upstream request, for as long as it liked.

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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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
    /// How long a client may go without accepting any of the answer the
    /// server has to send it (its socket's buffers full: it stopped
    /// reading) before its connection is closed. Counted from the first
    /// write that could not go out, and started again by every write that
    /// does; an idle connection, with nothing to send, is not timed by it.
    pub write_timeout: Duration,
    /// What the requests cut off at a forced stop were doing and what
    /// becomes of them, for the warning that says how many there were:
    /// each server words its own (the proxy's wait on an upstream, the
    /// annotation page's on a run store).
    pub cut_off: &'static str,
}

/// How a server stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stopped {
    /// The connections still open when it stopped without them (the drain
    /// time spent, or a second signal): each had a request in flight, or a
    /// client that had not finished sending one. 0 after a clean stop.
    pub cut: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets open requests finish (within `limits.drain`) and returns
/// how it stopped. Each request carries the [`ClientStalled`] of its
/// connection among its extensions.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<Stopped> {
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
        let stalled = ClientStalled::default();
        let stream = WriteWatch::new(stream, limits.write_timeout, stalled.clone());
        let inner = TowerToHyperService::new(router.clone());
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request.extensions_mut().insert(stalled.clone());
            hyper::service::Service::call(&inner, request)
        });
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
    // A second Ctrl-C, SIGTERM or SIGHUP stops at once: whoever sends it
    // does not want to wait for the requests still open.
    let again = crate::proxy::stop_signal();
    let waited = limits.drain.as_secs_f64();
    let cut = tokio::select! {
        () = graceful.shutdown() => return Ok(Stopped::default()),
        () = tokio::time::sleep(limits.drain) => {
            let cut = slots.open();
            tracing::warn!(
                waited_secs = waited,
                cut,
                "stopping without the {} still open after {waited} s: {}",
                connections(cut),
                limits.cut_off
            );
            cut
        }
        signal = again => {
            let cut = slots.open();
            tracing::warn!(
                signal,
                cut,
                "a second signal ({signal}): stopping without the {} still open: {}",
                connections(cut),
                limits.cut_off
            );
            cut
        }
    };
    Ok(Stopped { cut })
}

/// `1 connection`, `2 connections`.
fn connections(n: usize) -> String {
    match n {
        1 => "1 connection".to_string(),
        n => format!("{n} connections"),
    }
}

/// Whether the server closed a connection because its client stopped
/// accepting the answer (see [`Limits::write_timeout`]): set on the
/// connection before it closes, and found among the extensions of each of
/// its requests, so that what was being sent can say why it was cut.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientStalled(Arc<AtomicBool>);

impl ClientStalled {
    /// Whether the connection was closed for its client not reading.
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A client connection whose writes fail with `TimedOut` once none of them
/// has gone out for `limit` (its client stopped reading; the socket's
/// buffers are full), which ends the connection: its request and the
/// answer being sent (a proxied stream and its upstream request) are
/// dropped. The timer runs only while a write waits.
struct WriteWatch<S> {
    inner: S,
    limit: Duration,
    /// Running from the first write that had to wait since the last one
    /// that went out.
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
    stalled: ClientStalled,
}

impl<S> WriteWatch<S> {
    fn new(inner: S, limit: Duration, stalled: ClientStalled) -> Self {
        WriteWatch {
            inner,
            limit,
            waiting: None,
            stalled,
        }
    }

    /// After a write that had to wait: whether the client has now accepted
    /// nothing for the whole limit (and the connection is to be closed).
    fn out_of_time(&mut self, cx: &mut Context<'_>) -> bool {
        let limit = self.limit;
        let timer = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.waiting = None;
        self.stalled.0.store(true, Ordering::SeqCst);
        true
    }

    /// What a write that had to wait answers: still waiting, or, once the
    /// client has accepted nothing for the limit, an error that ends the
    /// connection.
    fn waited<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        if !self.out_of_time(cx) {
            return Poll::Pending;
        }
        let secs = self.limit.as_secs_f64();
        tracing::debug!(
            waited_secs = secs,
            "closing a connection whose client accepted none of its answer for {secs} s"
        );
        Poll::Ready(Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the client accepted none of its answer for {secs} s"),
        )))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteWatch<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteWatch<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.waited(cx),
            done => {
                self.waiting = None;
                done
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.waited(cx),
            done => {
                self.waiting = None;
                done
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.waited(cx),
            done => {
                self.waiting = None;
                done
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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

    /// How many connections are open: the slots taken.
    fn open(&self) -> usize {
        self.cap - self.free.available_permits()
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
