//! Credentials kept out of everything xsafe prints, stores or logs.

use serde_json::Value;

/// The credentials sent to a server (an API key, the values of credential
/// headers given with `--header`, a user name and password in a base URL),
/// to be taken out of any text that came from that server before it
/// becomes an error message, a log line or stored text: some servers quote
/// them back (`Invalid key: Bearer sk-...`). Each is replaced by a label
/// that says what was there: `[API key]` for the key, `[header value]` for
/// a header's, `[URL credentials]` for a URL's. The model's answers
/// are not searched: they are what is measured, and a key such as vLLM's
/// customary `EMPTY` is a word an answer may hold.
///
/// A value shorter than [`Secrets::MIN_LEN`] characters is taken out only
/// as part of the `Authorization` header it is sent in (`Bearer KEY`):
/// alone, a short key (a local server's `none`) would turn every such word
/// of a message into the label, and no provider's key is that short.
///
/// Each value is also taken out as a JSON string writes it (`\/` for `/`,
/// `\"` for `"`), so that a body quoted as it came holds none of them, and
/// percent-encoded as in a URL, the hex digits of each escape in either
/// case (`%2F` or `%2f` for `/`, `%2f%2B` for `/+`), as a server that
/// quotes a query or a form it was sent writes it. A
/// text made of a server's body must be redacted before it is shortened:
/// a credential cut in two is found by neither half.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Each text to take out with its label, longest first, so that
    /// `Bearer KEY` goes whole before `KEY` alone.
    values: Vec<Secret>,
}

/// One text [`Secrets`] takes out, and the label that replaces it.
#[derive(Clone)]
struct Secret {
    /// The text as it is searched for; when `escapes`, percent-encoded
    /// with upper-case hex digits (see [`percent_encoded`]).
    text: String,
    /// What replaces the text (`[API key]`).
    label: &'static str,
    /// Whether `text` is a percent-encoded form, whose `%XX` escapes
    /// match with their hex digits in either case.
    escapes: bool,
}

impl Secret {
    /// The byte offset of the first occurrence of the text in `text` at
    /// or after `from`.
    fn find(&self, text: &str, from: usize) -> Option<usize> {
        if !self.escapes {
            return text[from..].find(&self.text).map(|i| from + i);
        }
        let (haystack, pattern) = (text.as_bytes(), self.text.as_bytes());
        // Every `%` of a percent-encoded form starts an escape: the two
        // bytes after it are hex digits.
        let in_escape =
            |j: usize| (j >= 1 && pattern[j - 1] == b'%') || (j >= 2 && pattern[j - 2] == b'%');
        (from..=haystack.len().checked_sub(pattern.len())?).find(|&i| {
            pattern.iter().enumerate().all(|(j, &p)| {
                let t = haystack[i + j];
                t == p || (in_escape(j) && t.eq_ignore_ascii_case(&p))
            })
        })
    }

    /// `text` with every occurrence of the text replaced by the label.
    fn replace(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = 0;
        while let Some(i) = self.find(text, rest) {
            // A percent-encoded form is ASCII, so what it matched is too:
            // `i` and `i + len` fall between characters.
            out.push_str(&text[rest..i]);
            out.push_str(self.label);
            rest = i + self.text.len();
        }
        out.push_str(&text[rest..]);
        out
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.values.len())
    }
}

/// Words whose presence in a header's name (in any case) marks its value
/// as a credential (`X-Api-Key`, `X-Auth-Token`, `Proxy-Authorization`).
const CREDENTIAL_WORDS: [&str; 6] = ["key", "token", "secret", "auth", "password", "session"];

/// Whether a header named `name` carries a credential: `Authorization`,
/// `Proxy-Authorization`, `Cookie`, or a name holding one of
/// [`CREDENTIAL_WORDS`]. Other headers (`HTTP-Referer`, `X-Title`) say
/// nothing secret, and their values are left in messages.
pub(crate) fn credential_header(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || CREDENTIAL_WORDS.iter().any(|w| name.contains(w))
}

