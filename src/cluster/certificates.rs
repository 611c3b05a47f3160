//! `serve --manage-webhooks`: dsguard's own certificates and webhook registration, so that
//! `kubectl apply -k deploy/base` is the whole install.
//!
//! - The CA and serving certificate live in one Secret (`--tls-secret`, default
//!   `dsguard-tls`, in dsguard's namespace). Every replica reads it every few seconds and
//!   serves the certificate in it; `/readyz` stays 503 until it has one.
//! - The leader (the `dsguard-leader` Lease) creates the Secret when it is missing and
//!   renews it as `certs::Managed` says: the serving certificate at two thirds of
//!   `--cert-validity`, the CA (ten times as long) at two thirds of its life, the old CA
//!   kept in the bundle until it expires. Writes carry the Secret's resourceVersion, so a
//!   second writer loses cleanly and reads again.
//! - The leader registers the webhook configurations (the two `dsguard` objects of
//!   `deploy/components/webhooks/webhooks.yaml`, compiled in) with the bundle as
//!   `caBundle`, by server-side apply, only once its own replica is Ready: before that no
//!   webhook points at dsguard, so an install whose pods never start cannot block any
//!   DaemonSet change. They are owned by the `dsguard` ClusterRole, so deleting the install
//!   (`kubectl delete -k deploy/base`) garbage-collects them too.
//!
//! RBAC: `get`, `update` on the Secret by name and `create` on secrets, in dsguard's
//! namespace; `get`, `patch` on the two webhook configurations by name and `create` on
//! them; `get` on the `dsguard` ClusterRole (deploy/base/rbac.yaml).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::certs::{Managed, Renewal, service_names};
use crate::server::AppState;
use crate::server::metrics::Metrics;
use crate::server::tls::{RotatingCertificate, certified_key};

/// The webhook configurations dsguard registers, as shipped for the overlays that do not
/// let it (cert-manager, `dsguard certs`).
pub const WEBHOOKS_YAML: &str = include_str!("../../deploy/components/webhooks/webhooks.yaml");

/// The ClusterRole of the install, owner of the webhook configurations.
pub const OWNER_CLUSTER_ROLE: &str = "dsguard";

const ANNOTATION_PREFIX: &str = "dsguard.io/";

/// What `serve --manage-webhooks` manages, and where.
#[derive(Clone, Debug)]
pub struct ManagedWebhooks {
    /// dsguard's namespace: the Secret, the Service, the Lease.
    pub namespace: String,
    pub secret: String,
    pub service: String,
    /// The serving certificate's lifetime (the CA's is ten times it).
    pub serving_validity: Duration,
}

impl ManagedWebhooks {
    /// How often the Secret is read: often enough to renew on time with a short validity.
    fn poll(&self) -> Duration {
        (self.serving_validity / 20).clamp(Duration::from_millis(200), Duration::from_secs(10))
    }
}

fn annotation(secret: &Secret, name: &str) -> Option<i64> {
    secret
        .metadata
        .annotations
        .as_ref()?
        .get(&format!("{ANNOTATION_PREFIX}{name}"))?
        .parse()
        .ok()
}

/// The certificates a Secret holds, if it holds dsguard's complete set.
fn decode(secret: &Secret) -> Option<Managed> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
    };
    Some(Managed {
        ca_cert: text("ca.crt")?,
        ca_key: text("ca.key")?,
        cert: text("tls.crt")?,
        key: text("tls.key")?,
        ca_bundle: text("ca-bundle.crt")?,
        ca_not_before: annotation(secret, "ca-not-before")?,
        ca_not_after: annotation(secret, "ca-not-after")?,
        not_before: annotation(secret, "not-before")?,
        not_after: annotation(secret, "not-after")?,
        previous_ca_not_after: annotation(secret, "previous-ca-not-after"),
    })
}

