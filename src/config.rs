//! The typed, validated dsguard configuration (README "Config"). Every field has a default, so no
//! file at all is a working setup; a file is checked strictly (unknown fields, bad actions,
//! invalid tolerations and label keys are errors naming the field and its line), because
//! a typo in a policy file must never silently turn a rule off. [`Config::load`] is the
//! only IO here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::scheduling::Toleration;
use crate::scheduling::labels::{validate_label_key, validate_label_value};
use crate::scheduling::selector::LabelRequirement;
use crate::serde_util::{field_path, pointer_of};
use crate::yaml;

/// What a rule does when it finds a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Off,
    Warn,
    Deny,
}

impl<'de> Deserialize<'de> for Action {
    /// `deny`, `warn` or `off`. A plain `off` is the boolean false in the YAML 1.1 that
    /// Kubernetes tooling reads, so `false` is accepted as `off` too.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Flag(bool),
        }
        let expected = "one of deny, warn, off";
        match Raw::deserialize(deserializer) {
            Ok(Raw::Text(text)) => match text.as_str() {
                "deny" => Ok(Action::Deny),
                "warn" => Ok(Action::Warn),
                "off" => Ok(Action::Off),
                other => Err(serde::de::Error::custom(format!(
                    "unknown action `{other}`, expected {expected}"
                ))),
            },
            Ok(Raw::Flag(false)) => Ok(Action::Off),
            Ok(Raw::Flag(true)) | Err(_) => {
                Err(serde::de::Error::custom(format!("expected {expected}")))
            }
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Config {
    pub rules: Rules,
    pub mutations: Mutations,
    pub exemptions: Exemptions,
    /// The alpha `Lt`/`Gt` toleration operators (feature gate
    /// `TaintTolerationComparisonOperators`); off, they tolerate nothing.
    pub toleration_comparison_operators: bool,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    #[serde(rename = "selector-matches-no-node")]
    pub selector_matches_no_node: SelectorRule,
    #[serde(rename = "untolerated-taints")]
    pub untolerated_taints: TaintRule,
    #[serde(rename = "missing-resource-limits")]
    pub missing_resource_limits: LimitsRule,
    #[serde(rename = "unknown-priority-class")]
    pub unknown_priority_class: PriorityClassRule,
    #[serde(rename = "requests-exceed-allocatable")]
    pub requests_exceed_allocatable: FitRule,
    #[serde(rename = "surge-with-host-port")]
    pub surge_with_host_port: SurgeRule,
    #[serde(rename = "no-room-beside-running-pods")]
    pub no_room_beside_running_pods: RoomRule,
}

/// DSG007: `action` when some node leaves the pod Pending beside the pods running there
/// (a node where it gets room only by preemption is an `info` finding).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RoomRule {
    pub action: Action,
}

impl Default for RoomRule {
    fn default() -> Self {
        Self {
            action: Action::Warn,
        }
    }
}

/// DSG005: `action` when the pod fits no node it would run on, `partialAction` when it
/// does not fit some.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct FitRule {
    pub action: Action,
    pub partial_action: Action,
}

impl Default for FitRule {
    fn default() -> Self {
        Self {
            action: Action::Deny,
            partial_action: Action::Warn,
        }
    }
}

/// DSG006: a rollout that cannot progress, or that takes every daemon pod down at once.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct SurgeRule {
    pub action: Action,
}

impl Default for SurgeRule {
    fn default() -> Self {
        Self {
            action: Action::Warn,
        }
    }
}

/// DSG001.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct SelectorRule {
    pub action: Action,
    /// Label keys whose absence from every node is expected (gate labels, pools scaled to
    /// zero): an empty selection on them is a warning.
    pub expected_empty_label_keys: Vec<String>,
}

impl Default for SelectorRule {
    fn default() -> Self {
        Self {
            action: Action::Deny,
            expected_empty_label_keys: Vec::new(),
        }
    }
}

/// DSG002.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TaintRule {
    /// When every targeted node is blocked.
    pub action: Action,
    /// When only some targeted nodes are blocked.
    pub partial_action: Action,
    /// Taints that are intended exclusions when only some nodes carry them.
    pub ignore_taint_keys: Vec<String>,
    /// Labels naming a node's pool, first present wins; for grouping blocked nodes.
    pub pool_label_keys: Vec<String>,
}