/// Whether a header named `name` carries a credential of the server's own:
/// `Authorization`, `Cookie`, or a name holding `key`, `token`, `secret`,
/// `auth`, `password` or `session` (in any case; `api-key`, `x-api-key`),
/// but not `Proxy-Authorization`, which is a proxy's on the way. Given on
/// purpose, such a header is what the server is asked with: the key of the
/// default variable, which nobody named, is not sent beside it, and a 401
/// or 403 names it; `xsafe serve` asks its upstream the same way.
pub fn server_credential_header(name: &str) -> bool {
    credential_header(name) && !name.trim().eq_ignore_ascii_case("proxy-authorization")
}

impl Secrets {
    /// The shortest value taken out on its own (see [`Secrets`]).
    pub const MIN_LEN: usize = 8;

    /// No credentials: [`Secrets::redact`] changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an API key, sent as `Authorization: Bearer KEY`: the header's
    /// value is taken out whatever the key's length, the key alone when it
    /// is long enough.
    pub fn add_api_key(&mut self, key: &str) {
        let key = key.trim();
        if key.is_empty() {
            return;
        }
        self.push(format!("Bearer {key}"), "[API key]");
        if key.chars().count() >= Self::MIN_LEN {
            self.push(key.to_string(), "[API key]");
        }
    }

    /// Adds the value of the header `name` sent to the server
    /// (`--header`) when the header carries a credential (`Authorization`,
    /// `Proxy-Authorization`, `Cookie`, or a name with `key`, `token`,
    /// `secret`, `auth`, `password` or `session` in it, in any case), and,
    /// for a value of the form `SCHEME CREDENTIALS` (`Bearer sk-...`), the
    /// credentials alone, each when it is long enough. Another header's
    /// value (`HTTP-Referer: https://example.com`) is no secret, and is
    /// left in messages as the server quotes it.
    pub fn add_header_value(&mut self, name: &str, value: &str) {
        if !credential_header(name) {
            return;
        }
        let value = value.trim();
        let credentials = value.split_once(' ').map(|(_, c)| c.trim());
        for v in std::iter::once(value).chain(credentials) {
            if v.chars().count() >= Self::MIN_LEN {
                self.push(v.to_string(), "[header value]");
            }
        }
    }

    /// Adds the value of a header sent because the user configured it (the
    /// proxy's `[upstream_headers]`), whatever the header's name: the whole
    /// value, when it is at least [`Secrets::MIN_LEN`] characters long, as
    /// `[header value]`. A configured value is the user's to keep out of
    /// messages even when its name does not look like a credential's
    /// (`X-Custom`, `OpenAI-Organization`); a shorter one is left, as
    /// [`Secrets::add_header_value`] leaves one.
    pub fn add_configured_header_value(&mut self, value: &str) {
        let value = value.trim();
        if value.chars().count() >= Self::MIN_LEN {
            self.push(value.to_string(), "[header value]");
        }
    }

    /// Adds the user name and password of `url` (`http://USER:PASSWORD@host/v1`),
    /// which the HTTP client sends as basic authentication
    /// (`Authorization: Basic BASE64`, `BASE64` encoding `USER:PASSWORD`
    /// with their `%XX` escapes decoded): the header's value whatever its
    /// length; the base64 text, the decoded `USER:PASSWORD`, and the
    /// password alone, decoded and as the URL writes it, each when it is
    /// long enough. Each is replaced by `[URL credentials]`. The user name
    /// alone is left: it is no secret, and often a common word. A URL
    /// without a user name or password adds nothing.
    pub fn add_url_credentials(&mut self, url: &str) {
        const LABEL: &str = "[URL credentials]";
        let Ok(parsed) = reqwest::Url::parse(url.trim()) else {
            return;
        };
        let (user, password) = (parsed.username(), parsed.password());
        if user.is_empty() && password.is_none() {
            return;
        }
        // As reqwest decodes them: a user name that is not UTF-8 once
        // decoded sends no credentials; a password that is not, none.
        let Some(decoded_user) = percent_decoded(user) else {
            return;
        };
        let decoded_password = password.and_then(percent_decoded);
        let pair = format!(
            "{decoded_user}:{}",
            decoded_password.as_deref().unwrap_or_default()
        );
        let encoded = base64(pair.as_bytes());
        self.push(format!("Basic {encoded}"), LABEL);
        let mut rest = vec![encoded];
        if let Some(written) = password {
            rest.push(pair);
            rest.push(written.to_string());
            rest.extend(decoded_password);
        }
        for v in rest {
            if v.chars().count() >= Self::MIN_LEN {
                self.push(v, LABEL);
            }
        }
    }