fn encode(managed: &Managed, name: &str, resource_version: Option<String>) -> Secret {
    let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
    let data: BTreeMap<String, ByteString> = [
        ("ca.crt", bytes(&managed.ca_cert)),
        ("ca.key", bytes(&managed.ca_key)),
        ("tls.crt", bytes(&managed.cert)),
        ("tls.key", bytes(&managed.key)),
        ("ca-bundle.crt", bytes(&managed.ca_bundle)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut annotations: BTreeMap<String, String> = [
        ("ca-not-before", managed.ca_not_before),
        ("ca-not-after", managed.ca_not_after),
        ("not-before", managed.not_before),
        ("not-after", managed.not_after),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{ANNOTATION_PREFIX}{k}"), v.to_string()))
    .collect();
    if let Some(previous) = managed.previous_ca_not_after {
        annotations.insert(
            format!("{ANNOTATION_PREFIX}previous-ca-not-after"),
            previous.to_string(),
        );
    }
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            resource_version,
            annotations: Some(annotations),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "dsguard".to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data),
        ..Default::default()
    }
}

/// The webhook configurations to apply: the shipped ones with this namespace, Service and
/// `ca_bundle`, owned by the install's ClusterRole when it is known.
pub fn webhook_configurations(
    namespace: &str,
    service: &str,
    ca_bundle: &str,
    owner_uid: Option<&str>,
) -> Vec<Value> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(ca_bundle);
    let text = WEBHOOKS_YAML.replace("dsguard-system", namespace);
    crate::yaml::parse_stream(&text)
        .into_iter()
        .filter_map(Result::ok)
        .map(|document| {
            let mut object = document.value;
            if let Some(uid) = owner_uid {
                object["metadata"]["ownerReferences"] = json!([{
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "name": OWNER_CLUSTER_ROLE,
                    "uid": uid,
                }]);
            }
            if let Some(webhooks) = object["webhooks"].as_array_mut() {
                for webhook in webhooks {
                    webhook["clientConfig"]["caBundle"] = json!(encoded);
                    webhook["clientConfig"]["service"]["name"] = json!(service);
                    webhook["clientConfig"]["service"]["namespace"] = json!(namespace);
                }
            }
            object
        })
        .collect()
}

