//! Test helpers for xsafe: a real HTTP/1.1 server on 127.0.0.1 whose every
//! answer the test decides, including the broken ones (slow answers, 429s
//! with or without `Retry-After`, 500s, dropped connections, malformed JSON).
//!
//! It is written on a bare TCP listener rather than a web framework so that a
//! test can make it misbehave at the byte level, e.g. close the connection
//! half-way through a body. Each server runs on its own thread and runtime,
//! so synchronous tests (which spawn the `xsafe` binary) can use it as well
//! as async ones. Connections are kept alive between requests, as real
//! servers keep them.

pub mod browser;
pub mod heap;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The HTTP method as sent, e.g. `POST`.
    pub method: String,
    /// The request target as sent, query string included, e.g.
    /// `/v1/chat/completions`.
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The raw body; empty when the request has none.
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header called `name`, in any case; `None` when
    /// the request has no such header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or `Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// For chat completion requests: the content of the last user message.
    pub fn last_user_message(&self) -> String {
        self.json()["messages"]
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response.
    Full {
        /// The HTTP status code.
        status: u16,
        /// Headers as `(name, value)`; `content-length` is added to them.
        headers: Vec<(String, String)>,
        /// The body bytes, sent as they are.
        body: Vec<u8>,
    },
    /// Wait, then do the inner reply.
    Slow(Duration, Box<Reply>),
    /// Close the connection without answering.
    Drop,
    /// Send the status line, headers and half the body, then close.
    Truncated(Box<Reply>),
}

impl Reply {
    /// An answer with this status whose `body` is sent as it is, as
    /// `application/json`.
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    /// A `200` JSON answer whose body is `value`.
    pub fn json(value: &serde_json::Value) -> Reply {
        Reply::status(200, value.to_string())
    }

    /// A `200` whose body is `bytes` served as an octet stream (a file).
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status: 200,
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body: bytes.into(),
        }
    }

    /// A `429 Too Many Requests`, with `Retry-After` in seconds when given.
    pub fn rate_limited(retry_after: Option<u64>) -> Reply {
        let mut headers = vec![("content-type".into(), "application/json".into())];
        if let Some(s) = retry_after {
            headers.push(("retry-after".into(), s.to_string()));
        }
        Reply::Full {
            status: 429,
            headers,
            body: br#"{"error":{"message":"rate limit reached","type":"rate_limit"}}"#.to_vec(),
        }
    }

    /// A chat completion in the OpenAI schema whose answer is `content`.
    pub fn chat(content: &str) -> Reply {
        Reply::json(&chat_completion(content, "stop"))
    }

    /// This reply, sent after waiting `delay`.
    pub fn slow(self, delay: Duration) -> Reply {
        Reply::Slow(delay, Box::new(self))
    }
}

/// The JSON body of a chat completion answering `content`.
pub fn chat_completion(content: &str, finish_reason: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": finish_reason
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

/// Answers a request, given how many requests are being answered at that
/// moment, this one included.
type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// A server on 127.0.0.1 that answers with a handler. Stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> TestServer {
        TestServer::start_with_load(move |request, _| handler(request))
    }

    /// Starts a server on a free port of 127.0.0.1 whose handler is also
    /// told how many requests are being answered as it is called, this one
    /// included (as [`TestServer::in_flight`] counts them): for a server
    /// that refuses what it cannot take at once, e.g. a 429 to any request
    /// beyond the first in flight.
    pub fn start_with_load(
        handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        let handler: Arc<Handler> = Arc::new(handler);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let state = (requests.clone(), in_flight.clone(), max_in_flight.clone());
        let thread = std::thread::spawn(move || {
            // One thread is plenty for a test server and leaves the cores to
            // the code under test.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test server runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let _ = stream.set_nodelay(true);
                            let handler = handler.clone();
                            let (requests, in_flight, max_in_flight) = state.clone();
                            tokio::spawn(async move {
                                let counters = Counters { in_flight: &in_flight, max_in_flight: &max_in_flight };
                                let _ = serve(stream, &*handler, &requests, counters).await;
                            });
                        }
                    }
                }
            });
            // Connections still open are cancelled; a reply still sleeping
            // on a blocking thread is abandoned rather than waited for.
            rt.shutdown_background();
        });
        let addr = addr_rx.recv().expect("test server did not start");
        TestServer {
            addr,
            requests,
            in_flight,
            max_in_flight,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on: 127.0.0.1 and its port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests the server has received so far.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The most connections that were being served at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many requests are being answered right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Stops the server; connections to its port are refused afterwards.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// A server on 127.0.0.1, on a thread of its own, that reads each
/// request's head and writes the bytes `respond` gives for it (the head,
/// as text) as they are, then closes the connection: for the framings
/// [`TestServer`] does not send (no `Content-Length`, a body cut short,
/// chunked by hand). Its URL, `http://ADDR`, without a path.
pub fn raw_server(respond: impl Fn(&str) -> Vec<u8> + Send + 'static) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
                head.push(byte[0]);
            }
            let _ = stream.write_all(&respond(&String::from_utf8_lossy(&head)));
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    url
}

