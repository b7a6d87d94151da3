//! Failures as the OpenAI API reports them: `{"error":{"message","type","code"}}`
//! with the status a client's retry logic expects.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failure answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// The explanation for the client, sent as the error's `message`.
    pub message: Box<str>,
    /// The error's `type`, e.g. `invalid_request_error`.
    pub kind: &'static str,
    /// The error's `code`, and the `kind` label of the errors metric.
    pub code: &'static str,
    /// The `code` the client sees instead of [`ApiError::code`], when an
    /// upstream's refusal is passed on with the upstream's own code
    /// (`context_length_exceeded`, which clients act on); the metric still
    /// counts the error by `code`.
    pub client_code: Option<Box<str>>,
    /// The error's `param`: the request field at fault, when there is one
    /// (the body leaves `param` out otherwise).
    pub param: Option<Box<str>>,
    /// Sent as the response's `Retry-After` header: the upstream's own on
    /// the 429 or the 5xx it answered, so the client backs off as long as
    /// it asked.
    /// (Boxed, like `log`, to keep every `Result<_, ApiError>` small.)
    pub retry_after: Option<Box<str>>,
    /// What the operator's log says instead of `message`, when the fix is
    /// the operator's and names things clients need not see (the
    /// environment variable the proxy's key comes from).
    pub log: Option<Box<str>>,
}

impl ApiError {
    /// A failure with this status, `type` (`kind`), `code` and message.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            message: message.into().into_boxed_str(),
            kind,
            code,
            client_code: None,
            param: None,
            retry_after: None,
            log: None,
        }
    }

    /// This error, naming `param` as the request field at fault.
    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.into());
        self
    }

    /// The text for the operator's log: [`ApiError::log`] when set, else the
    /// client's message.
    pub fn log_message(&self) -> &str {
        self.log.as_deref().unwrap_or(&self.message)
    }

    /// A 400 `invalid_request_error` with this `code`, e.g. `invalid_json`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    /// A 401 `invalid_api_key`: the client's key is missing, malformed or
    /// unknown. Its response asks for a bearer key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            message,
        )
    }

    /// A 413: the request body is larger than `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("the request body is larger than the proxy's limit of {limit} bytes"),
        )
    }

    /// A 408: the client's request body did not arrive within `secs`
    /// seconds (a client that stopped sending holds a connection, and a
    /// graceful shutdown, for nothing).
    pub fn request_timeout(secs: f64) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "request_timeout",
            format!("the request body did not arrive within {secs} s"),
        )
    }

    /// A 502: the upstream server cannot be reached, answers with something
    /// invalid, fails (5xx) or refuses the proxy's own key.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "upstream_error",
            message,
        )
    }

    /// A 504: the upstream server did not answer within `secs` seconds, the
    /// proxy's time for a whole client request.
    pub fn upstream_timeout(secs: f64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            "upstream_timeout",
            format!(
                "the upstream server did not answer within {secs} s, the proxy's time for a \
                 request (retries and follow-ups included)"
            ),
        )
    }

    /// A 499 `client_closed`: the client closed its connection before its
    /// request was answered (its body cut short, say). No client receives
    /// it; it is what the log and the metrics count such a request as.
    pub fn client_closed() -> Self {
        Self::new(
            StatusCode::from_u16(499).expect("499 is a valid status code"),
            "invalid_request_error",
            crate::metrics::CLIENT_CLOSED,
            "the client closed its connection before its request was answered",
        )
    }

    /// A 500: a failure of the proxy itself, e.g. a strategy that failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            message,
        )
    }

    /// The JSON body the client receives:
    /// `{"error": {"message", "type", "code"}}`, with `param` when the
    /// error names the field at fault.
    pub fn body(&self) -> serde_json::Value {
        let code = self.client_code.as_deref().unwrap_or(self.code);
        let mut body =
            json!({"error": {"message": &*self.message, "type": self.kind, "code": code}});
        if let Some(param) = &self.param {
            body["error"]["param"] = param.as_ref().into();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self
            .retry_after
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::RETRY_AFTER, wait);
        }
        // The metrics middleware counts errors by this code.
        response.extensions_mut().insert(ErrorKind(self.code));
        response
    }
}

/// Marks a response as a failure of this kind, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct ErrorKind(pub &'static str);
