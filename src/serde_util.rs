//! Small serde helpers for Kubernetes JSON, where `null` and an absent field mean the same.

use serde::{Deserialize, Deserializer};

/// Reads `null` as the type's default (`"key": null`, `"values": null` appear in real
/// API server output and hand-written manifests alike).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The JSON pointer of the place a `serde_path_to_error` error occurred.
pub fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&crate::yaml::escape_pointer(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    pointer
}

/// The dotted field path of a JSON pointer, for messages (`spec.taints[0].key`).
pub fn field_path(pointer: &str) -> String {
    let mut path = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{token}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&token);
        }
    }
    path
}

/// `metadata.annotations`, keeping only dsguard's own (`dsguard.io/…`): the rules and the
/// patch read nothing else, and a DaemonSet's other annotations (kubectl's
/// last-applied-configuration above all) can be kilobytes that would otherwise be copied
/// out of every admission request twice. `None` when the field is absent or null, so the
/// patch still knows whether the map exists.
pub fn dsguard_annotations<'de, D>(
    deserializer: D,
) -> Result<Option<std::collections::BTreeMap<String, String>>, D::Error>
where
    D: Deserializer<'de>,
{
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use serde::de::{IgnoredAny, MapAccess, Visitor};

    struct Annotations;

    impl<'de> Visitor<'de> for Annotations {
        type Value = Option<BTreeMap<String, String>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map of annotations")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(Annotations)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = BTreeMap::new();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if key.starts_with("dsguard.io/") {
                    kept.insert(key.into_owned(), map.next_value::<String>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Some(kept))
        }
    }

    deserializer.deserialize_option(Annotations)
}

/// What a decode bound says when it is crossed (see [`DecodeBudget`]); errors that carry
/// it are over the bound, not malformed.
pub const OVER_DECODE_BUDGET: &str = "more collection items than dsguard decodes in one object";

thread_local! {
    /// Collection items the decode running on this thread may still build (`None`: no
    /// bound, outside [`DecodeBudget`]).
    static ITEMS_LEFT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Bounds how many collection items (containers, ports, tolerations, selector terms,
/// expressions, values, map entries) the decodes on this thread build while it lives: a
/// body of `[{}, {}, ...]` costs a few hundred bytes of structs per three bytes of input,
/// so the bound on items, not the body size, is what bounds the memory of a decode.
/// Nested budgets keep the outer one's count when they end.
pub struct DecodeBudget {
    outer: Option<usize>,
}

impl DecodeBudget {
    pub fn begin(items: usize) -> Self {
        Self {
            outer: ITEMS_LEFT.replace(Some(items)),
        }
    }
}

impl Drop for DecodeBudget {
    fn drop(&mut self) {
        ITEMS_LEFT.set(self.outer);
    }
}

/// Takes one item from the budget, or fails once it is spent.
fn spend_item<E: serde::de::Error>() -> Result<(), E> {
    ITEMS_LEFT.with(|left| match left.get() {
        None => Ok(()),
        Some(0) => Err(E::custom(OVER_DECODE_BUDGET)),
        Some(n) => {
            left.set(Some(n - 1));
            Ok(())
        }
    })
}

/// A sequence (or `null`, read as empty) whose items count against the [`DecodeBudget`].
pub fn counted<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(counted_option(deserializer)?.unwrap_or_default())
}

/// [`counted`], keeping `null` (and absence, with `#[serde(default)]`) apart from `[]`.
pub fn counted_option<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    use serde::de::{SeqAccess, Visitor};

    struct Items<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Items<T> {
        type Value = Option<Vec<T>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_seq(self)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                spend_item()?;
                items.push(item);
            }
            Ok(Some(items))
        }
    }

    deserializer.deserialize_option(Items(std::marker::PhantomData))
}

/// A map (or `null`, read as empty) whose entries count against the [`DecodeBudget`].
pub fn counted_map<'de, D, K, V>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    Ok(counted_option_map(deserializer)?.unwrap_or_default())
}

/// [`counted_map`], keeping `null` apart from `{}`.
pub fn counted_option_map<'de, D, K, V>(
    deserializer: D,
) -> Result<Option<std::collections::BTreeMap<K, V>>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    use serde::de::{MapAccess, Visitor};
    use std::collections::BTreeMap;

    struct Entries<K, V>(std::marker::PhantomData<(K, V)>);

    impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Visitor<'de> for Entries<K, V> {
        type Value = Option<BTreeMap<K, V>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = BTreeMap::new();
            while let Some((key, value)) = map.next_entry()? {
                spend_item()?;
                entries.insert(key, value);
            }
            Ok(Some(entries))
        }
    }

    deserializer.deserialize_option(Entries(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Nested {
        #[serde(default, deserialize_with = "counted")]
        outer: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    struct Inner {
        #[serde(default, deserialize_with = "counted_map")]
        #[allow(dead_code)]
        entries: std::collections::BTreeMap<String, u8>,
    }

    #[test]
    fn a_decode_budget_bounds_the_items_of_every_level_together() {
        let text = r#"{"outer": [{"entries": {"a": 1, "b": 2}}, {}, {"entries": null}]}"#;
        let _unbounded: Nested = serde_json::from_str(text).unwrap();
        {
            let _budget = DecodeBudget::begin(5);
            let nested: Nested = serde_json::from_str(text).unwrap();
            assert_eq!(nested.outer.len(), 3);
        }
        let _budget = DecodeBudget::begin(4);
        let error = serde_json::from_str::<Nested>(text).unwrap_err();
        assert!(error.to_string().contains(OVER_DECODE_BUDGET), "{error}");
        // A nested budget gives the outer one back when it ends.
        drop(_budget);
        let _outer = DecodeBudget::begin(10);
        {
            let _inner = DecodeBudget::begin(1);
        }
        assert_eq!(ITEMS_LEFT.get(), Some(10));
    }
}
