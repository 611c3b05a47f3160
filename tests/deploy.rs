//! deploy/ stays consistent with the code: the RBAC is exactly what the watchers use, the
//! webhooks have the settings README "Deploying" names, the Deployment is hardened and runs what the
//! CLI accepts, and the shipped config is one dsguard accepts.

mod common;

use std::path::{Path, PathBuf};

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
fn rbac_is_exactly_what_the_watchers_read_and_the_leader_writes() {
    let base = objects("deploy/base");
    let role = find(&base, "ClusterRole", "dsguard");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": [""], "resources": ["nodes", "limitranges"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["scheduling.k8s.io"], "resources": ["priorityclasses"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["karpenter.sh"], "resources": ["nodepools"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["cluster.x-k8s.io"], "resources": ["machinedeployments", "machinesets"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["controllerrevisions"], "verbs": ["list"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
            {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["list", "watch"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports"], "verbs": ["list", "create", "patch", "delete"]},
            {"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"], "verbs": ["create"]},
            {"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"], "resourceNames": ["dsguard"], "verbs": ["get", "patch"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["dsguard"], "verbs": ["get"]}
        ])
    );
    // The Lease and the certificate Secret: in dsguard's namespace only, and by name
    // wherever a name can be given.
    let role = find(&base, "Role", "dsguard");
    assert_eq!(role["metadata"]["namespace"], "dsguard-system");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["dsguard-leader"], "verbs": ["get", "patch"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["dsguard-tls"], "verbs": ["get", "update"]}
        ])
    );
    assert_eq!(
        find(&base, "RoleBinding", "dsguard")["subjects"][0]["name"],
        "dsguard"
    );
    // The names the code uses are the ones granted.
    assert_eq!(dsguard::cluster::leader::LEASE_NAME, "dsguard-leader");
    assert_eq!(
        dsguard::cluster::certificates::OWNER_CLUSTER_ROLE,
        "dsguard"
    );
    let binding = find(&base, "ClusterRoleBinding", "dsguard");
    assert_eq!(binding["subjects"][0]["name"], "dsguard");
}

