//! Duplicate JSON member names, which serde_json silently resolves to the
//! last one. A card with `"securityRequirements"` twice could show one
//! reader the strict list and another the lax one, so it is refused
//! (RFC 8785 also treats duplicate names as invalid input).

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::parse::CardError;

/// Fails with the path of the first duplicated member. Input that is not
/// valid JSON passes (the real parser reports it).
pub(crate) fn check(json: &[u8]) -> Result<(), CardError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    match (Walk { path: "$".into() }).deserialize(&mut de) {
        Ok(Some(path)) => Err(CardError::Invalid {
            path,
            reason: "duplicate member name".into(),
        }),
        _ => Ok(()),
    }
}

/// Walks one value; yields the path of the first duplicate inside it.
struct Walk {
    path: String,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! scalar {
    ($($f:ident: $t:ty),*) => {$(
        fn $f<E: serde::de::Error>(self, _: $t) -> Result<Self::Value, E> { Ok(None) }
    )*};
}

impl<'de> Visitor<'de> for Walk {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0usize;
        loop {
            let seed = Walk {
                path: format!("{}[{i}]", self.path),
            };
            match seq.next_element_seed(seed)? {
                None => return Ok(found),
                Some(dup) => found = found.or(dup),
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = format!("{}.{key}", self.path);
            if found.is_none() && seen.contains(&key) {
                found = Some(path.clone());
            }
            let inner = map.next_value_seed(Walk { path })?;
            found = found.or(inner);
            seen.insert(key);
        }
        Ok(found)
    }
}
