//! Reads the inventory from files: `kubectl get nodes -o yaml` / `-o json` output (a
//! `List`), multi-document YAML, a plain JSON or YAML list of objects, and the same for
//! PriorityClasses, LimitRanges and autoscaler templates (NodePools, MachineDeployments,
//! MachineSets).
//!
//! Only the fields the rules need are decoded (a real Node carries ~20 KB of status and
//! image lists the rules never read), and JSON is streamed straight into those small
//! structs, so a 100,000-node snapshot does not become a 100,000-node JSON tree first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::templates::{Decoded, TemplateObject};
use super::{LimitRange, NodeUpdate, PriorityClass};
use crate::input::{self, MANIFEST_EXTENSIONS, Walk};
use crate::scheduling::NodeTemplate;
use crate::scheduling::Taint;
use crate::scheduling::resources::{QuantityText, ResourceList, amount, amounts};
use crate::serde_util::{field_path, null_as_default, pointer_of};
use crate::yaml::{self, Position};

/// A snapshot file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Other(String),
    #[error("{path}: {cause}")]
    Io { path: String, cause: String },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: holds {found} object(s) but no {kind}; expected the output of `kubectl get {plural} -o yaml`"
    )]
    WrongKind {
        path: String,
        found: usize,
        kind: &'static str,
        plural: &'static str,
    },
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawObject {
    #[serde(default, deserialize_with = "null_as_default")]
    kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    metadata: RawMetadata,
    #[serde(default, deserialize_with = "null_as_default")]
    spec: RawSpec,
    #[serde(default, deserialize_with = "null_as_default")]
    status: RawStatus,
    #[serde(default)]
    value: Option<i64>,
    #[serde(default)]
    global_default: Option<bool>,
    #[serde(default)]
    preemption_policy: Option<String>,
    #[serde(default)]
    items: Option<Vec<RawObject>>,
}

#[derive(Deserialize, Default)]
struct RawMetadata {
    #[serde(default, deserialize_with = "null_as_default")]
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    namespace: String,
    #[serde(default, deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct RawSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    taints: Vec<Taint>,
    #[serde(default, deserialize_with = "null_as_default")]
    limits: Vec<LimitRangeItem>,
}

/// A Node's `status`, reduced to what resource fit reads (conditions and the image
/// list, most of a real Node's bytes, are skipped).
#[derive(Deserialize, Default)]
struct RawStatus {
    #[serde(default, deserialize_with = "null_as_default")]
    allocatable: BTreeMap<String, QuantityText>,
}

/// One `spec.limits` item of a LimitRange, reduced to what defaulting needs.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LimitRangeItem {
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    default: BTreeMap<String, QuantityText>,
    #[serde(default, deserialize_with = "null_as_default")]
    default_request: BTreeMap<String, QuantityText>,
    #[serde(default, deserialize_with = "null_as_default")]
    max: BTreeMap<String, QuantityText>,
    #[serde(default, deserialize_with = "null_as_default")]
    min: BTreeMap<String, QuantityText>,
}

/// An object with where it starts, for messages.
struct Located<T = RawObject> {
    object: T,
    position: Position,
}

/// A decoded snapshot object that may be a `List` of more of its kind.
trait SnapshotObject: serde::de::DeserializeOwned + Sized {
    fn kind(&self) -> &str;
    fn take_items(&mut self) -> Option<Vec<Self>>;
}

impl SnapshotObject for RawObject {
    fn kind(&self) -> &str {
        &self.kind
    }
    fn take_items(&mut self) -> Option<Vec<Self>> {
        self.items.take()
    }
}

/// A template source object (`kubectl get nodepools -o yaml` gives a `List` of them).
#[derive(Deserialize)]
struct RawTemplateDocument {
    #[serde(flatten)]
    object: TemplateObject,
    #[serde(default)]
    items: Option<Vec<RawTemplateDocument>>,
}

impl SnapshotObject for RawTemplateDocument {
    fn kind(&self) -> &str {
        &self.object.kind
    }
    fn take_items(&mut self) -> Option<Vec<Self>> {
        self.items.take()
    }
}