#[test]
fn webhooks_have_the_documented_settings() {
    // Shipped for the certificate overlays, and compiled into `--manage-webhooks`.
    let base = objects("deploy/components/webhooks");
    assert!(
        objects("deploy/base")
            .iter()
            .all(|m| !m.kind().ends_with("WebhookConfiguration")),
        "the default install registers no webhook before a replica is Ready"
    );
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
    // The caBundle patch `dsguard certs` writes covers every entry, by name.
    for (kind, names) in dsguard::certs::WEBHOOKS {
        let base_names: Vec<&str> = find(&base, kind, "dsguard")["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap())
            .collect();
        assert_eq!(base_names, names, "{kind}");
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
    let dsguard::cli::Command::Serve(serve) = &cli.command else {
        panic!("serve")
    };
    assert!(serve.kube.cluster);
    assert!(
        serve.manage_webhooks,
        "the default install manages its certificates"
    );
    // The certificate overlays' Deployment patch: files instead, and they parse too.
    let component = objects("deploy/components/webhooks");
    let patched = find(&component, "Deployment", "dsguard");
    let mut argv = vec!["dsguard".to_owned()];
    argv.extend(
        patched["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned()),
    );
    let cli = dsguard::cli::Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{e}"));
    let dsguard::cli::Command::Serve(serve) = &cli.command else {
        panic!("serve")
    };
    assert!(!serve.manage_webhooks && serve.tls_cert.is_some());
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

/// A scratch copy of deploy/ without any certificates, as a fresh checkout has it.
fn deploy_copy(name: &str) -> PathBuf {
    let root = common::scratch_dir("deploy", name);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy"))
        .arg(root.join("deploy"))
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(root.join(CERTS_OUT));
    root
}

/// Where the dsguard-certs overlay's steps write the certificates.
const CERTS_OUT: &str = "deploy/overlays/dsguard-certs/certs";

/// `dsguard certs --out deploy/overlays/dsguard-certs/certs` in `root`, as the overlay says.
fn certs_in(root: &Path, force: bool) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dsguard"));
    command
        .current_dir(root)
        .args(["certs", "--out", CERTS_OUT]);
    if force {
        command.arg("--force");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `kubectl kustomize OVERLAY` in `root`.
fn kustomize(root: &Path, overlay: &str) -> String {
    let output = std::process::Command::new("kubectl")
        .args(["kustomize", overlay])
        .current_dir(root)
        .output()
        .expect("kubectl is installed (.ci/run installs it when missing)");
    assert!(
        output.status.success(),
        "{overlay}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The dsguard-certs overlay's steps, exactly as its kustomization.yaml writes them, on a
/// copy of deploy/: the certificates land in a folder that does not exist yet, kustomize
/// renders the overlay, and every webhook entry carries the new CA. Then a rotation with
/// --force, whose patch trusts both CAs.
#[test]
fn the_certificate_overlay_steps_work_as_written() {
    use base64::Engine;
    let root = deploy_copy("overlay-steps");
    let out = root.join(CERTS_OUT);
    let certs = |force: bool| certs_in(&root, force);
    let render = || kustomize(&root, "deploy/overlays/dsguard-certs");
    let encode = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    certs(false);
    let rendered = render();
    let ca = std::fs::read_to_string(out.join("ca.crt")).unwrap();
    assert_eq!(
        rendered
            .matches(&format!("caBundle: {}", encode(&ca)))
            .count(),
        3,
        "{rendered}"
    );
    assert!(
        rendered.contains("name: dsguard-tls"),
        "the Secret is generated"
    );

    certs(true);
    let new_ca = std::fs::read_to_string(out.join("ca.crt")).unwrap();
    assert_ne!(new_ca, ca);
    let both = encode(&format!("{new_ca}{ca}"));
    let rotated = std::fs::read_to_string(out.join("ca-bundle.yaml")).unwrap();
    assert_eq!(
        rotated.matches(&both).count(),
        3,
        "the rotation trusts both CAs"
    );
    assert_eq!(render().matches(&both).count(), 3);
}

/// Every metric an alert reads is one dsguard exports (counters carry `_total`, histograms
/// `_bucket`), and the monitoring kustomization renders.
#[test]
fn alerts_read_metrics_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules =
        std::fs::read_to_string(root.join("deploy/monitoring/prometheusrule.yaml")).unwrap();
    let exported = std::fs::read_to_string(root.join("src/server/metrics.rs")).unwrap();
    let mut checked = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let Some(name) = word.strip_prefix("dsguard_") else {
            continue;
        };
        let base = name
            .strip_suffix("_total")
            .or_else(|| name.strip_suffix("_bucket"))
            .unwrap_or(name);
        assert!(
            exported.contains(&format!("\"{base}\"")),
            "alert reads dsguard_{name}, which is not exported"
        );
        checked += 1;
    }
    assert!(checked >= 8, "{checked}");
    let rendered = kustomize(root, "deploy/monitoring");
    assert!(rendered.contains("kind: PrometheusRule") && rendered.contains("kind: ServiceMonitor"));
}

/// Every overlay, rendered by kustomize as `kubectl apply -k` would, validates strictly
/// against the Kubernetes 1.33 API schemas (kubernetes-validate; kinds from CRDs, such as
/// cert-manager's and the Prometheus Operator's, have no schema there and are reported as
/// warnings only).
#[test]
fn every_overlay_renders_and_validates_against_the_api_schemas() {
    let root = deploy_copy("validate");
    certs_in(&root, false);
    for overlay in [
        "deploy/base",
        "deploy/overlays/cert-manager",
        "deploy/overlays/dsguard-certs",
        "deploy/monitoring",
    ] {
        let rendered = kustomize(&root, overlay);
        let file = root.join(format!("{}.yaml", overlay.replace('/', "-")));
        std::fs::write(&file, rendered).unwrap();
        let validated = std::process::Command::new("kubernetes-validate")
            .args(["-k", "1.33.0", "--strict", "--quiet"])
            .arg(&file)
            .output()
            .expect("kubernetes-validate is installed (.ci/run installs it from PyPI)");
        assert!(
            validated.status.success(),
            "{overlay}: {}{}",
            String::from_utf8_lossy(&validated.stdout),
            String::from_utf8_lossy(&validated.stderr)
        );
    }
}