    /// Adds `value` with `label`, the forms a JSON string writes it in, and
    /// its percent-encoded form (see [`percent_encoded`]), found with the
    /// hex digits of each escape in either case.
    fn push(&mut self, value: String, label: &'static str) {
        let escaped = serde_json::to_string(&value)
            .map(|s| s[1..s.len() - 1].to_string())
            .unwrap_or_else(|_| value.clone());
        let slashed = escaped.replace('/', "\\/");
        let encoded = percent_encoded(&value);
        let forms = [value, escaped, slashed].map(|v| (v, false));
        for (text, escapes) in forms.into_iter().chain([(encoded, true)]) {
            if !self.values.iter().any(|known| known.text == text) {
                self.values.push(Secret {
                    text,
                    label,
                    escapes,
                });
            }
        }
        self.values.sort_by_key(|v| std::cmp::Reverse(v.text.len()));
    }

    /// `text` with every occurrence of a credential replaced by its label.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.values {
            if secret.find(&out, 0).is_some() {
                out = secret.replace(&out);
            }
        }
        out
    }

    /// `bytes` (a body passed on as it came) with every credential replaced
    /// as [`Secrets::redact`] does; as they are when they hold none. A JSON
    /// body that still holds one in a string once read (written with
    /// escapes such as `\u0073k-...`) is written anew from its redacted
    /// strings.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        if self.values.is_empty() {
            return bytes.to_vec();
        }
        let lossy = String::from_utf8_lossy(bytes);
        let out = if self.values.iter().any(|v| v.find(&lossy, 0).is_some()) {
            self.redact(&lossy).into_bytes()
        } else {
            bytes.to_vec()
        };
        match serde_json::from_slice::<Value>(&out) {
            Ok(mut value) => match self.redact_strings(&mut value) {
                true => serde_json::to_vec(&value).unwrap_or(out),
                false => out,
            },
            Err(_) => out,
        }
    }

    /// Redacts every string of `value`, object keys included; whether any
    /// changed.
    fn redact_strings(&self, value: &mut Value) -> bool {
        match value {
            Value::String(s) => {
                let redacted = self.redact(s);
                let changed = redacted != *s;
                *s = redacted;
                changed
            }
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, v| self.redact_strings(v) | changed),
            Value::Object(map) => {
                let mut changed = false;
                for (key, mut v) in std::mem::take(map) {
                    changed |= self.redact_strings(&mut v);
                    let redacted = self.redact(&key);
                    changed |= redacted != key;
                    map.insert(redacted, v);
                }
                changed
            }
            _ => false,
        }
    }
}

