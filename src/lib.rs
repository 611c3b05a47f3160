//! dsguard: an admission webhook and CI linter that keeps Kubernetes DaemonSets honest.
//!
//! One pure policy engine ([`policy::evaluate`]) over Kubernetes scheduling semantics
//! ([`scheduling`]) and an indexed view of the cluster ([`inventory`]); everything else
//! (the `review` and `coverage` commands, later the webhook and the linter) is an adapter
//! that feeds it plain data.
#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod coverage;
pub mod doctor;
pub mod html;
pub mod input;
pub mod inventory;
pub mod lint;
pub mod manifests;
pub mod objects;
pub mod policy;
pub mod scheduling;
pub mod serde_util;
pub mod server;
pub mod words;
pub mod yaml;
