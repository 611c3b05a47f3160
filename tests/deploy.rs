//! deploy/ stays consistent with the code: the RBAC is exactly what the watchers use, the
//! webhooks have the settings README "Deploying" names, the Deployment is hardened and runs what the
//! CLI accepts, and the shipped config is one dsguard accepts.

use std::path::Path;

use dsguard::manifests::{self, Manifest};
use serde_json::{Value, json};

fn objects(dir: &str) -> Vec<Manifest> {
    let read = manifests::read_paths(
        &[Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)],
        dsguard::input::DEFAULT_MAX_FILE_BYTES,
    );
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    read.manifests
}

fn find<'a>(objects: &'a [Manifest], kind: &str, name: &str) -> &'a Value {
    &objects
        .iter()
        .find(|m| m.kind() == kind && m.value["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name}"))
        .value
}

#[test]
fn rbac_is_exactly_get_list_watch_on_what_the_watchers_read() {
    let base = objects("deploy/base");
    let role = find(&base, "ClusterRole", "dsguard");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resources": ["nodes", "limitranges"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["scheduling.k8s.io"], "resources": ["priorityclasses"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["karpenter.sh"], "resources": ["nodepools"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["cluster.x-k8s.io"], "resources": ["machinedeployments", "machinesets"], "verbs": ["get", "list", "watch"]}
        ])
    );
    let binding = find(&base, "ClusterRoleBinding", "dsguard");
    assert_eq!(binding["subjects"][0]["name"], "dsguard");
}

#[test]
fn webhooks_have_the_documented_settings() {
    let base = objects("deploy/base");
    for (kind, path) in [
        ("MutatingWebhookConfiguration", "/mutate"),
        ("ValidatingWebhookConfiguration", "/validate"),
    ] {
        for webhook in find(&base, kind, "dsguard")["webhooks"].as_array().unwrap() {
            assert_eq!(webhook["sideEffects"], "None", "{kind}");
            assert_eq!(webhook["matchPolicy"], "Equivalent", "{kind}");
            assert!(webhook["timeoutSeconds"].is_number(), "{kind}");
            assert_eq!(webhook["admissionReviewVersions"], json!(["v1"]));
            assert_eq!(webhook["clientConfig"]["service"]["path"], path);
            assert_eq!(webhook["rules"][0]["resources"], json!(["daemonsets"]));
            assert_eq!(webhook["rules"][0]["apiVersions"], json!(["v1"]));
        }
    }
    let mutating = &find(&base, "MutatingWebhookConfiguration", "dsguard")["webhooks"][0];
    assert_eq!(mutating["reinvocationPolicy"], "IfNeeded");
    assert_eq!(
        mutating["failurePolicy"], "Ignore",
        "injection is best effort"
    );
    // Validation: Fail everywhere but kube-system and dsguard's namespace, which a second
    // entry judges with Ignore, so dsguard's outage never blocks the cluster's own repair.
    let validating = find(&base, "ValidatingWebhookConfiguration", "dsguard")["webhooks"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(validating.len(), 2);
    let selector = |w: &Value| w["namespaceSelector"]["matchExpressions"][0].clone();
    assert_eq!(validating[0]["failurePolicy"], "Fail");
    assert_eq!(
        selector(&validating[0]),
        json!({"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "dsguard-system"]})
    );
    assert_eq!(validating[1]["failurePolicy"], "Ignore");
    assert_eq!(
        selector(&validating[1]),
        json!({"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system", "dsguard-system"]})
    );
    // The caBundle overlay patches every entry, by name.
    let patch = objects("deploy/overlays/dsguard-certs/ca-bundle.yaml");
    let names = |kind: &str, list: &[Manifest]| -> Vec<String> {
        find(list, kind, "dsguard")["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        assert_eq!(names(kind, &patch), names(kind, &base), "{kind}");
    }
}

#[test]
fn the_deployment_is_hardened_and_its_arguments_parse() {
    use clap::Parser;
    let base = objects("deploy/base");
    let deployment = find(&base, "Deployment", "dsguard");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert!(
        container["resources"]["limits"]["cpu"].is_string()
            && container["resources"]["limits"]["memory"].is_string()
    );
    let mut argv = vec!["dsguard".to_owned()];
    argv.extend(
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned()),
    );
    let cli = dsguard::cli::Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{e}"));
    assert!(cli.cluster);
    assert!(matches!(cli.command, dsguard::cli::Command::Serve(_)));
    assert!(find(&base, "PodDisruptionBudget", "dsguard")["spec"]["minAvailable"].is_number());
    assert!(find(&base, "PriorityClass", "dsguard-default")["value"].is_number());
}

#[test]
fn the_shipped_config_is_accepted() {
    let base = objects("deploy/base");
    let config = find(&base, "ConfigMap", "dsguard-config")["data"]["dsguard.yaml"]
        .as_str()
        .unwrap()
        .to_owned();
    let parsed = dsguard::config::Config::from_yaml(&config, "deploy/base/config.yaml").unwrap();
    assert_eq!(
        parsed.mutations.default_priority_class.name,
        "dsguard-default"
    );
}

#[test]
fn both_certificate_overlays_cover_every_service_name() {
    let cert_manager = objects("deploy/overlays/cert-manager");
    let certificate = find(&cert_manager, "Certificate", "dsguard");
    let names: Vec<String> = certificate["spec"]["dnsNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        dsguard::certs::service_names("dsguard", "dsguard-system")
    );
    assert_eq!(certificate["spec"]["secretName"], "dsguard-tls");
    let own = objects("deploy/overlays/dsguard-certs");
    assert!(own.iter().any(|m| m.kind() == "Kustomization"));
}
