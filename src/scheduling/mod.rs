//! Kubernetes scheduling semantics and nothing else: label requirements, node affinity,
//! taints and tolerations, what the DaemonSet controller adds to daemon pods, the
//! nodes an autoscaler template can make, resource fit, host ports and preemption. Pure
//! functions over small structs, so that every rule above agrees with Kubernetes rather
//! than with itself. No dsguard policy lives here.

pub mod labels;
pub mod ports;
pub mod preemption;
pub mod quantity;
pub mod resources;
pub mod selector;
pub mod taints;
pub mod templates;

#[cfg(test)]
mod selector_tests;
#[cfg(test)]
mod taint_tests;
#[cfg(test)]
mod template_tests;

pub use selector::{NodeSelection, NodeSelector, NodeSelectorTerm, Term};
pub use taints::{Taint, Toleration, daemon_pod_tolerations, taint_list, untolerated_taints};
pub use templates::{NodeGroup, NodeTemplate, TemplateKind, TemplateQuery};
