//! Realistic Pods for the benchmarks, as the API server lists them (and as `kubectl get
//! pods -o json` writes them, but for `managedFields`, which kubectl hides by default).

use serde_json::json;

use crate::fake_apiserver::synthetic_node;

/// A realistic assigned Pod as the API server lists it, on `node`: a workload replica
/// with its ReplicaSet owner, managedFields, env, volumes, and a Running status.
pub fn synthetic_pod(index: usize, node: &str) -> serde_json::Value {
    let workload = index / 20;
    let namespace = format!("team-{}", workload % 40);
    let name = format!("service-{workload}-6d8f9c7b5-{index:05x}");
    let priority = [0, 100, 1000, 10000, 100000, 1000000][index % 6];
    let labels = json!({"app.kubernetes.io/name": format!("service-{workload}"), "app.kubernetes.io/part-of": format!("team-{}", workload % 40), "pod-template-hash": "6d8f9c7b5"});
    let condition = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-12-01T00:00:05Z"});
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": namespace, "uid": format!("{index:08x}-1111-4000-8000-{index:012x}"),
            "generateName": format!("service-{workload}-6d8f9c7b5-"), "creationTimestamp": "2026-12-01T00:00:00Z",
            "labels": labels,
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-30T12:00:00Z", "prometheus.io/scrape": "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("service-{workload}-6d8f9c7b5"), "uid": format!("{workload:08x}-2222-4000-8000-{workload:012x}"), "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2026-12-01T00:00:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app.kubernetes.io/name": {}, "f:pod-template-hash": {}}, "f:ownerReferences": {".": {}, "k:{\"uid\":\"x\"}": {}}},
                              "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {}, "f:image": {}, "f:name": {}, "f:ports": {}, "f:resources": {"f:limits": {}, "f:requests": {}}}}, "f:dnsPolicy": {}, "f:priorityClassName": {}, "f:volumes": {}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-12-01T00:00:10Z", "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}}}
            ]
        },
        "spec": {
            "nodeName": node, "priority": priority, "priorityClassName": format!("tier-{}", index % 6),
            "serviceAccountName": "default", "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 30, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
            "containers": [{
                "name": "app", "image": format!("registry.example.com/team-{}/service-{workload}:v1.{}.0", workload % 40, workload % 17),
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}, {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}, {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317"}],
                "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}},
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}, {"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
            }],
            "volumes": [{"name": "config", "configMap": {"name": format!("service-{workload}"), "defaultMode": 420}},
                        {"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}, {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
        },
        "status": {
            "phase": "Running", "hostIP": "10.0.0.1", "podIP": format!("10.1.{}.{}", (index / 256) % 256, index % 256),
            "startTime": "2026-12-01T00:00:01Z", "qosClass": "Burstable",
            "conditions": [condition("PodReadyToStartContainers"), condition("Initialized"), condition("Ready"), condition("ContainersReady"), condition("PodScheduled")],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "started": true,
                "image": format!("registry.example.com/team-{}/service-{workload}:v1.{}.0", workload % 40, workload % 17),
                "imageID": format!("registry.example.com/team-{}/service-{workload}@sha256:{:064x}", workload % 40, workload),
                "containerID": format!("containerd://{index:064x}"), "state": {"running": {"startedAt": "2026-12-01T00:00:04Z"}}, "lastState": {}}]
        }
    })
}

/// The node name `synthetic_node(index, ..)` has.
pub fn node_name(index: usize) -> String {
    synthetic_node(index, &[])["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned()
}
