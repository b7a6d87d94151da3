//! JSON as other programs write it.

/// JSON text `json` with every `\uXXXX` escape of a UTF-16 surrogate that is not
/// half of a valid pair replaced by `\ufffd`; `None` when it has none.
/// serde_json refuses such escapes and has no lossy mode. Escapes appear
/// only inside strings, so the bytes are read escape by escape without
/// tracking strings (`\\ud800` is an escaped backslash, then text).
pub fn json_without_lone_surrogates(json: &[u8]) -> Option<Vec<u8>> {
    /// The code unit of a `\uXXXX` escape at the start of `b`.
    fn unit(b: &[u8]) -> Option<u16> {
        let hex = b.strip_prefix(b"\\u")?.get(..4)?;
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    }
    // The text copied so far, from the first escape replaced on: a text
    // without one (nearly all) is read without being copied.
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut copied) = (0, 0);
    while i < json.len() {
        if json[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit(&json[i..]) {
            Some(0xD800..=0xDBFF) if matches!(unit(&json[i + 6..]), Some(0xDC00..=0xDFFF)) => {
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                let out = out.get_or_insert_with(|| Vec::with_capacity(json.len()));
                out.extend_from_slice(&json[copied..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 6;
                copied = i;
            }
            Some(_) => i += 6,
            // Any other escape is two bytes (a bad one stays for the parser
            // to refuse).
            None => i += 2,
        }
    }
    let mut out = out?;
    out.extend_from_slice(&json[copied.min(json.len())..]);
    Some(out)
}

/// `bytes` read as JSON as xsafe reads other programs' JSON: as they are,
/// or, when serde_json refuses them and they hold lone surrogate escapes
/// (`"\ud800"`, which Python's `json` writes for a broken character), with
/// those read as U+FFFD ([`json_without_lone_surrogates`]). The first
/// error when there are none.
pub fn json_from_slice_lossy<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> serde_json::Result<T> {
    serde_json::from_slice(bytes).or_else(|e| match json_without_lone_surrogates(bytes) {
        Some(fixed) => serde_json::from_slice(&fixed),
        None => Err(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogate_escapes_become_replacement_characters() {
        // Python's json writes a broken character as a lone surrogate.
        let fixed = json_without_lone_surrogates(
            br#"{"a":"x\ud800y \udc00 \\ud800 \ud83d\ude00 \u00e9\ud83d"}"#,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(v["a"], "x\u{FFFD}y \u{FFFD} \\ud800 😀 é\u{FFFD}");
        // Nothing to replace: `None`, whatever else the text holds.
        assert_eq!(
            json_without_lone_surrogates(br#"{"a":"\ud83d\ude00 \\ud800"}"#),
            None
        );
        assert_eq!(json_without_lone_surrogates(br#"{"a": "\u12"#), None);
        let v: serde_json::Value = json_from_slice_lossy(br#"{"a":"x\ud800"}"#).unwrap();
        assert_eq!(v["a"], "x\u{FFFD}");
        assert!(json_from_slice_lossy::<serde_json::Value>(b"{").is_err());
    }
}
