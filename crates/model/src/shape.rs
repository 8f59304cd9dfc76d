//! The names a serde type knows: a struct's fields, an enum's variants.
//!
//! A message from a newer build may carry a field or a variant this build
//! has never heard of. To tell that apart from a malformed message, the
//! decoder compares the message's keys with the names the types here
//! declare — read from the types themselves, so the lists cannot fall
//! behind the definitions.

use serde::Deserialize;
use serde::de::{self, Visitor};

/// The field names of a struct, or the variant names of an enum, that `T`
/// deserializes; empty for any other shape.
pub fn names_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = Probe(&[]);
    // The probe refuses every value: only the names it was shown matter.
    let _ = T::deserialize(&mut probe);
    probe.0
}

/// A deserializer that records the names a type asks for, and fails.
struct Probe(&'static [&'static str]);

#[derive(Debug)]
struct Seen;

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("shape probe")
    }
}

impl std::error::Error for Seen {}

impl de::Error for Seen {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Seen
    }
}

impl<'de> de::Deserializer<'de> for &mut Probe {
    type Error = Seen;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Seen> {
        Err(Seen)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Seen> {
        self.0 = fields;
        Err(Seen)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Seen> {
        self.0 = variants;
        Err(Seen)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Two {
        a: u32,
        #[serde(rename = "bee")]
        b: u32,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Kind {
        One,
        TwoWords,
    }

    #[test]
    fn structs_give_their_fields_and_enums_their_variants() {
        assert_eq!(names_of::<Two>(), ["a", "bee"]);
        assert_eq!(names_of::<Kind>(), ["one", "two_words"]);
        assert!(names_of::<u32>().is_empty());
    }
}