/// The file, or every `.yaml`/`.yml`/`.json` file of a folder (one file per object is a
/// common way to keep a snapshot), each with its name; within the bounds of
/// [`crate::input`] (regular files only, `max_file_bytes` each, link loops skipped).
fn read(path: &Path, max_file_bytes: u64) -> Result<Vec<(String, String)>, SnapshotError> {
    let mut walk = Walk::default();
    walk.add(path, MANIFEST_EXTENSIONS);
    if let Some((folder, cause)) = walk.errors.into_iter().next() {
        return Err(SnapshotError::Io {
            path: folder.display().to_string(),
            cause: cause.to_string(),
        });
    }
    for notice in &walk.notices {
        tracing::warn!("{notice}");
    }
    walk.files
        .into_iter()
        .map(|file| {
            let text =
                input::read_text_file(&file, max_file_bytes).map_err(|e| SnapshotError::Io {
                    path: file.display().to_string(),
                    cause: e.to_string(),
                })?;
            Ok((file.display().to_string(), text))
        })
        .collect()
}

/// Loads every file of `path` with `parse`.
fn load_all<T>(
    path: &Path,
    max_file_bytes: u64,
    parse: fn(&str, &str) -> Result<Vec<T>, SnapshotError>,
) -> Result<Vec<T>, SnapshotError> {
    let mut all = Vec::new();
    for (name, text) in read(path, max_file_bytes)? {
        all.extend(parse(&text, &name)?);
    }
    Ok(all)
}

/// Every object in `text`, `List`s and top-level arrays flattened.
fn objects<T: SnapshotObject>(text: &str, path: &str) -> Result<Vec<Located<T>>, SnapshotError> {
    let invalid = |position: Position, message: String| SnapshotError::Invalid {
        path: path.to_owned(),
        line: position.line,
        column: position.column,
        message,
    };
    let mut found = Vec::new();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let json_error = |e: serde_json::Error| {
            invalid(
                Position {
                    line: e.line(),
                    column: e.column(),
                },
                e.to_string(),
            )
        };
        if trimmed.starts_with('[') {
            let list: Vec<T> = serde_json::from_str(text).map_err(json_error)?;
            found.extend(list.into_iter().map(|object| Located {
                object,
                position: Position::default(),
            }));
        } else {
            for object in serde_json::Deserializer::from_str(text).into_iter::<T>() {
                found.push(Located {
                    object: object.map_err(json_error)?,
                    position: Position::default(),
                });
            }
        }
    } else {
        for document in yaml::parse_stream(text) {
            let document = document.map_err(|e| invalid(e.position, e.message))?;
            let top = match document.value {
                serde_json::Value::Array(items) => items,
                other => vec![other],
            };
            // Where each top-level item starts, found in one pass over the source map (a
            // lookup per item would scan it once per item: quadratic in a plain list).
            let item_positions: std::collections::HashMap<String, Position> =
                document.source_map.children("").into_iter().collect();
            for (index, value) in top.into_iter().enumerate() {
                let object: T = serde_path_to_error::deserialize(&value).map_err(|e| {
                    let pointer = pointer_of(e.path());
                    let position = document
                        .source_map
                        .position(&pointer)
                        .unwrap_or(document.position);
                    invalid(position, format!("{}: {}", field_path(&pointer), e.inner()))
                })?;
                let position = item_positions
                    .get(&index.to_string())
                    .copied()
                    .unwrap_or(document.position);
                found.push(Located { object, position });
            }
        }
    }
    let mut flat = Vec::with_capacity(found.len());
    for located in found {
        flatten(located, &mut flat);
    }
    Ok(flat)
}

fn flatten<T: SnapshotObject>(located: Located<T>, into: &mut Vec<Located<T>>) {
    let Located {
        mut object,
        position,
    } = located;
    let is_list = object.kind().ends_with("List") || object.kind().is_empty();
    match object.take_items() {
        Some(items) if is_list => {
            for item in items {
                flatten(
                    Located {
                        object: item,
                        position,
                    },
                    into,
                );
            }
        }
        _ => into.push(Located { object, position }),
    }
}

