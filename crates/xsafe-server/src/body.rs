//! The client's request body as it came, for the upstream: every field but
//! `messages` is sent as the client wrote it, byte for byte.
//!
//! A body read into a [`serde_json::Value`] and written again changes what
//! JSON numbers a `Value` cannot hold as they are: an integer beyond 64
//! bits becomes a float (`18446744073709551616` is sent as
//! `1.8446744073709552e+19`) and an exponent a float (`1e3` as `1000.0`),
//! which a vendor field holding a large id or seed, or a strict upstream
//! that wants an integer `max_tokens`, does not take. The proxy changes
//! only `messages` (and, for an interactive strategy, leaves out `stream`
//! and `stream_options`), so the other fields are kept as raw JSON text
//! ([`RawValue`]) and written back as they are.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// The client's body `bytes` read as JSON as `xsafe run` reads an answer:
/// a lone UTF-16 surrogate escape (`"\ud800"`, which Python's `json`
/// writes for a broken character, and serde_json refuses) is U+FFFD. With
/// the text it was read from, those escapes replaced, to forward.
pub fn read_lossy(bytes: Vec<u8>) -> serde_json::Result<(Value, Vec<u8>)> {
    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok((value, bytes)),
        Err(e) => match xsafe_core::json_without_lone_surrogates(&bytes) {
            Some(fixed) => Ok((serde_json::from_slice(&fixed)?, fixed)),
            None => Err(e),
        },
    }
}

/// A JSON object's fields as raw JSON text, in the order they came. A
/// field given twice is kept once, with its last value (as a `Value`, and
/// so the proxy's checks, read it), in the place of that last one.
#[derive(Debug, Default)]
pub struct RawBody {
    fields: Vec<(String, Box<RawValue>)>,
}

impl RawBody {
    /// The fields of the JSON object `bytes` (which must be one).
    pub fn parse(bytes: &[u8]) -> serde_json::Result<RawBody> {
        serde_json::from_slice(bytes)
    }

    /// These fields without those named `names`.
    pub fn without(&self, names: &[&str]) -> RawBody {
        RawBody {
            fields: self
                .fields
                .iter()
                .filter(|(name, _)| !names.contains(&name.as_str()))
                .map(|(name, raw)| (name.clone(), raw.clone()))
                .collect(),
        }
    }

    /// The body as JSON text: every field as it came, but `messages`, which
    /// is `messages` when given (in the place the client's had, or last),
    /// or the client's own when not.
    pub fn to_json(&self, messages: Option<&[Value]>) -> Vec<u8> {
        // A `Value` is always JSON: writing it cannot fail.
        let messages = messages.map(|m| serde_json::to_vec(m).expect("a Value is JSON"));
        let size: usize = self
            .fields
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum();
        let mut out = Vec::with_capacity(size + messages.as_ref().map_or(0, Vec::len) + 16);
        out.push(b'{');
        let mut placed = false;
        for (name, raw) in &self.fields {
            let value = match &messages {
                Some(messages) if name == "messages" => {
                    placed = true;
                    messages.as_slice()
                }
                _ => raw.get().as_bytes(),
            };
            push_field(&mut out, name, value);
        }
        if let Some(messages) = &messages
            && !placed
        {
            push_field(&mut out, "messages", messages);
        }
        out.push(b'}');
        out
    }
}

/// Writes `"name":value` after the fields already in `out`.
fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    if out.len() > 1 {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, name).expect("a string is JSON");
    out.push(b':');
    out.extend_from_slice(value);
}

impl<'de> Deserialize<'de> for RawBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawBody;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawBody, A::Error> {
                let mut fields: Vec<(String, Box<RawValue>)> = Vec::new();
                while let Some((name, raw)) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.retain(|(k, _)| *k != name);
                    fields.push((name, raw));
                }
                Ok(RawBody { fields })
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_written_as_they_came_and_messages_replaced() {
        let text = br#"{"model":"m","x_big":18446744073709551616,"max_tokens":1e3,
            "messages":[{"role":"user","content":"q"}],"n":-9223372036854775809,
            "o":{"a" : [1.50, 2E+2]}}"#;
        let body = RawBody::parse(text).unwrap();
        let out = String::from_utf8(body.to_json(None)).unwrap();
        assert_eq!(
            out,
            r#"{"model":"m","x_big":18446744073709551616,"max_tokens":1e3,"messages":[{"role":"user","content":"q"}],"n":-9223372036854775809,"o":{"a" : [1.50, 2E+2]}}"#
        );
        let messages = [
            json!({"role": "system", "content": "s"}),
            json!({"role": "user", "content": "q"}),
        ];
        let out = String::from_utf8(body.to_json(Some(&messages))).unwrap();
        assert!(
            out.contains(r#","max_tokens":1e3,"messages":[{"content":"s","role":"system"},"#),
            "{out}"
        );
        let out = body.without(&["messages", "n"]).to_json(Some(&messages));
        let out = String::from_utf8(out).unwrap();
        assert!(out.ends_with(r#""o":{"a" : [1.50, 2E+2]},"messages":[{"content":"s","role":"system"},{"content":"q","role":"user"}]}"#), "{out}");
        assert!(!out.contains("\"n\""), "{out}");
    }

    #[test]
    fn a_field_given_twice_is_sent_once_with_its_last_value() {
        let body = RawBody::parse(br#"{"stream":true,"model":"m","stream":false}"#).unwrap();
        assert_eq!(body.to_json(None), br#"{"model":"m","stream":false}"#);
        assert!(RawBody::parse(b"[1]").is_err());
        assert_eq!(
            RawBody::parse(br#"{"k\u0041y":"v\u00e9"}"#)
                .unwrap()
                .to_json(None),
            r#"{"kAy":"v\u00e9"}"#.as_bytes()
        );
    }
}
