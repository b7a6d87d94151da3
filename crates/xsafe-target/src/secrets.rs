//! Credentials kept out of everything xsafe prints, stores or logs.

/// The credentials sent to a server (an API key, the values of headers
/// given with `--header`), to be taken out of any text that came from that
/// server before it becomes an error message, a log line or stored text:
/// some servers quote them back (`Invalid key: Bearer sk-...`). Each is
/// replaced by a label that says what was there: `[API key]` for the key,
/// `[header value]` for a header's. The model's answers are not searched:
/// they are what is measured, and a key such as vLLM's customary `EMPTY`
/// is a word an answer may hold.
///
/// A value shorter than [`Secrets::MIN_LEN`] characters is taken out only
/// as part of the `Authorization` header it is sent in (`Bearer KEY`):
/// alone, a short key (a local server's `none`) would turn every such word
/// of a message into the label, and no provider's key is that short.
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

    /// Adds the value of a header sent to the server (`--header`), and, for
    /// a value of the form `SCHEME CREDENTIALS` (`Bearer sk-...`), the
    /// credentials alone, each when it is long enough.
    pub fn add_header_value(&mut self, value: &str) {
        let value = value.trim();
        let credentials = value.split_once(' ').map(|(_, c)| c.trim());
        for v in std::iter::once(value).chain(credentials) {
            if v.chars().count() >= Self::MIN_LEN {
                self.push(v.to_string(), "[header value]");
            }
        }
    }

    fn push(&mut self, value: String, label: &'static str) {
        if self.values.iter().any(|(v, _)| *v == value) {
            return;
        }
        self.values.push((value, label));
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
    /// as [`Secrets::redact`] does; as they are when they hold none.
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let holds = |v: &str| bytes.windows(v.len()).any(|w| w == v.as_bytes());
        if !self.values.iter().any(|(v, _)| holds(v)) {
            return bytes.to_vec();
        }
        self.redact(&String::from_utf8_lossy(bytes)).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_header_values_are_replaced_by_what_they_were() {
        let mut s = Secrets::new();
        s.add_api_key("sk-abcdefgh1234");
        s.add_header_value("Bearer tok-0123456789");
        s.add_header_value("short");
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
}