fn of_kind(
    text: &str,
    path: &str,
    kind: &'static str,
    plural: &'static str,
) -> Result<Vec<Located>, SnapshotError> {
    let all: Vec<Located> = objects(text, path)?;
    let found = all.len();
    let wanted: Vec<Located> = all.into_iter().filter(|l| l.object.kind == kind).collect();
    if wanted.is_empty() && found > 0 {
        return Err(SnapshotError::WrongKind {
            path: path.to_owned(),
            found,
            kind,
            plural,
        });
    }
    for located in &wanted {
        if located.object.metadata.name.is_empty() {
            return Err(SnapshotError::Invalid {
                path: path.to_owned(),
                line: located.position.line,
                column: located.position.column,
                message: format!("a {kind} without metadata.name"),
            });
        }
    }
    Ok(wanted)
}

/// Nodes from snapshot text (`path` names it in errors).
pub fn nodes_from_str(text: &str, path: &str) -> Result<Vec<NodeUpdate>, SnapshotError> {
    of_kind(text, path, "Node", "nodes")?
        .into_iter()
        .map(|l| {
            let allocatable = if l.object.status.allocatable.is_empty() {
                None
            } else {
                Some(
                    amounts(&l.object.status.allocatable).map_err(|e| SnapshotError::Invalid {
                        path: path.to_owned(),
                        line: l.position.line,
                        column: l.position.column,
                        message: format!("node {}: status.allocatable.{e}", l.object.metadata.name),
                    })?,
                )
            };
            Ok(NodeUpdate {
                name: l.object.metadata.name,
                labels: l.object.metadata.labels,
                taints: l.object.spec.taints,
                allocatable,
            })
        })
        .collect()
}

/// One Node object (already read, e.g. from a mixed support bundle).
pub fn node_from_value(value: &serde_json::Value) -> Result<NodeUpdate, String> {
    let object = RawObject::deserialize(value).map_err(|e| e.to_string())?;
    let allocatable = if object.status.allocatable.is_empty() {
        None
    } else {
        Some(
            amounts(&object.status.allocatable)
                .map_err(|e| format!("node {}: status.allocatable.{e}", object.metadata.name))?,
        )
    };
    Ok(NodeUpdate {
        name: object.metadata.name,
        labels: object.metadata.labels,
        taints: object.spec.taints,
        allocatable,
    })
}

/// One PriorityClass object (already read).
pub fn priority_class_from_value(value: &serde_json::Value) -> Result<PriorityClass, String> {
    let object = RawObject::deserialize(value).map_err(|e| e.to_string())?;
    Ok(PriorityClass {
        name: object.metadata.name,
        value: object.value.unwrap_or(0),
        global_default: object.global_default.unwrap_or(false),
        never_preempts: object.preemption_policy.as_deref() == Some("Never"),
    })
}

/// Nodes from a snapshot file, or from every file of a folder.
pub fn load_nodes(path: &Path, max_file_bytes: u64) -> Result<Vec<NodeUpdate>, SnapshotError> {
    load_all(path, max_file_bytes, nodes_from_str)
}

pub fn priority_classes_from_str(
    text: &str,
    path: &str,
) -> Result<Vec<PriorityClass>, SnapshotError> {
    Ok(of_kind(text, path, "PriorityClass", "priorityclasses")?
        .into_iter()
        .map(|l| PriorityClass {
            name: l.object.metadata.name,
            value: l.object.value.unwrap_or(0),
            global_default: l.object.global_default.unwrap_or(false),
            never_preempts: l.object.preemption_policy.as_deref() == Some("Never"),
        })
        .collect())
}

pub fn load_priority_classes(
    path: &Path,
    max_file_bytes: u64,
) -> Result<Vec<PriorityClass>, SnapshotError> {
    load_all(path, max_file_bytes, priority_classes_from_str)
}

