//! Credentials kept out of everything xsafe prints, stores or logs.

use serde_json::Value;

/// The credentials sent to a server (an API key, the values of credential
/// headers given with `--header`), to be taken out of any text that came
/// from that server before it becomes an error message, a log line or
/// stored text: some servers quote them back (`Invalid key: Bearer
/// sk-...`). Each is replaced by a label that says what was there: `[API
/// key]` for the key, `[header value]` for a header's. The model's answers
/// are not searched: they are what is measured, and a key such as vLLM's
/// customary `EMPTY` is a word an answer may hold.
///
/// A value shorter than [`Secrets::MIN_LEN`] characters is taken out only
/// as part of the `Authorization` header it is sent in (`Bearer KEY`):
/// alone, a short key (a local server's `none`) would turn every such word
/// of a message into the label, and no provider's key is that short.
///
/// Each value is also taken out as a JSON string writes it (`\/` for `/`,
/// `\"` for `"`), so that a body quoted as it came holds none of them. A
/// text made of a server's body must be redacted before it is shortened:
/// a credential cut in two is found by neither half.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Each text to take out with its label, longest first, so that
    /// `Bearer KEY` goes whole before `KEY` alone.
    values: Vec<(String, &'static str)>,
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
fn credential_header(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || CREDENTIAL_WORDS.iter().any(|w| name.contains(w))
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

    /// Adds `value` with `label`, and the forms a JSON string writes it in.
    fn push(&mut self, value: String, label: &'static str) {
        let escaped = serde_json::to_string(&value)
            .map(|s| s[1..s.len() - 1].to_string())
            .unwrap_or_else(|_| value.clone());
        let slashed = escaped.replace('/', "\\/");
        for v in [value, escaped, slashed] {
            if !self.values.iter().any(|(known, _)| *known == v) {
                self.values.push((v, label));
            }
        }
        self.values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    /// `text` with every occurrence of a credential replaced by its label.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (value, label) in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), label);
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
        let holds = |v: &str| bytes.windows(v.len()).any(|w| w == v.as_bytes());
        let out = if self.values.iter().any(|(v, _)| holds(v)) {
            self.redact(&String::from_utf8_lossy(bytes)).into_bytes()
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
        assert_eq!(format!("{s:?}"), "Secrets(1 values)");
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
}
