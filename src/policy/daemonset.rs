//! The part of a DaemonSet the rules read, decoded straight from the incoming JSON.
//!
//! Only these fields are decoded (a 41 KB object with managedFields costs a skip, not a
//! typed tree), and the view is never serialized back: the patch is built as RFC 6902
//! operations against paths of the object exactly as it arrived, so fields this model
//! does not know survive untouched.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scheduling::resources::{QuantityText, ResourceRequirements};
use crate::scheduling::selector::Affinity;
use crate::scheduling::{NodeSelection, Toleration};
use crate::serde_util::{
    DecodeBudget, counted, counted_map, counted_option, counted_option_map, dsguard_annotations,
    field_path, null_as_default, pointer_of,
};

pub const TEMPLATE_SPEC: &str = "/spec/template/spec";

/// A DaemonSet as the rules see it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSet {
    #[serde(default, deserialize_with = "null_as_default")]
    pub api_version: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub kind: String,
    /// `None` when the object has no `metadata` at all (the patch must then add it).
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "null_as_default")]
    spec: DaemonSetSpec,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub generate_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub namespace: String,
    /// Identity, for the audit's reports and Events (no rule reads it).
    #[serde(default, deserialize_with = "null_as_default")]
    pub uid: String,
    /// Kept for the DaemonSet watch, which resumes from it (no rule reads it).
    #[serde(default, deserialize_with = "null_as_default")]
    pub resource_version: String,
    #[serde(default, deserialize_with = "counted_map")]
    pub labels: BTreeMap<String, String>,
    /// Only the `dsguard.io/` annotations (nothing else is read); `None` when the map is
    /// absent or null: the patch adds the whole map then.
    #[serde(default, deserialize_with = "dsguard_annotations")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct DaemonSetSpec {
    #[serde(default)]
    template: Option<PodTemplate>,
    #[serde(default)]
    update_strategy: Option<UpdateStrategy>,
}

/// `spec.updateStrategy`: how a rollout replaces the pods.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStrategy {
    /// `RollingUpdate` (the default when absent) or `OnDelete`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub rolling_update: Option<RollingUpdate>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdate {
    #[serde(default)]
    pub max_surge: Option<IntOrString>,
    #[serde(default)]
    pub max_unavailable: Option<IntOrString>,
}

/// `intstr.IntOrString`: a count or a percentage such as `"25%"`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
struct PodTemplate {
    #[serde(default)]
    spec: Option<PodSpec>,
}

/// The pod template's spec, reduced to placement, tolerations, priority and limits.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default, deserialize_with = "counted_option_map")]
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub affinity: Option<Affinity>,
    /// `None` when absent or null (the patch adds a whole array), else the list.
    #[serde(default, deserialize_with = "counted_option")]
    pub tolerations: Option<Vec<Toleration>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub host_network: bool,
    #[serde(default)]
    pub priority_class_name: Option<String>,
    #[serde(default)]
    pub priority: Option<i32>,
    /// `PreemptLowerPriority` (the default) or `Never`.
    #[serde(default)]
    pub preemption_policy: Option<String>,
    #[serde(default, deserialize_with = "counted")]
    pub containers: Vec<Container>,
    #[serde(default, deserialize_with = "counted")]
    pub init_containers: Vec<Container>,
    /// `spec.overhead`: what the RuntimeClass adds to every pod.
    #[serde(default, deserialize_with = "counted_map")]
    pub overhead: BTreeMap<String, QuantityText>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: ResourceRequirements,
    /// `Always` on an init container makes it a sidecar.
    #[serde(default)]
    pub restart_policy: Option<String>,
    #[serde(default, deserialize_with = "counted")]
    pub ports: Vec<ContainerPort>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default)]
    pub host_port: Option<i64>,
    #[serde(default)]
    pub container_port: Option<i64>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default, rename = "hostIP")]
    pub host_ip: Option<String>,
}

/// An object that is not a readable DaemonSet: where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if pointer.is_empty() { "object".to_owned() } else { field_path(pointer) })]
pub struct DecodeError {
    pub pointer: String,
    pub message: String,
}

/// The collection items (containers, init containers, ports, tolerations, selector terms,
/// expressions, values, labels, resource entries) dsguard decodes in one DaemonSet. Real
/// DaemonSets have tens; the bound is what keeps the memory of judging one small whatever
/// its body holds (docs/operations.md "Limits").
pub const MAX_DECODED_ITEMS: usize = 8192;

/// The largest object whose members written twice are read through a JSON tree (see
/// [`DaemonSet::from_json`]): a tree costs many times its text, and the API server never
/// sends duplicates (it encodes what it stored), so only a direct caller can.
const MAX_DUPLICATE_FALLBACK_BYTES: usize = 256 * 1024;

impl DecodeError {
    /// True when the object holds more than [`MAX_DECODED_ITEMS`]: not malformed, too large
    /// to judge.
    pub fn is_over_budget(&self) -> bool {
        self.message.contains(crate::serde_util::OVER_DECODE_BUDGET)
    }
}