/// `text` with its `%XX` escapes decoded (a `%` not followed by two hex
/// digits is kept as it is); `None` when the bytes so made are not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `text` percent-encoded as a URL's query or a form writes it: every byte
/// of its UTF-8 but the unreserved characters (letters, digits, `-`, `.`,
/// `_`, `~`) as `%XX`, the hex digits in upper case (as most encoders
/// write them). A space is `%20`, not `+`.
fn percent_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `bytes` in standard base64, padded with `=` (as basic authentication
/// sends a user name and password).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_header_values_are_replaced_by_what_they_were() {
        let mut s = Secrets::new();
        s.add_api_key("sk-abcdefgh1234");
        s.add_header_value("Authorization", "Bearer tok-0123456789");
        s.add_header_value("X-Api-Key", "short");
        assert_eq!(
            s.redact("Invalid key: Bearer sk-abcdefgh1234, or sk-abcdefgh1234?"),
            "Invalid key: [API key], or [API key]?"
        );
        assert_eq!(
            s.redact("got Bearer tok-0123456789 and tok-0123456789; short"),
            "got [header value] and [header value]; short"
        );
        assert_eq!(
            s.redact_bytes(br#"{"m":"sk-abcdefgh1234"}"#),
            br#"{"m":"[API key]"}"#
        );
        assert_eq!(s.redact_bytes(b"\xff plain"), b"\xff plain");
        // A short key goes only as the header it is sent in.
        let mut s = Secrets::new();
        s.add_api_key("EMPTY");
        assert_eq!(
            s.redact("Bearer EMPTY refused: the body is EMPTY"),
            "[API key] refused: the body is EMPTY"
        );
        // `Bearer EMPTY`, and `Bearer%20EMPTY` as a URL writes it.
        assert_eq!(format!("{s:?}"), "Secrets(2 values)");
    }

    #[test]
    fn only_credential_headers_are_secrets() {
        let mut s = Secrets::new();
        for (name, value) in [
            ("HTTP-Referer", "https://example.com"),
            ("X-Title", "My Cool App"),
            ("OpenAI-Organization", "org-0123456789"),
        ] {
            s.add_header_value(name, value);
        }
        let said = "from https://example.com (My Cool App, org-0123456789)";
        assert_eq!(s.redact(said), said);
        assert_eq!(format!("{s:?}"), "Secrets(0 values)");
        for name in [
            "authorization",
            "Proxy-Authorization",
            "COOKIE",
            "X-Api-Key",
            "api-key",
            "X-Auth-Token",
            "X-Client-Secret",
            "X-Password",
            "X-Session-Id",
            " x-goog-api-key ",
        ] {
            let mut s = Secrets::new();
            s.add_header_value(name, "value-0123456789");
            assert_eq!(s.redact("value-0123456789"), "[header value]", "{name}");
        }
    }

    #[test]
    fn configured_header_values_are_secrets_whatever_the_name() {
        let mut s = Secrets::new();
        for value in ["org-0123456789", "My Cool App", "short"] {
            s.add_configured_header_value(value);
        }
        assert_eq!(
            s.redact("from org-0123456789 (My Cool App), short"),
            "from [header value] ([header value]), short"
        );
        assert_eq!(
            s.redact("My%20Cool%20App"),
            "[header value]",
            "percent-encoded too"
        );
    }

    #[test]
    fn url_credentials_are_replaced_as_basic_authentication_sends_them() {
        assert_eq!(base64(b"alice:s3cretPW"), "YWxpY2U6czNjcmV0UFc=");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(percent_decoded("p%2Fw%zz%4"), Some("p/w%zz%4".into()));
        assert_eq!(percent_decoded("%ff"), None);
        let mut s = Secrets::new();
        s.add_url_credentials("http://alice:s3cretPW@127.0.0.1:8000/v1");
        assert_eq!(
            s.redact(
                "server trouble with key Basic YWxpY2U6czNjcmV0UFc=; YWxpY2U6czNjcmV0UFc= is \
                 alice:s3cretPW, password s3cretPW, user alice"
            ),
            "server trouble with key [URL credentials]; [URL credentials] is [URL \
             credentials], password [URL credentials], user alice"
        );
        // The header exactly as the HTTP client sends it, escapes decoded
        // and no password included.
        let client = reqwest::Client::new();
        for url in [
            "http://alice:s3cretPW@h/v1",
            "https://us%40er:p%2Fss%20w%C3%B6rd!@h:1/v1?x=@y",
            "http://only-a-user-name@h/v1",
            "http://:just-a-password@h/v1",
            "http://bob:pw@h/v1",
        ] {
            let sent = client.post(url).build().unwrap();
            let header = sent.headers()[reqwest::header::AUTHORIZATION]
                .to_str()
                .unwrap()
                .to_string();
            let mut s = Secrets::new();
            s.add_url_credentials(url);
            assert_eq!(s.redact(&header), "[URL credentials]", "{url}");
            let basic = header.strip_prefix("Basic ").unwrap();
            if basic.len() >= Secrets::MIN_LEN {
                assert_eq!(s.redact(basic), "[URL credentials]", "{url}");
            }
        }
        let mut s = Secrets::new();
        s.add_url_credentials("https://us%40er:p%2Fss%20w%C3%B6rd!@h:1/v1");
        assert_eq!(
            s.redact("us@er:p/ss wörd! p/ss wörd! p%2Fss%20w%C3%B6rd!"),
            "[URL credentials] [URL credentials] [URL credentials]"
        );
        // A short password goes only as the header; no credentials, nothing.
        let mut s = Secrets::new();
        s.add_url_credentials("http://bob:pw@h/v1");
        assert_eq!(
            s.redact("bob:pw pw Basic Ym9iOnB3"),
            "bob:pw pw [URL credentials]"
        );
        for url in ["http://h/v1", "http://@h/v1", "not a url", ""] {
            let mut s = Secrets::new();
            s.add_url_credentials(url);
            assert_eq!(format!("{s:?}"), "Secrets(0 values)", "{url}");
        }
    }

    #[test]
    fn a_key_is_found_as_json_writes_it() {
        let mut s = Secrets::new();
        s.add_api_key("sk-a/b\"c-0123456789");
        // As a JSON string writes it, with `/` escaped or not.
        for written in [r#"sk-a/b\"c-0123456789"#, r#"sk-a\/b\"c-0123456789"#] {
            let body = format!(r#"{{"error":{{"message":"bad key {written}"}}}}"#);
            assert_eq!(
                String::from_utf8(s.redact_bytes(body.as_bytes())).unwrap(),
                r#"{"error":{"message":"bad key [API key]"}}"#,
                "{written}"
            );
        }
        // Escaped otherwise: found once the body is read, and written anew.
        let body = r#"{"error":{"message":"bad key \u0073k-a\/b\"c-0123456789"}}"#;
        let out: Value = serde_json::from_slice(&s.redact_bytes(body.as_bytes())).unwrap();
        assert_eq!(out["error"]["message"], "bad key [API key]");
        // Without a credential, the bytes are as they came.
        let body = br#"{"b": 1,  "a": "\u0041"}"#;
        assert_eq!(s.redact_bytes(body), body);
    }

    #[test]
    fn a_key_is_found_percent_encoded_in_either_case() {
        assert_eq!(percent_encoded("a-Z_0.~ /+=é"), "a-Z_0.~%20%2F%2B%3D%C3%A9");
        let mut s = Secrets::new();
        s.add_api_key("sk-ab/cd+ef==XYZ123456789");
        s.add_header_value("api-key", "az/key+value==0123");
        assert_eq!(
            s.redact(
                "key sk-ab%2Fcd%2Bef%3D%3DXYZ123456789, sk-ab%2fcd%2bef%3d%3dXYZ123456789, \
                 Bearer%20sk-ab%2Fcd%2Bef%3D%3DXYZ123456789 or az%2Fkey%2Bvalue%3D%3D0123"
            ),
            "key [API key], [API key], [API key] or [header value]"
        );
        // In a JSON body quoted as it came, too.
        let body = br#"{"error":{"message":"bad key sk-ab%2fcd%2bef%3d%3dXYZ123456789"}}"#;
        assert_eq!(
            String::from_utf8(s.redact_bytes(body)).unwrap(),
            r#"{"error":{"message":"bad key [API key]"}}"#
        );
    }

    #[test]
    fn a_key_is_found_percent_encoded_with_the_cases_of_its_escapes_mixed() {
        let mut s = Secrets::new();
        s.add_api_key("sk-ab/cd+ef==XYZ123456789");
        assert_eq!(
            s.redact(
                "key sk-ab%2fcd%2Bef%3D%3dXYZ123456789 and é sk-ab%2Fcd%2bef%3d%3DXYZ123456789é"
            ),
            "key [API key] and é [API key]é"
        );
        // Only the escapes' hex digits are matched in either case: the
        // key's own letters are as they were sent.
        assert_eq!(
            s.redact("sk-AB%2fcd%2Bef%3D%3DXYZ123456789"),
            "sk-AB%2fcd%2Bef%3D%3DXYZ123456789"
        );
        let body = br#"{"error":{"message":"bad key sk-ab%2fcd%2Bef%3D%3DXYZ123456789"}}"#;
        assert_eq!(
            String::from_utf8(s.redact_bytes(body)).unwrap(),
            r#"{"error":{"message":"bad key [API key]"}}"#
        );
        // A multi-byte character's escapes, too.
        let mut s = Secrets::new();
        s.add_api_key("pässwörd-0123");
        assert_eq!(s.redact("p%c3%A4ssw%C3%b6rd-0123!"), "[API key]!");
    }
}
