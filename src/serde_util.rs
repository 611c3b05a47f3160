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