/// A LimitRange's `type: Container` items with the API server's defaulting applied
/// (`SetDefaults_LimitRangeItem`): `default` ← `max`, then `defaultRequest` ← `default`,
/// then `defaultRequest` ← `min`. Gives the resources with a default limit and the default
/// requests (a later item overrides an earlier one, as LimitRanger's
/// `defaultContainerResourceRequirements` reads them).
pub fn limit_range(namespace: String, name: String, items: Vec<LimitRangeItem>) -> LimitRange {
    let mut default_limits = BTreeSet::new();
    let mut default_requests = ResourceList::new();
    for item in items.into_iter().filter(|item| item.kind == "Container") {
        let mut default = item.default;
        for (key, value) in item.max {
            default.entry(key).or_insert(value);
        }
        let mut default_request = item.default_request;
        for (key, value) in default.iter().chain(&item.min) {
            default_request
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        default_limits.extend(default.into_keys());
        for (key, text) in default_request {
            // The API server validates these; one it could not read would not be stored.
            if let Ok(value) = amount(&key, &text) {
                default_requests.insert(key, value);
            }
        }
    }
    LimitRange {
        namespace,
        name,
        default_limits,
        default_requests,
    }
}

/// LimitRanges, with the API server's defaulting applied ([`limit_range`]), so a file
/// written by hand means what the stored object would.
pub fn limit_ranges_from_str(text: &str, path: &str) -> Result<Vec<LimitRange>, SnapshotError> {
    Ok(of_kind(text, path, "LimitRange", "limitranges")?
        .into_iter()
        .map(|l| {
            let namespace = if l.object.metadata.namespace.is_empty() {
                "default".to_owned()
            } else {
                l.object.metadata.namespace
            };
            limit_range(namespace, l.object.metadata.name, l.object.spec.limits)
        })
        .collect())
}

pub fn load_limit_ranges(
    path: &Path,
    max_file_bytes: u64,
) -> Result<Vec<LimitRange>, SnapshotError> {
    load_all(path, max_file_bytes, limit_ranges_from_str)
}

/// Templates read from files, and the objects of those kinds that are not templates.
#[derive(Debug, Default)]
pub struct LoadedTemplates {
    pub templates: Vec<NodeTemplate>,
    /// Why a MachineDeployment or MachineSet was left out (not autoscaled, owned).
    pub notices: Vec<String>,
}

/// Autoscaler templates from snapshot text: NodePools, MachineDeployments and
/// MachineSets; other kinds beside them (an `EC2NodeClass`, a `DockerMachineTemplate`)
/// are skipped, since template files usually hold them too.
pub fn templates_from_str(text: &str, path: &str) -> Result<LoadedTemplates, SnapshotError> {
    let mut loaded = LoadedTemplates::default();
    for Located { object, position } in objects::<RawTemplateDocument>(text, path)? {
        let invalid = |message: String| SnapshotError::Invalid {
            path: path.to_owned(),
            line: position.line,
            column: position.column,
            message,
        };
        match object.object.decode().map_err(invalid)? {
            Decoded::Template(template) => loaded.templates.push(template),
            Decoded::NotAutoscaled(why) => loaded.notices.push(format!("{path}: {why}")),
            Decoded::OtherKind => {}
        }
    }
    Ok(loaded)
}

/// Templates from a file or every file of a folder. A path that holds none of the three
/// kinds is an error: it is almost certainly the wrong file.
pub fn load_templates(path: &Path, max_file_bytes: u64) -> Result<LoadedTemplates, SnapshotError> {
    let mut loaded = LoadedTemplates::default();
    let mut any_source = false;
    for (name, text) in read(path, max_file_bytes)? {
        let file = templates_from_str(&text, &name)?;
        any_source |= !file.templates.is_empty() || !file.notices.is_empty();
        loaded.templates.extend(file.templates);
        loaded.notices.extend(file.notices);
    }
    if !any_source {
        return Err(SnapshotError::Io {
            path: path.display().to_string(),
            cause: "holds no NodePool (karpenter.sh), MachineDeployment or MachineSet (cluster.x-k8s.io); expected the output of `kubectl get nodepools -o yaml` or `kubectl get machinedeployments -A -o yaml`, or their manifests".into(),
        });
    }
    Ok(loaded)
}