impl DaemonSet {
    /// Decodes from a JSON value (lint and coverage, which hold the document already).
    pub fn from_value(value: &serde_json::Value) -> Result<Self, DecodeError> {
        let _budget = DecodeBudget::begin(MAX_DECODED_ITEMS);
        Self::checked(serde_path_to_error::deserialize(value))
    }

    /// Decodes from raw JSON bytes (admission: no intermediate tree).
    ///
    /// A member written twice (`"nodeSelector"` twice) is read as Kubernetes and `lint`
    /// read it, the last one winning: a struct decoder refuses duplicates, so that case
    /// goes through a JSON tree, whose maps keep the last value (for objects of at most
    /// [`MAX_DUPLICATE_FALLBACK_BYTES`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        let direct = {
            let _budget = DecodeBudget::begin(MAX_DECODED_ITEMS);
            let mut deserializer = serde_json::Deserializer::from_slice(bytes);
            Self::checked(serde_path_to_error::deserialize(&mut deserializer))
        };
        match direct {
            Err(error)
                if error.message.starts_with("duplicate field")
                    && bytes.len() <= MAX_DUPLICATE_FALLBACK_BYTES =>
            {
                match serde_json::from_slice::<serde_json::Value>(bytes) {
                    Ok(tree) => Self::from_value(&tree),
                    Err(_) => Err(error),
                }
            }
            other => other,
        }
    }

    fn checked<E: std::fmt::Display>(
        result: Result<Self, serde_path_to_error::Error<E>>,
    ) -> Result<Self, DecodeError> {
        result
            .map_err(|e| DecodeError {
                pointer: pointer_of(e.path()),
                message: e.inner().to_string(),
            })?
            .with_pod_spec()
    }

    /// The object, if it has the pod template spec every rule reads.
    pub fn with_pod_spec(self) -> Result<Self, DecodeError> {
        if self
            .spec
            .template
            .as_ref()
            .and_then(|t| t.spec.as_ref())
            .is_none()
        {
            return Err(DecodeError {
                pointer: "/spec/template/spec".into(),
                message: "missing: a DaemonSet needs spec.template.spec".into(),
            });
        }
        Ok(self)
    }

    pub fn pod(&self) -> &PodSpec {
        self.spec
            .template
            .as_ref()
            .and_then(|t| t.spec.as_ref())
            .expect("checked at decode")
    }

    pub fn pod_mut(&mut self) -> &mut PodSpec {
        self.spec
            .template
            .as_mut()
            .and_then(|t| t.spec.as_mut())
            .expect("checked at decode")
    }

    pub fn name(&self) -> &str {
        let meta = self.metadata.as_ref();
        match meta.map(|m| m.name.as_str()).filter(|n| !n.is_empty()) {
            Some(name) => name,
            None => meta.map_or("", |m| m.generate_name.as_str()),
        }
    }

    /// The namespace a manifest without one is applied to (`kubectl apply` without `-n`).
    pub fn namespace_or_default(&self) -> &str {
        self.namespace().unwrap_or("default")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.metadata
            .as_ref()
            .map(|m| m.namespace.as_str())
            .filter(|n| !n.is_empty())
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.metadata.as_ref().map_or(&EMPTY, |m| &m.labels)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .as_ref()?
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }

    /// True when every input the rules read is the same in both objects: the pod-spec
    /// view, the labels (exemption selector) and the `dsguard.io/` annotations. Two such
    /// objects get the same verdict, so an UPDATE that changes only other fields (an image,
    /// a label no selector reads) need not be judged twice.
    pub fn same_rule_inputs(&self, other: &DaemonSet) -> bool {
        let dsguard_annotations = |d: &DaemonSet| -> Vec<(String, String)> {
            d.metadata
                .as_ref()
                .and_then(|m| m.annotations.as_ref())
                .map(|a| {
                    a.iter()
                        .filter(|(k, _)| k.starts_with("dsguard.io/"))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        self.pod() == other.pod()
            && self.spec.update_strategy == other.spec.update_strategy
            && self.labels() == other.labels()
            && dsguard_annotations(self) == dsguard_annotations(other)
    }

    /// `spec.updateStrategy`, when written.
    pub fn update_strategy(&self) -> Option<&UpdateStrategy> {
        self.spec.update_strategy.as_ref()
    }

    /// `metadata.uid`, empty when absent (a manifest not yet created).
    pub fn uid(&self) -> &str {
        self.metadata.as_ref().map_or("", |m| m.uid.as_str())
    }

    /// True for `apps/v1` `DaemonSet`.
    pub fn is_apps_v1_daemonset(&self) -> bool {
        self.api_version == "apps/v1" && self.kind == "DaemonSet"
    }

    /// The tolerations its pods carry on a node: its own, then `injected` (what dsguard's
    /// mutation adds), then those the DaemonSet controller adds to every daemon pod.
    pub fn pod_tolerations(&self, injected: &[Toleration]) -> Vec<Toleration> {
        let mut tolerations = self.own_and_injected_tolerations(injected);
        tolerations.extend(crate::scheduling::daemon_pod_tolerations(
            self.pod().host_network,
        ));
        tolerations
    }

    fn own_and_injected_tolerations(&self, injected: &[Toleration]) -> Vec<Toleration> {
        let mut tolerations = self.pod().tolerations.clone().unwrap_or_default();
        tolerations.extend_from_slice(injected);
        tolerations
    }

    /// What its pods' [`Reach`](crate::inventory::Reach) is remembered by, for
    /// `selection` (its own, [`DaemonSet::selection`]) and the `injected` tolerations.
    pub fn reach_key(
        &self,
        selection: NodeSelection,
        injected: &[Toleration],
        comparison_operators: bool,
    ) -> crate::inventory::ReachKey {
        crate::inventory::ReachKey {
            selection,
            tolerations: self.own_and_injected_tolerations(injected),
            host_network: self.pod().host_network,
            comparison_operators,
        }
    }

    pub fn selection(&self) -> NodeSelection {
        let pod = self.pod();
        NodeSelection::new(
            pod.node_name.as_deref(),
            pod.node_selector.as_ref(),
            pod.affinity.as_ref().and_then(Affinity::required),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_only_what_rules_need_and_keeps_presence() {
        let value = json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "x", "namespace": "ns", "annotations": null, "managedFields": [{"big": true}]},
            "spec": {"template": {"spec": {
                "tolerations": null, "hostNetwork": true, "futureField": {"a": 1},
                "containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "1Gi", "cpu": 1}}}]
            }}}
        });
        let ds = DaemonSet::from_value(&value).unwrap();
        assert_eq!(ds.name(), "x");
        assert_eq!(ds.namespace(), Some("ns"));
        assert!(ds.metadata.as_ref().unwrap().annotations.is_none());
        let annotated = json!({"kind": "DaemonSet", "metadata": {"annotations": {"other": "x", "dsguard.io/exempt": "DSG003", "a\\/b": "y"}},
                               "spec": {"template": {"spec": {}}}});
        let kept = DaemonSet::from_value(&annotated)
            .unwrap()
            .metadata
            .unwrap()
            .annotations
            .unwrap();
        assert_eq!(
            kept.into_iter().collect::<Vec<_>>(),
            [("dsguard.io/exempt".to_string(), "DSG003".to_string())]
        );
        let empty = json!({"kind": "DaemonSet", "metadata": {"annotations": {}}, "spec": {"template": {"spec": {}}}});
        assert_eq!(
            DaemonSet::from_value(&empty)
                .unwrap()
                .metadata
                .unwrap()
                .annotations,
            Some(BTreeMap::new())
        );
        assert!(ds.pod().tolerations.is_none());
        assert!(ds.pod().host_network);
        assert_eq!(ds.pod().containers[0].resources.limits.len(), 2);
        assert_eq!(
            DaemonSet::from_json(value.to_string().as_bytes()).unwrap(),
            ds
        );
    }

    #[test]
    fn rule_inputs_ignore_what_no_rule_reads() {
        let base = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "x", "labels": {"a": "b"}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i:1", "resources": {"limits": {"cpu": "1"}}}]}}}});
        let same = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut other = base.clone();
            change(&mut other);
            DaemonSet::from_value(&base)
                .unwrap()
                .same_rule_inputs(&DaemonSet::from_value(&other).unwrap())
        };
        assert!(same(
            &|o| o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("i:2")
        ));
        assert!(same(
            &|o| o["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
                json!("{\"x\":1}")
        ));
        assert!(!same(&|o| o["spec"]["template"]["spec"]["containers"][0]
            ["resources"]["limits"]["memory"] =
            json!("1Gi")));
        assert!(!same(&|o| o["metadata"]["labels"]["tier"] = json!("system")));
        assert!(!same(
            &|o| o["metadata"]["annotations"]["dsguard.io/exempt"] = json!("DSG003")
        ));
        assert!(!same(
            &|o| o["spec"]["template"]["spec"]["nodeSelector"] = json!({"k": "v"})
        ));
    }

    #[test]
    fn wrong_types_and_missing_template_are_located() {
        let value = json!({"kind": "DaemonSet", "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": 3}]}}}});
        let error = DaemonSet::from_value(&value).unwrap_err();
        assert_eq!(error.pointer, "/spec/template/spec/containers/1/name");
        assert!(
            error
                .to_string()
                .starts_with("spec.template.spec.containers[1].name:"),
            "{error}"
        );
        let error = DaemonSet::from_value(&json!({"kind": "DaemonSet", "spec": {}})).unwrap_err();
        assert!(
            error.to_string().contains("needs spec.template.spec"),
            "{error}"
        );
        let error = DaemonSet::from_json(b"{\"kind\": \"DaemonSet\", \"spec\": ").unwrap_err();
        assert!(!error.message.is_empty());
    }
}
