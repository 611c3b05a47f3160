//! Taints, tolerations, and the tolerations the DaemonSet controller adds to every daemon
//! pod (Kubernetes `staging/src/k8s.io/api/core/v1/toleration.go` and `pkg/controller/daemon/util/daemonset_util.go`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::serde_util::null_as_default;

pub const NO_SCHEDULE: &str = "NoSchedule";
pub const NO_EXECUTE: &str = "NoExecute";
pub const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

/// A node taint. The effect stays a string: an unknown effect never blocks, and must not
/// make a node snapshot unreadable.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Taint {
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub effect: String,
}

impl Taint {
    pub fn new(key: &str, value: &str, effect: &str) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            effect: effect.into(),
        }
    }

    /// NoSchedule and NoExecute keep a daemon pod off a node; PreferNoSchedule never does.
    pub fn blocks_daemon_pods(&self) -> bool {
        self.effect == NO_SCHEDULE || self.effect == NO_EXECUTE
    }
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect)
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

/// A pod toleration as written. `operator` stays a string so that an unknown operator
/// tolerates nothing, exactly as in Kubernetes, instead of failing the decode.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub key: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub operator: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub value: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub effect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// `operator: Exists` on `key` for `effect` (either may be empty).
    pub fn exists(key: &str, effect: &str) -> Self {
        Self {
            key: key.into(),
            operator: "Exists".into(),
            effect: effect.into(),
            ..Self::default()
        }
    }

    /// The narrowest toleration for one taint: `Equal` on its value, or `Exists` when the
    /// taint has no value.
    pub fn exactly_for(taint: &Taint) -> Self {
        if taint.value.is_empty() {
            Self::exists(&taint.key, &taint.effect)
        } else {
            Self {
                key: taint.key.clone(),
                operator: "Equal".into(),
                value: taint.value.clone(),
                effect: taint.effect.clone(),
                toleration_seconds: None,
            }
        }
    }

    /// `Toleration.ToleratesTaint`. `comparison_operators` is the alpha
    /// `TaintTolerationComparisonOperators` gate for `Lt`/`Gt`.
    pub fn tolerates(&self, taint: &Taint, comparison_operators: bool) -> bool {
        if !self.effect.is_empty() && self.effect != taint.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator.as_str() {
            "" | "Equal" => self.value == taint.value,
            "Exists" => true,
            "Lt" | "Gt" if comparison_operators => {
                match (
                    canonical_integer(&taint.value),
                    canonical_integer(&self.value),
                ) {
                    (Some(taint_value), Some(bound)) if self.operator == "Lt" => {
                        taint_value < bound
                    }
                    (Some(taint_value), Some(bound)) => taint_value > bound,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// True when this toleration tolerates every taint `other` tolerates, so adding
    /// `other` next to it changes nothing (DSG102's duplicate test).
    pub fn covers(&self, other: &Toleration) -> bool {
        let effect_ok = self.effect.is_empty() || self.effect == other.effect;
        let key_ok = self.key.is_empty() || self.key == other.key;
        if !effect_ok || !key_ok {
            return false;
        }
        let is_equal = |op: &str| op.is_empty() || op == "Equal";
        match self.operator.as_str() {
            "Exists" => true,
            op if is_equal(op) => is_equal(&other.operator) && self.value == other.value,
            op => op == other.operator && self.value == other.value,
        }
    }

    /// A YAML list item a user can paste under `tolerations:`.
    pub fn to_yaml_item(&self) -> String {
        let mut shown = self.clone();
        if shown.operator.is_empty() {
            shown.operator = "Equal".into();
        }
        let value = serde_json::to_value(&shown).expect("a toleration serializes");
        crate::yaml::item_lines(&value, 0, 2).join("\n")
    }
}

impl fmt::Display for Toleration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() { "*" } else { &self.key };
        let effect = if self.effect.is_empty() {
            "*"
        } else {
            &self.effect
        };
        match self.operator.as_str() {
            "Exists" => write!(f, "{key}(Exists):{effect}"),
            "" | "Equal" => write!(f, "{key}={}:{effect}", self.value),
            op => write!(f, "{key} {op} {}:{effect}", self.value),
        }
    }
}

/// `content.IsDecimalInteger`: a canonical base-10 integer (no leading zeros, no `+`).
fn canonical_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    if canonical { text.parse().ok() } else { None }
}

/// Taints as users write them, `key=value:Effect, …` (messages, gaps, Events).
pub fn taint_list(taints: &[Taint]) -> String {
    taints
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tolerations `AddOrUpdateDaemonPodTolerations` gives every daemon pod.
pub fn daemon_pod_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut tolerations = vec![
        Toleration::exists("node.kubernetes.io/not-ready", NO_EXECUTE),
        Toleration::exists("node.kubernetes.io/unreachable", NO_EXECUTE),
        Toleration::exists("node.kubernetes.io/disk-pressure", NO_SCHEDULE),
        Toleration::exists("node.kubernetes.io/memory-pressure", NO_SCHEDULE),
        Toleration::exists("node.kubernetes.io/pid-pressure", NO_SCHEDULE),
        Toleration::exists("node.kubernetes.io/unschedulable", NO_SCHEDULE),
    ];
    if host_network {
        tolerations.push(Toleration::exists(
            "node.kubernetes.io/network-unavailable",
            NO_SCHEDULE,
        ));
    }
    tolerations
}

/// The taints among `taints` that keep a pod with `tolerations` off the node
/// (`FindMatchingUntoleratedTaint`, all of them rather than the first).
pub fn untolerated_taints<'t>(
    taints: &'t [Taint],
    tolerations: &[Toleration],
    comparison_operators: bool,
) -> impl Iterator<Item = &'t Taint> {
    taints.iter().filter(move |taint| {
        taint.blocks_daemon_pods()
            && !tolerations
                .iter()
                .any(|t| t.tolerates(taint, comparison_operators))
    })
}
