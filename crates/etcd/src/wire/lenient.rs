//! Field decoders for answers, lenient the way etcd's own JSON decoder is: an absent or null
//! field is the proto3 default, and an int64 may come as a string (what etcd sends) or as a
//! number.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use base64::Engine;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Standard alphabet, padding optional.
const BASE64_LENIENT: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;

/// An integer given as a JSON string or number; null is 0.
pub(super) fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64> + FromStr + Default,
{
    struct Integer<T>(PhantomData<T>);
    impl<T> Visitor<'_> for Integer<T>
    where
        T: TryFrom<i64> + TryFrom<u64> + FromStr + Default,
    {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer, or a string holding one")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.parse()
                .map_err(|_| E::custom(format!("{v:?} is not an integer in range")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<T, E> {
            Ok(T::default())
        }
    }
    deserializer.deserialize_any(Integer(PhantomData))
}

/// Base64 bytes; null is empty.
pub(super) fn bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(Vec::new()),
        Some(text) => BASE64_LENIENT
            .decode(text.as_bytes())
            .map_err(|e| de::Error::custom(format!("bad base64: {e}"))),
    }
}

/// Any value whose null means its default (false, empty list, empty object).
pub(super) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
