//! Strict reading of a JSON request body: exactly one UTF-8 JSON object,
//! no byte order mark, no duplicate member names at any depth.
//!
//! Why: the upstream parses the body again with its own parser. Python's
//! `json` takes the last of two `"method"` members, strips a BOM and reads
//! UTF-16; serde takes the first or fails. Any input two parsers could read
//! differently is refused, so the operation the gateway named is the one the
//! agent runs.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body starts with a byte order mark; send plain UTF-8 JSON")]
    ByteOrderMark,
    #[error("the body is not UTF-8 (UTF-16 and other encodings are refused)")]
    NotUtf8,
    #[error("the body is not valid JSON")]
    Syntax,
    #[error("batch requests are not supported (A2A defines none)")]
    Batch,
    #[error("the body must be a JSON object")]
    NotObject,
    #[error("duplicate member name {0:?}")]
    Duplicate(String),
}

impl BodyError {
    /// The JSON-RPC error code: -32700 for what is not JSON at all, -32600
    /// for JSON that is not an acceptable request.
    pub fn jsonrpc_code(&self) -> i64 {
        match self {
            BodyError::ByteOrderMark | BodyError::NotUtf8 | BodyError::Syntax => -32700,
            BodyError::Batch | BodyError::NotObject | BodyError::Duplicate(_) => -32600,
        }
    }
}

/// A top-level member value the JSON-RPC envelope cares about.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Num(serde_json::Number),
    Null,
    /// A boolean, array or object.
    Other,
}

/// The JSON-RPC envelope members of a top-level object (each `None` when
/// absent). Filled while parsing, so what was read before an error (the `id`,
/// to echo) is kept.
#[derive(Debug, Default)]
pub struct Envelope {
    pub jsonrpc: Option<Scalar>,
    pub method: Option<Scalar>,
    pub id: Option<Scalar>,
}

/// Check `body` and read its envelope members. On error the envelope holds
/// what was read before it.
pub fn read(body: &[u8]) -> (Envelope, Result<(), BodyError>) {
    let env = RefCell::new(Envelope::default());
    let res = read_into(body, &env);
    (env.into_inner(), res)
}

fn read_into(body: &[u8], env: &RefCell<Envelope>) -> Result<(), BodyError> {
    if body.starts_with(b"\xEF\xBB\xBF") {
        return Err(BodyError::ByteOrderMark);
    }
    // A NUL byte is never valid in JSON text; here it means UTF-16/32.
    if body.starts_with(b"\xFE\xFF") || body.starts_with(b"\xFF\xFE") || body.contains(&0) {
        return Err(BodyError::NotUtf8);
    }
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    match text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first()
    {
        Some(b'[') => return Err(BodyError::Batch),
        Some(b'{') => {}
        _ => return Err(BodyError::NotObject),
    }
    let dup = Cell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let walked = Walk {
        dup: &dup,
        env: Some(env),
        keep: false,
    }
    .deserialize(&mut de)
    .and_then(|_| de.end());
    if let Some(name) = dup.take() {
        return Err(BodyError::Duplicate(name));
    }
    walked.map_err(|_| BodyError::Syntax)
}

/// Walks one value, failing on the first duplicate member name (recorded in
/// `dup`). `env` is set for the top-level object only. serde_json's
/// recursion limit bounds the depth.
struct Walk<'a> {
    dup: &'a Cell<Option<String>>,
    env: Option<&'a RefCell<Envelope>>,
    /// Keep a string value (only envelope members are copied).
    keep: bool,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = Scalar;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Num(v.into()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Num(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Scalar::Other, Scalar::Num))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(if self.keep {
            Scalar::Str(v.to_owned())
        } else {
            Scalar::Other
        })
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        let dup = self.dup;
        let walk = || Walk {
            dup,
            env: None,
            keep: false,
        };
        while seq.next_element_seed(walk())?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(Key(key)) = map.next_key()? {
            if seen.contains(&key) {
                // Named in the error (shortened: it is the caller's input).
                self.dup.set(Some(key.chars().take(64).collect()));
                return Err(serde::de::Error::custom("duplicate member name"));
            }
            let keep = self.env.is_some() && matches!(key.as_ref(), "jsonrpc" | "method" | "id");
            let value = map.next_value_seed(Walk {
                dup: self.dup,
                env: None,
                keep,
            })?;
            if let Some(env) = self.env {
                let mut env = env.borrow_mut();
                match key.as_ref() {
                    "jsonrpc" => env.jsonrpc = Some(value),
                    "method" => env.method = Some(value),
                    "id" => env.id = Some(value),
                    _ => {}
                }
            }
            seen.insert(key);
        }
        Ok(Scalar::Other)
    }
}

/// A member name, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}
