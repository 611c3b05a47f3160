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