/// A URL on 127.0.0.1 where nothing listens: for "server down" tests.
pub fn unused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Counts requests being answered (not open connections, which a client's
/// pool keeps idle).
struct Counters<'a> {
    in_flight: &'a AtomicUsize,
    max_in_flight: &'a AtomicUsize,
}

/// Serves requests on one connection until the client closes it (HTTP/1.1
/// keep-alive, as real servers do) or a reply drops or cuts it.
async fn serve(
    mut stream: TcpStream,
    handler: &Handler,
    requests: &Mutex<Vec<Request>>,
    counters: Counters<'_>,
) -> std::io::Result<()> {
    while let Some(request) = read_request(&mut stream).await? {
        requests.lock().unwrap().push(request.clone());
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let client_closes = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let keep_open = answer(&mut stream, handler(&request, now)).await;
        counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !keep_open? || client_closes {
            return Ok(());
        }
    }
    Ok(())
}

/// Writes one reply; says whether the connection can serve another.
async fn answer(stream: &mut TcpStream, mut reply: Reply) -> std::io::Result<bool> {
    let mut truncate = false;
    loop {
        match reply {
            Reply::Slow(delay, inner) => {
                // A thread's sleep keeps to the delay within tens of
                // microseconds; tokio's timer rounds up to its next
                // millisecond tick, which would add ~5% to a 20 ms answer and
                // blur benchmarks of the client.
                let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
                reply = *inner;
            }
            Reply::Truncated(inner) => {
                truncate = true;
                reply = *inner;
            }
            Reply::Drop => return Ok(false),
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (k, v) in &headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str(&format!("content-length: {}\r\n", body.len()));
                if truncate {
                    head.push_str("connection: close\r\n");
                }
                head.push_str("\r\n");
                // One write for head and body: two small writes on a kept-alive
                // connection meet Nagle's algorithm and delayed ACKs (~40 ms).
                let mut bytes = head.into_bytes();
                bytes.extend_from_slice(if truncate {
                    &body[..body.len() / 2]
                } else {
                    &body[..]
                });
                stream.write_all(&bytes).await?;
                stream.flush().await?;
                if truncate {
                    stream.shutdown().await?;
                    return Ok(false);
                }
                return Ok(true);
            }
        }
    }
}