async fn register(
    client: &Client,
    settings: &ManagedWebhooks,
    ca_bundle: &str,
) -> Result<(), kube::Error> {
    let owner = Api::<ClusterRole>::all(client.clone())
        .get_opt(OWNER_CLUSTER_ROLE)
        .await
        .ok()
        .flatten()
        .and_then(|role| role.metadata.uid);
    if owner.is_none() {
        tracing::warn!(
            cluster_role = OWNER_CLUSTER_ROLE,
            "the install's ClusterRole was not found: the webhook configurations are registered without an owner, and deleting the install leaves them behind"
        );
    }
    for object in webhook_configurations(
        &settings.namespace,
        &settings.service,
        ca_bundle,
        owner.as_deref(),
    ) {
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        let resource = ApiResource {
            group: "admissionregistration.k8s.io".into(),
            version: "v1".into(),
            api_version: "admissionregistration.k8s.io/v1".into(),
            plural: format!("{}s", kind.to_lowercase()),
            kind,
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or("dsguard")
            .to_owned();
        api.patch(
            &name,
            &PatchParams::apply("dsguard").force(),
            &Patch::Apply(&object),
        )
        .await?;
    }
    Ok(())
}

/// Keeps the Secret, the served certificate and the registration current; runs until the
/// runtime stops.
pub async fn manage(
    client: Client,
    settings: ManagedWebhooks,
    certificate: Arc<RotatingCertificate>,
    state: Arc<AppState>,
    mut leading: watch::Receiver<bool>,
) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let names = service_names(&settings.service, &settings.namespace);
    let mut served: Option<String> = None;
    let mut registered: Option<String> = None;
    loop {
        let (mut current, resource_version) = match secrets.get_opt(&settings.secret).await {
            Ok(Some(secret)) => (decode(&secret), secret.metadata.resource_version),
            Ok(None) => (None, None),
            Err(error) => {
                tracing::warn!(secret = %settings.secret, error = %error, "cannot read the certificate Secret; serving the last one");
                tokio::time::sleep(settings.poll()).await;
                continue;
            }
        };
        let is_leader = *leading.borrow();
        if is_leader {
            let now = time::OffsetDateTime::now_utc();
            let renewal = Managed::renewal(current.as_ref(), now.unix_timestamp());
            if renewal != Renewal::Keep {
                let validity = time::Duration::try_from(settings.serving_validity)
                    .unwrap_or(time::Duration::days(365));
                match Managed::renewed(
                    current.as_ref(),
                    renewal,
                    &settings.service,
                    &names,
                    validity,
                    now,
                ) {
                    Ok(next) => {
                        let secret = encode(&next, &settings.secret, resource_version.clone());
                        let written = match resource_version {
                            Some(_) => {
                                secrets
                                    .replace(&settings.secret, &PostParams::default(), &secret)
                                    .await
                            }
                            None => secrets.create(&PostParams::default(), &secret).await,
                        };
                        match written {
                            Ok(_) => {
                                tracing::info!(secret = %settings.secret, renewal = ?renewal, "certificate Secret written");
                                current = Some(next);
                            }
                            // Another writer got there first: read it again.
                            Err(kube::Error::Api(status)) if status.code == 409 => {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                continue;
                            }
                            Err(error) => {
                                tracing::warn!(secret = %settings.secret, error = %error, "cannot write the certificate Secret; trying again")
                            }
                        }
                    }
                    Err(error) => tracing::error!(error = %error, "cannot make certificates"),
                }
            }
        }
        if let Some(managed) = &current
            && served.as_deref() != Some(managed.cert.as_str())
        {
            match certified_key(managed.cert.as_bytes(), managed.key.as_bytes()) {
                Ok(key) => {
                    certificate.replace(key);
                    served = Some(managed.cert.clone());
                    state.certificates_ready.store(true, Ordering::Release);
                    Metrics::count_reload(&state.metrics.certificate_reloads, true);
                    tracing::info!(secret = %settings.secret, "serving the certificate from the Secret");
                }
                Err(error) => {
                    Metrics::count_reload(&state.metrics.certificate_reloads, false);
                    tracing::error!(secret = %settings.secret, error = %error, "the Secret's certificate was rejected; the previous one keeps serving");
                }
            }
        }
        if !is_leader {
            registered = None;
        } else if let Some(managed) = &current
            && state.not_ready().is_none()
            && registered.as_deref() != Some(managed.ca_bundle.as_str())
        {
            match register(&client, &settings, &managed.ca_bundle).await {
                Ok(()) => {
                    tracing::info!("webhook configurations registered with the current CA bundle");
                    registered = Some(managed.ca_bundle.clone());
                }
                Err(error) => {
                    tracing::warn!(error = %error, "cannot register the webhook configurations; trying again")
                }
            }
        }
        tokio::select! {
            changed = leading.changed() => if changed.is_err() {
                // The election stopped (shutting down): keep serving what is loaded.
                tokio::time::sleep(settings.poll()).await;
            },
            _ = tokio::time::sleep(settings.poll()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_configurations_are_the_shipped_ones_with_bundle_service_and_owner() {
        let objects = webhook_configurations("guard", "dsguard-webhook", "PEM", Some("uid-1"));
        let kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "MutatingWebhookConfiguration",
                "ValidatingWebhookConfiguration"
            ]
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode("PEM");
        for (object, (kind, names)) in objects.iter().zip(crate::certs::WEBHOOKS) {
            assert_eq!(object["kind"], kind);
            assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "uid-1");
            let webhooks = object["webhooks"].as_array().unwrap();
            let shipped: Vec<&str> = webhooks
                .iter()
                .map(|w| w["name"].as_str().unwrap())
                .collect();
            assert_eq!(shipped, names);
            for webhook in webhooks {
                assert_eq!(webhook["clientConfig"]["caBundle"], encoded);
                assert_eq!(
                    webhook["clientConfig"]["service"]["name"],
                    "dsguard-webhook"
                );
                assert_eq!(webhook["clientConfig"]["service"]["namespace"], "guard");
                // dsguard's own namespace, wherever the shipped selectors name it.
                assert!(!webhook.to_string().contains("dsguard-system"));
            }
        }
        let without_owner = webhook_configurations("guard", "dsguard", "PEM", None);
        assert!(without_owner[0]["metadata"]["ownerReferences"].is_null());
    }
}