impl Default for TaintRule {
    fn default() -> Self {
        Self {
            action: Action::Deny,
            partial_action: Action::Deny,
            ignore_taint_keys: vec![
                "node-role.kubernetes.io/control-plane".into(),
                "node-role.kubernetes.io/master".into(),
            ],
            pool_label_keys: [
                "karpenter.sh/nodepool",
                "eks.amazonaws.com/nodegroup",
                "cloud.google.com/gke-nodepool",
                "kubernetes.azure.com/agentpool",
                "node.kubernetes.io/instance-type",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// DSG003.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LimitsRule {
    pub action: Action,
    pub resources: Vec<String>,
    pub include_init_containers: bool,
    pub honor_limit_range: bool,
}

impl Default for LimitsRule {
    fn default() -> Self {
        Self {
            action: Action::Deny,
            resources: vec!["cpu".into(), "memory".into()],
            include_init_containers: true,
            honor_limit_range: true,
        }
    }
}

/// DSG004.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct PriorityClassRule {
    pub action: Action,
}

impl Default for PriorityClassRule {
    fn default() -> Self {
        Self {
            action: Action::Warn,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Mutations {
    #[serde(rename = "default-priority-class")]
    pub default_priority_class: DefaultPriorityClass,
    #[serde(rename = "default-tolerations")]
    pub default_tolerations: DefaultTolerations,
}

/// DSG101.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct DefaultPriorityClass {
    pub enabled: bool,
    pub name: String,
    /// Per-namespace override of `name`.
    pub namespaces: BTreeMap<String, String>,
}

impl Default for DefaultPriorityClass {
    fn default() -> Self {
        Self {
            enabled: true,
            name: "dsguard-default".into(),
            namespaces: BTreeMap::new(),
        }
    }
}

impl DefaultPriorityClass {
    pub fn class_for(&self, namespace: &str) -> &str {
        self.namespaces.get(namespace).unwrap_or(&self.name)
    }
}

/// DSG102.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct DefaultTolerations {
    pub enabled: bool,
    pub tolerations: Vec<ConfigToleration>,
    pub auto_tolerate_taint_keys: Vec<String>,
}

/// A toleration in the config: the Kubernetes shape, strictly read.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ConfigToleration {
    pub key: String,
    pub operator: String,
    pub value: String,
    pub effect: String,
    pub toleration_seconds: Option<i64>,
}

impl ConfigToleration {
    pub fn to_toleration(&self) -> Toleration {
        Toleration {
            key: self.key.clone(),
            operator: self.operator.clone(),
            value: self.value.clone(),
            effect: self.effect.clone(),
            toleration_seconds: self.toleration_seconds,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Exemptions {
    pub namespaces: Vec<String>,
    /// A label selector on the DaemonSet's own labels.
    pub object_selector: LabelSelector,
    /// Namespaces where a denial is reported as a warning: the DaemonSets there come
    /// with the distribution (kube-proxy, the CNI) and the cluster must be able to roll
    /// them out and heal through them whatever dsguard thinks.
    pub warn_only_namespaces: Vec<String>,
    /// Whether the `dsguard.io/exempt` annotation is honoured at all: whoever may write a
    /// DaemonSet may write its annotations, so a cluster where the policy binds its
    /// authors turns this off.
    pub allow_annotations: bool,
    /// The namespaces where the annotation is honoured (empty: every namespace).
    pub annotation_namespaces: Vec<String>,
    /// The rules the annotation may waive, by ID or name (empty: every rule).
    pub annotation_rules: Vec<String>,
}

impl Default for Exemptions {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            object_selector: LabelSelector::default(),
            warn_only_namespaces: vec!["kube-system".into()],
            allow_annotations: true,
            annotation_namespaces: Vec::new(),
            annotation_rules: Vec::new(),
        }
    }
}

pub use crate::scheduling::selector::LabelSelector;

/// A config file that cannot be used. Displayed as `file:line:col: field: problem`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: the config file {cause}")]
    Io {
        path: String,
        cause: crate::input::InputError,
    },
    #[error("{path}:{line}:{column}: {field}{sep}{message}", sep = if field.is_empty() { "" } else { ": " })]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
}

impl Config {
    /// Reads and validates the config file (a regular file of at most `max_file_bytes`).
    pub fn load(path: &Path, max_file_bytes: u64) -> Result<Self, ConfigError> {
        let text = crate::input::read_text_file(path, max_file_bytes).map_err(|cause| {
            ConfigError::Io {
                path: path.display().to_string(),
                cause,
            }
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates a config; `path` names it in errors.
    pub fn from_yaml(text: &str, path: &str) -> Result<Self, ConfigError> {
        let invalid =
            |position: yaml::Position, pointer: &str, message: String| ConfigError::Invalid {
                path: path.to_owned(),
                line: position.line,
                column: position.column,
                field: field_path(pointer),
                message,
            };
        let mut documents = yaml::parse_stream(text);
        if documents.len() > 1 {
            return Err(invalid(
                yaml::Position { line: 1, column: 1 },
                "",
                "a config file holds one YAML document".into(),
            ));
        }
        // An empty file is refused rather than read as "every default": a ConfigMap key
        // emptied by a bad apply or a truncated write would otherwise silently weaken the
        // policy of a running webhook. `{}` asks for the defaults explicitly.
        let Some(document) = documents.pop() else {
            return Err(invalid(
                yaml::Position { line: 1, column: 1 },
                "",
                "the config file holds no YAML document; write `{}` to use every default".into(),
            ));
        };
        let document = document.map_err(|e| invalid(e.position, "", e.message))?;
        // The YAML reader keeps the last of two equal keys, as kubectl does; in a policy
        // that would let a later `action: off` silently win over an earlier `deny`.
        if let Some(duplicate) = document.duplicates.first() {
            return Err(invalid(
                duplicate.kept,
                &duplicate.pointer,
                format!(
                    "written twice in one mapping (lines {} and {}): a config file says each thing once",
                    duplicate.first.line, duplicate.kept.line
                ),
            ));
        }
        let config: Config = serde_path_to_error::deserialize(&document.value).map_err(|e| {
            let pointer = pointer_of(e.path());
            let position = document
                .source_map
                .position(&pointer)
                .unwrap_or(document.position);
            invalid(position, &pointer, e.inner().to_string())
        })?;
        config.validate().map_err(|(pointer, message)| {
            let position = document
                .source_map
                .position(&pointer)
                .unwrap_or(document.position);
            invalid(position, &pointer, message)
        })?;
        Ok(config)
    }

    /// What this config lets through without a check, each said as a warning (`lint` and
    /// `serve` print them, `serve` also counts them in `dsguard_config_warnings`): a
    /// config can be valid and still check nothing.
    pub fn warnings(&self) -> Vec<String> {
        use crate::policy::Rule;
        let rules = &self.rules;
        let mut warnings = Vec::new();
        let actions = [
            (
                Rule::SelectorMatchesNoNode,
                rules.selector_matches_no_node.action,
            ),
            (
                Rule::UntoleratedTaints,
                rules
                    .untolerated_taints
                    .action
                    .max(rules.untolerated_taints.partial_action),
            ),
            (
                Rule::MissingResourceLimits,
                rules.missing_resource_limits.action,
            ),
            (
                Rule::UnknownPriorityClass,
                rules.unknown_priority_class.action,
            ),
            (
                Rule::RequestsExceedAllocatable,
                rules
                    .requests_exceed_allocatable
                    .action
                    .max(rules.requests_exceed_allocatable.partial_action),
            ),
            (Rule::SurgeWithHostPort, rules.surge_with_host_port.action),
            (
                Rule::NoRoomBesideRunningPods,
                rules.no_room_beside_running_pods.action,
            ),
        ];
        if actions.iter().all(|(_, action)| *action == Action::Off) {
            warnings.push(
                "every rule is off: dsguard checks nothing (the mutations still apply)".into(),
            );
        }
        let limits = &rules.missing_resource_limits;
        if limits.action != Action::Off && limits.resources.is_empty() {
            warnings.push(
                "rules.missing-resource-limits.resources is empty: DSG003 checks nothing (the default is [cpu, memory])"
                    .into(),
            );
        }
        let selector = &self.exemptions.object_selector;
        if !selector.is_empty() && selector.matches(&BTreeMap::new()) {
            warnings.push(
                "exemptions.objectSelector matches a DaemonSet with no labels at all: it exempts nearly every DaemonSet from every rule (write matchLabels or In/Exists expressions that name the exempt ones)"
                    .into(),
            );
        }
        if self.mutations.default_tolerations.enabled
            && self.mutations.default_tolerations.tolerations.is_empty()
            && self
                .mutations
                .default_tolerations
                .auto_tolerate_taint_keys
                .is_empty()
        {
            warnings.push(
                "mutations.default-tolerations is enabled with no tolerations and no autoTolerateTaintKeys: DSG102 injects nothing"
                    .into(),
            );
        }
        warnings
    }

    /// Checks what serde cannot: label keys, tolerations, selectors. Returns the pointer of
    /// the first bad field and why.
    fn validate(&self) -> Result<(), (String, String)> {
        let keys = |pointer: &str, keys: &[String]| -> Result<(), (String, String)> {
            for (i, key) in keys.iter().enumerate() {
                validate_label_key(key).map_err(|why| (format!("{pointer}/{i}"), why))?;
            }
            Ok(())
        };
        let rules = &self.rules;
        keys(
            "/rules/selector-matches-no-node/expectedEmptyLabelKeys",
            &rules.selector_matches_no_node.expected_empty_label_keys,
        )?;
        keys(
            "/rules/untolerated-taints/ignoreTaintKeys",
            &rules.untolerated_taints.ignore_taint_keys,
        )?;
        keys(
            "/rules/untolerated-taints/poolLabelKeys",
            &rules.untolerated_taints.pool_label_keys,
        )?;
        keys(
            "/mutations/default-tolerations/autoTolerateTaintKeys",
            &self.mutations.default_tolerations.auto_tolerate_taint_keys,
        )?;
        for (i, resource) in rules.missing_resource_limits.resources.iter().enumerate() {
            validate_label_key(resource).map_err(|_| {
                (format!("/rules/missing-resource-limits/resources/{i}"), format!("{resource:?} is not a resource name (for example cpu, memory, ephemeral-storage)"))
            })?;
        }
        let priority = &self.mutations.default_priority_class;
        if priority.enabled {
            validate_class_name(&priority.name)
                .map_err(|why| ("/mutations/default-priority-class/name".to_owned(), why))?;
        }
        for (namespace, class) in &priority.namespaces {
            validate_class_name(class).map_err(|why| {
                (
                    format!(
                        "/mutations/default-priority-class/namespaces/{}",
                        yaml::escape_pointer(namespace)
                    ),
                    why,
                )
            })?;
        }
        for (i, toleration) in self
            .mutations
            .default_tolerations
            .tolerations
            .iter()
            .enumerate()
        {
            self.validate_toleration(toleration).map_err(|why| {
                (
                    format!("/mutations/default-tolerations/tolerations/{i}"),
                    why,
                )
            })?;
        }
        for (i, rule) in self.exemptions.annotation_rules.iter().enumerate() {
            if crate::policy::Rule::parse(rule).is_none() {
                return Err((
                    format!("/exemptions/annotationRules/{i}"),
                    format!(
                        "{rule:?} is not a rule (IDs such as DSG003, or names such as missing-resource-limits)"
                    ),
                ));
            }
        }
        let selector = &self.exemptions.object_selector;
        for (key, value) in &selector.match_labels {
            let pointer = format!(
                "/exemptions/objectSelector/matchLabels/{}",
                yaml::escape_pointer(key)
            );
            validate_label_key(key).map_err(|why| (pointer.clone(), why))?;
            validate_label_value(value).map_err(|why| (pointer, why))?;
        }
        for (i, raw) in selector.match_expressions.iter().enumerate() {
            let pointer = format!("/exemptions/objectSelector/matchExpressions/{i}");
            if !matches!(
                raw.operator.as_str(),
                "In" | "NotIn" | "Exists" | "DoesNotExist"
            ) {
                return Err((
                    pointer,
                    format!(
                        "operator {:?}: a label selector takes In, NotIn, Exists or DoesNotExist",
                        raw.operator
                    ),
                ));
            }
            LabelRequirement::parse(raw).map_err(|why| (pointer, why))?;
        }
        Ok(())
    }

    fn validate_toleration(&self, t: &ConfigToleration) -> Result<(), String> {
        match t.operator.as_str() {
            "" | "Equal" => {
                if t.key.is_empty() {
                    return Err("a toleration with an empty key must use operator: Exists".into());
                }
                validate_label_value(&t.value)?;
            }
            "Exists" => {
                if !t.value.is_empty() {
                    return Err("operator: Exists takes no value".into());
                }
            }
            "Lt" | "Gt" if self.toleration_comparison_operators => {}
            "Lt" | "Gt" => {
                return Err(format!(
                    "operator {} needs tolerationComparisonOperators: true (alpha feature gate TaintTolerationComparisonOperators)",
                    t.operator
                ));
            }
            other => return Err(format!("operator {other:?} is not one of Equal, Exists")),
        }
        if !t.key.is_empty() {
            validate_label_key(&t.key)?;
        }
        if !matches!(
            t.effect.as_str(),
            "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute"
        ) {
            return Err(format!(
                "effect {:?} is not one of NoSchedule, PreferNoSchedule, NoExecute (or empty for all)",
                t.effect
            ));
        }
        Ok(())
    }
}

/// PriorityClass names are DNS-1123 subdomains.
fn validate_class_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid PriorityClass name (a lowercase DNS subdomain)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        Config::from_yaml(text, "dsguard.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_explicit_empty_mapping_gives_the_defaults_and_an_empty_file_is_refused() {
        for text in ["", "# nothing\n", "\n\n", "---\n"] {
            let error = error(text);
            assert!(error.contains("write `{}`"), "{text:?}: {error}");
        }
        let empty = Config::from_yaml("{}\n", "c.yaml").unwrap();
        assert_eq!(empty, Config::default());
        assert_eq!(empty.rules.untolerated_taints.partial_action, Action::Deny);
        assert_eq!(empty.rules.unknown_priority_class.action, Action::Warn);
        assert_eq!(
            empty.mutations.default_priority_class.name,
            "dsguard-default"
        );
        assert!(!empty.mutations.default_tolerations.enabled);
        assert_eq!(
            empty.rules.missing_resource_limits.resources,
            ["cpu", "memory"]
        );
    }

    #[test]
    fn the_spec_example_parses() {
        let text = r#"
rules:
  selector-matches-no-node:
    action: deny
    expectedEmptyLabelKeys: [node.kubernetes.io/masq-agent-ds-ready]
  untolerated-taints:
    action: deny
    partialAction: warn
    ignoreTaintKeys: [node-role.kubernetes.io/control-plane]
  missing-resource-limits:
    action: warn
    resources: [cpu, memory, ephemeral-storage]
    includeInitContainers: false
    honorLimitRange: false
  unknown-priority-class:
    action: off
mutations:
  default-priority-class:
    enabled: true
    name: dsguard-default
    namespaces: {kube-system: system-node-critical}
  default-tolerations:
    enabled: true
    tolerations:
    - {key: dedicated, operator: Equal, value: infra, effect: NoSchedule}
    - {operator: Exists, effect: NoExecute, tolerationSeconds: 300}
    autoTolerateTaintKeys: [example.com/maintenance]
exemptions:
  namespaces: [kube-system]
  objectSelector:
    matchLabels: {dsguard.io/exempt: "true"}
tolerationComparisonOperators: false
"#;
        let config = Config::from_yaml(text, "c.yaml").unwrap();
        assert_eq!(config.rules.untolerated_taints.partial_action, Action::Warn);
        assert_eq!(config.rules.unknown_priority_class.action, Action::Off);
        assert_eq!(
            config
                .mutations
                .default_priority_class
                .class_for("kube-system"),
            "system-node-critical"
        );
        assert_eq!(
            config.mutations.default_priority_class.class_for("other"),
            "dsguard-default"
        );
        assert_eq!(config.mutations.default_tolerations.tolerations.len(), 2);
        assert!(
            config
                .exemptions
                .object_selector
                .matches(&[("dsguard.io/exempt".to_string(), "true".to_string())].into())
        );
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_line() {
        let e = error("rules:\n  untolerated-taints:\n    partialActoin: warn\n");
        assert!(e.starts_with("dsguard.yaml:3:"), "{e}");
        assert!(e.contains("unknown field `partialActoin`"), "{e}");
        let e = error("rule:\n  x: 1\n");
        assert!(e.contains("unknown field `rule`"), "{e}");
        let e = error("rules:\n  selector-matches-no-nodes: {}\n");
        assert!(e.contains("selector-matches-no-nodes"), "{e}");
    }

    #[test]
    fn bad_actions_name_the_field() {
        let e = error("rules:\n  missing-resource-limits:\n    action: block\n");
        assert!(e.starts_with("dsguard.yaml:3:"), "{e}");
        assert!(e.contains("rules.missing-resource-limits.action"), "{e}");
        assert!(
            e.contains("deny") && e.contains("warn") && e.contains("off"),
            "{e}"
        );
    }

    #[test]
    fn invalid_tolerations_and_keys_are_rejected() {
        let e = error(
            "mutations:\n  default-tolerations:\n    tolerations:\n    - {operator: Equal, value: x}\n",
        );
        assert!(
            e.contains("tolerations[0]") && e.contains("empty key"),
            "{e}"
        );
        let e = error(
            "mutations:\n  default-tolerations:\n    tolerations:\n    - {key: a, operator: Exists, value: x}\n",
        );
        assert!(e.contains("takes no value"), "{e}");
        let e = error(
            "mutations:\n  default-tolerations:\n    tolerations:\n    - {key: a, operator: Gt, value: '3'}\n",
        );
        assert!(e.contains("tolerationComparisonOperators"), "{e}");
        let e = error(
            "mutations:\n  default-tolerations:\n    tolerations:\n    - {key: a, effect: NoSchedul}\n",
        );
        assert!(e.contains("NoSchedul"), "{e}");
        let e = error(
            "mutations:\n  default-tolerations:\n    tolerations:\n    - {key: a, operatr: Exists}\n",
        );
        assert!(e.contains("unknown field `operatr`"), "{e}");
        let e = error("rules:\n  untolerated-taints:\n    ignoreTaintKeys: [\"Bad Key\"]\n");
        assert!(e.contains("ignoreTaintKeys[0]"), "{e}");
        let e = error("mutations:\n  default-priority-class:\n    name: Not_Valid\n");
        assert!(e.contains("PriorityClass name"), "{e}");
        let e = error(
            "exemptions:\n  objectSelector:\n    matchExpressions:\n    - {key: a, operator: Gt, values: ['1']}\n",
        );
        assert!(e.contains("label selector takes"), "{e}");
    }

    #[test]
    fn broken_yaml_and_wrong_types_are_clear() {
        let e = error("rules: [\n");
        assert!(e.starts_with("dsguard.yaml:"), "{e}");
        let e = error("rules:\n  missing-resource-limits:\n    resources: cpu\n");
        assert!(e.contains("rules.missing-resource-limits.resources"), "{e}");
        let e = error("a: 1\n---\nb: 2\n");
        assert!(e.contains("one YAML document"), "{e}");
    }

    #[test]
    fn duplicate_keys_are_an_error_naming_both_lines() {
        let e = error(
            "rules:\n  missing-resource-limits:\n    action: deny\n  untolerated-taints: {}\n  missing-resource-limits:\n    action: off\n",
        );
        assert!(
            e.contains("dsguard.yaml:5:3: rules.missing-resource-limits: written twice in one mapping (lines 2 and 5)"),
            "{e}"
        );
    }

    #[test]
    fn a_config_that_checks_nothing_is_warned_about() {
        let config = |text: &str| Config::from_yaml(text, "c").unwrap().warnings().join("\n");
        assert!(Config::default().warnings().is_empty());
        let off = "rules:\n  selector-matches-no-node: {action: off}\n  untolerated-taints: {action: off, partialAction: off}\n  missing-resource-limits: {action: off}\n  unknown-priority-class: {action: off}\n  requests-exceed-allocatable: {action: off, partialAction: off}\n  surge-with-host-port: {action: off}\n  no-room-beside-running-pods: {action: off}\n";
        assert!(config(off).contains("every rule is off"), "{}", config(off));
        assert!(
            config("rules:\n  missing-resource-limits:\n    resources: []\n")
                .contains("DSG003 checks nothing")
        );
        let everything = "exemptions:\n  objectSelector:\n    matchExpressions: [{key: team, operator: DoesNotExist}]\n";
        assert!(config(everything).contains("exempts nearly every DaemonSet"));
        let named =
            "exemptions:\n  objectSelector:\n    matchLabels: {dsguard.io/exempt: \"true\"}\n";
        assert!(config(named).is_empty());
        assert!(
            config("mutations:\n  default-tolerations: {enabled: true}\n")
                .contains("DSG102 injects nothing")
        );
    }

    #[test]
    fn an_empty_object_selector_exempts_nothing() {
        let selector = LabelSelector::default();
        assert!(!selector.matches(&BTreeMap::new()));
    }
}