/// Reads the next request on `stream`, head and body (by its
/// `Content-Length`); `None` once the client closed the connection. For
/// servers a test writes itself, which must hold or answer requests in
/// ways [`TestServer`] does not.
pub async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// The names of the files in `dir`, sorted; empty when `dir` does not
/// exist. For checking that a download or an import left nothing half-done
/// (temporary files, rejected bodies) behind.
pub fn file_names(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A small valid GGUF model file (version 3) whose `general.name` is
/// `name`, for the tests of model files: metadata with a string, an array
/// and an alignment of 64, and two tensors (4 x 2 F32 at offset 0, 64 Q8_0
/// at offset 64), the last ending at the file's end. It loads in no engine
/// (it has no architecture); it is whole as GGUF files go.
pub fn tiny_gguf(name: &str) -> Vec<u8> {
    tiny_gguf_with(name, None)
}

/// [`tiny_gguf`] with `general.file_type` set to `file_type`, llama.cpp's
/// number for the file's quantisation (`LLAMA_FTYPE_*`: 7 is Q8_0, 15
/// Q4_K_M), for the tests of what a file's header says it is.
pub fn tiny_gguf_of_type(name: &str, file_type: u32) -> Vec<u8> {
    tiny_gguf_with(name, Some(file_type))
}

fn tiny_gguf_with(name: &str, file_type: Option<u32>) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(2u64.to_le_bytes()); // tensors
    let entries = 3u64 + u64::from(file_type.is_some());
    out.extend(entries.to_le_bytes()); // metadata entries
    string(&mut out, "general.name");
    out.extend(8u32.to_le_bytes()); // string
    string(&mut out, name);
    if let Some(file_type) = file_type {
        string(&mut out, "general.file_type");
        out.extend(4u32.to_le_bytes()); // u32
        out.extend(file_type.to_le_bytes());
    }
    string(&mut out, "tokenizer.ggml.scores");
    out.extend(9u32.to_le_bytes()); // array
    out.extend(6u32.to_le_bytes()); // of f32
    out.extend(3u64.to_le_bytes());
    out.extend([0u8; 12]);
    string(&mut out, "general.alignment");
    out.extend(4u32.to_le_bytes()); // u32
    out.extend(64u32.to_le_bytes());
    string(&mut out, "a");
    out.extend(2u32.to_le_bytes());
    out.extend(4u64.to_le_bytes());
    out.extend(2u64.to_le_bytes());
    out.extend(0u32.to_le_bytes()); // F32
    out.extend(0u64.to_le_bytes());
    string(&mut out, "b");
    out.extend(1u32.to_le_bytes());
    out.extend(64u64.to_le_bytes());
    out.extend(8u32.to_le_bytes()); // Q8_0: 2 blocks of 34 bytes
    out.extend(64u64.to_le_bytes());
    while !out.len().is_multiple_of(64) {
        out.push(0);
    }
    out.extend([7u8; 64 + 68]);
    out
}

/// xsafe's model cache as the binary finds it: `XSAFE_CACHE_DIR`, else the
/// platform's cache directory, then `xsafe/models`. `None` when there is
/// no such directory.
pub fn models_dir() -> Option<std::path::PathBuf> {
    let cache = std::env::var_os("XSAFE_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|c| c.join("xsafe")))?;
    Some(cache.join("models")).filter(|d| d.is_dir())
}

/// The directory of a real sentence encoder for the tests that need one:
/// `XSAFE_TEST_ENCODER`, else encoder `name` in xsafe's cache
/// (`XSAFE_CACHE_DIR`, else the platform's cache directory, as the binary
/// finds it) when it holds every one of `files`. `None` (after saying so
/// on stderr) when neither: the test then passes without running, and CI,
/// which sets the variable, runs it.
pub fn encoder_dir(name: &str, files: &[&str]) -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let var = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
    if let Some(dir) = var("XSAFE_TEST_ENCODER") {
        return Some(PathBuf::from(dir));
    }
    let found = models_dir()
        .map(|models| models.join(name))
        .filter(|d| files.iter().all(|f| d.join(f).is_file()));
    if found.is_none() {
        eprintln!(
            "skipped: no encoder (set XSAFE_TEST_ENCODER to its directory, or run scripts/install-encoder.sh)"
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(url: &str, path: &str) -> String {
        let addr = url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn answers_records_and_stops() {
        let server = TestServer::start(|r| match r.path.as_str() {
            "/a" => Reply::bytes("hello"),
            "/drop" => Reply::Drop,
            _ => Reply::rate_limited(Some(3)),
        });
        let url = server.url();
        assert!(get(&url, "/a").ends_with("\r\n\r\nhello"));
        let limited = get(&url, "/b");
        assert!(limited.starts_with("HTTP/1.1 429"));
        assert!(limited.contains("retry-after: 3"));
        assert_eq!(get(&url, "/drop"), "");
        assert_eq!(server.request_count(), 3);
        assert_eq!(server.requests()[0].path, "/a");
        server.stop();
        assert!(std::net::TcpStream::connect(url.trim_start_matches("http://")).is_err());
    }

    #[test]
    fn a_handler_can_be_told_the_load() {
        let server = TestServer::start_with_load(|_, load| Reply::bytes(load.to_string()));
        // One request at a time: each is the only one being answered.
        for _ in 0..2 {
            assert!(get(&server.url(), "/").ends_with("\r\n\r\n1"));
        }
        assert_eq!(server.in_flight(), 0);
    }
}
