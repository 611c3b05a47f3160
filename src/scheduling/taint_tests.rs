//! Table tests for taints and tolerations, modelled on `core/v1/toleration_test.go`
//! (TestTolerationToleratesTaint) and the DaemonSet controller's toleration tests.

use super::taints::{Taint, Toleration, daemon_pod_tolerations, untolerated_taints};

fn tol(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
    Toleration {
        key: key.into(),
        operator: operator.into(),
        value: value.into(),
        effect: effect.into(),
        toleration_seconds: None,
    }
}

fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint::new(key, value, effect)
}

#[test]
fn tolerations_tolerate_taints_like_kubernetes() {
    // (name, toleration, taint, comparison operators gate, want)
    let cases: Vec<(&str, Toleration, Taint, bool, bool)> = vec![
        (
            "Equal on key, value and effect",
            tol("k", "Equal", "v", "NoSchedule"),
            taint("k", "v", "NoSchedule"),
            false,
            true,
        ),
        (
            "Equal with another value",
            tol("k", "Equal", "v", "NoSchedule"),
            taint("k", "w", "NoSchedule"),
            false,
            false,
        ),
        (
            "Equal with another key",
            tol("k", "Equal", "v", "NoSchedule"),
            taint("j", "v", "NoSchedule"),
            false,
            false,
        ),
        (
            "empty operator means Equal",
            tol("k", "", "v", "NoSchedule"),
            taint("k", "v", "NoSchedule"),
            false,
            true,
        ),
        (
            "empty operator with another value",
            tol("k", "", "v", "NoSchedule"),
            taint("k", "x", "NoSchedule"),
            false,
            false,
        ),
        (
            "Exists ignores the value",
            tol("k", "Exists", "", "NoSchedule"),
            taint("k", "anything", "NoSchedule"),
            false,
            true,
        ),
        (
            "Exists with another key",
            tol("k", "Exists", "", "NoSchedule"),
            taint("j", "", "NoSchedule"),
            false,
            false,
        ),
        (
            "Exists with a value still ignores it",
            tol("k", "Exists", "v", ""),
            taint("k", "w", "NoExecute"),
            false,
            true,
        ),
        (
            "empty key with Exists tolerates every NoSchedule taint",
            tol("", "Exists", "", ""),
            taint("dedicated", "gpu", "NoSchedule"),
            false,
            true,
        ),
        (
            "empty key with Exists tolerates every NoExecute taint",
            tol("", "Exists", "", ""),
            taint("x", "", "NoExecute"),
            false,
            true,
        ),
        (
            "empty key with Exists scoped to NoSchedule",
            tol("", "Exists", "", "NoSchedule"),
            taint("x", "", "NoSchedule"),
            false,
            true,
        ),
        (
            "empty key with Exists scoped to NoSchedule skips NoExecute",
            tol("", "Exists", "", "NoSchedule"),
            taint("x", "", "NoExecute"),
            false,
            false,
        ),
        (
            "empty effect matches NoExecute",
            tol("k", "Equal", "v", ""),
            taint("k", "v", "NoExecute"),
            false,
            true,
        ),
        (
            "empty effect matches PreferNoSchedule",
            tol("k", "Exists", "", ""),
            taint("k", "", "PreferNoSchedule"),
            false,
            true,
        ),
        (
            "effect mismatch",
            tol("k", "Exists", "", "NoSchedule"),
            taint("k", "", "NoExecute"),
            false,
            false,
        ),
        (
            "effect is case sensitive",
            tol("k", "Exists", "", "noschedule"),
            taint("k", "", "NoSchedule"),
            false,
            false,
        ),
        (
            "key is case sensitive",
            tol("Dedicated", "Exists", "", ""),
            taint("dedicated", "", "NoSchedule"),
            false,
            false,
        ),
        (
            "empty key with Equal matches any key by value",
            tol("", "Equal", "v", ""),
            taint("any", "v", "NoSchedule"),
            false,
            true,
        ),
        (
            "Equal with empty value on a valueless taint",
            tol("k", "Equal", "", "NoSchedule"),
            taint("k", "", "NoSchedule"),
            false,
            true,
        ),
        (
            "Equal with empty value on a valued taint",
            tol("k", "Equal", "", "NoSchedule"),
            taint("k", "v", "NoSchedule"),
            false,
            false,
        ),
        (
            "unknown operator tolerates nothing",
            tol("k", "Foo", "v", ""),
            taint("k", "v", "NoSchedule"),
            false,
            false,
        ),
        (
            "Lt tolerates nothing with the gate off",
            tol("k", "Lt", "5", ""),
            taint("k", "3", "NoSchedule"),
            false,
            false,
        ),
        (
            "Gt tolerates nothing with the gate off",
            tol("k", "Gt", "5", ""),
            taint("k", "7", "NoSchedule"),
            false,
            false,
        ),
        (
            "Lt with the gate on, smaller taint",
            tol("k", "Lt", "5", ""),
            taint("k", "3", "NoSchedule"),
            true,
            true,
        ),
        (
            "Lt with the gate on is strict",
            tol("k", "Lt", "5", ""),
            taint("k", "5", "NoSchedule"),
            true,
            false,
        ),
        (
            "Gt with the gate on, larger taint",
            tol("k", "Gt", "5", ""),
            taint("k", "7", "NoSchedule"),
            true,
            true,
        ),
        (
            "Gt with the gate on, negative values",
            tol("k", "Gt", "-5", ""),
            taint("k", "-3", "NoSchedule"),
            true,
            true,
        ),
        (
            "Gt with a leading-zero taint value",
            tol("k", "Gt", "5", ""),
            taint("k", "07", "NoSchedule"),
            true,
            false,
        ),
        (
            "Gt with a plus-signed toleration value",
            tol("k", "Gt", "+5", ""),
            taint("k", "7", "NoSchedule"),
            true,
            false,
        ),
        (
            "Gt with a non-integer taint value",
            tol("k", "Gt", "5", ""),
            taint("k", "seven", "NoSchedule"),
            true,
            false,
        ),
        (
            "Lt with -0 is not canonical",
            tol("k", "Lt", "-0", ""),
            taint("k", "-1", "NoSchedule"),
            true,
            false,
        ),
        (
            "Lt still needs the key",
            tol("k", "Lt", "5", ""),
            taint("j", "3", "NoSchedule"),
            true,
            false,
        ),
    ];
    let mut with_seconds = tol("k", "Exists", "", "NoExecute");
    with_seconds.toleration_seconds = Some(0);
    let mut cases = cases;
    cases.push((
        "tolerationSeconds does not change the match",
        with_seconds,
        taint("k", "", "NoExecute"),
        false,
        true,
    ));
    assert!(cases.len() >= 30);
    let failures: Vec<String> = cases
        .iter()
        .filter(|(_, t, taint, gate, want)| t.tolerates(taint, *gate) != *want)
        .map(|(name, _, _, _, want)| format!("{name}: want {want}"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn daemon_pods_tolerate_node_conditions_but_not_roles() {
    let auto = daemon_pod_tolerations(false);
    let tolerated =
        |t: &Taint, tolerations: &[Toleration]| tolerations.iter().any(|x| x.tolerates(t, false));
    for t in [
        taint("node.kubernetes.io/not-ready", "", "NoExecute"),
        taint("node.kubernetes.io/unreachable", "", "NoExecute"),
        taint("node.kubernetes.io/disk-pressure", "", "NoSchedule"),
        taint("node.kubernetes.io/memory-pressure", "", "NoSchedule"),
        taint("node.kubernetes.io/pid-pressure", "", "NoSchedule"),
        taint("node.kubernetes.io/unschedulable", "", "NoSchedule"),
    ] {
        assert!(tolerated(&t, &auto), "{t} should be auto-tolerated");
    }
    for t in [
        taint("node.kubernetes.io/network-unavailable", "", "NoSchedule"),
        taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"),
        taint(
            "node.kubernetes.io/out-of-service",
            "nodeshutdown",
            "NoExecute",
        ),
        // The controller tolerates not-ready for NoExecute only.
        taint("node.kubernetes.io/not-ready", "", "NoSchedule"),
    ] {
        assert!(!tolerated(&t, &auto), "{t} must not be auto-tolerated");
    }
    let host_network = daemon_pod_tolerations(true);
    assert!(tolerated(
        &taint("node.kubernetes.io/network-unavailable", "", "NoSchedule"),
        &host_network
    ));
    assert_eq!(host_network.len(), auto.len() + 1);
}

#[test]
fn untolerated_lists_every_blocking_taint_and_never_prefer_no_schedule() {
    let taints = [
        taint("a", "", "NoSchedule"),
        taint("b", "", "PreferNoSchedule"),
        taint("c", "1", "NoExecute"),
        taint("d", "", "NoSchedule"),
    ];
    let tolerations = [tol("d", "Exists", "", "")];
    let blocking: Vec<String> = untolerated_taints(&taints, &tolerations, false)
        .map(ToString::to_string)
        .collect();
    assert_eq!(blocking, ["a:NoSchedule", "c=1:NoExecute"]);
    assert_eq!(
        untolerated_taints(&taints, &[tol("", "Exists", "", "")], false).count(),
        0
    );
}

#[test]
fn covering_tolerations_make_duplicates() {
    let cases = [
        (
            "keyless Exists covers a keyed toleration",
            tol("", "Exists", "", ""),
            tol("gpu", "Equal", "true", "NoSchedule"),
            true,
        ),
        (
            "same Equal toleration",
            tol("gpu", "Equal", "true", "NoSchedule"),
            tol("gpu", "", "true", "NoSchedule"),
            true,
        ),
        (
            "Equal with another value",
            tol("gpu", "Equal", "true", "NoSchedule"),
            tol("gpu", "Equal", "false", "NoSchedule"),
            false,
        ),
        (
            "effect-scoped does not cover effect-less",
            tol("gpu", "Exists", "", "NoSchedule"),
            tol("gpu", "Exists", "", ""),
            false,
        ),
        (
            "effect-less covers effect-scoped",
            tol("gpu", "Exists", "", ""),
            tol("gpu", "Exists", "", "NoExecute"),
            true,
        ),
        (
            "Exists on key covers Equal on key",
            tol("gpu", "Exists", "", "NoSchedule"),
            tol("gpu", "Equal", "x", "NoSchedule"),
            true,
        ),
        (
            "Equal does not cover Exists",
            tol("gpu", "Equal", "x", "NoSchedule"),
            tol("gpu", "Exists", "", "NoSchedule"),
            false,
        ),
        (
            "keyed does not cover keyless",
            tol("gpu", "Exists", "", ""),
            tol("", "Exists", "", ""),
            false,
        ),
    ];
    for (name, a, b, want) in cases {
        assert_eq!(a.covers(&b), want, "{name}");
    }
}

#[test]
fn suggested_toleration_yaml_is_pasteable() {
    let yaml = Toleration::exactly_for(&taint("dedicated", "gpu", "NoSchedule")).to_yaml_item();
    assert_eq!(
        yaml,
        "- key: dedicated\n  operator: Equal\n  value: gpu\n  effect: NoSchedule"
    );
    let yaml = Toleration::exactly_for(&taint("node-role.kubernetes.io/master", "", "NoSchedule"))
        .to_yaml_item();
    assert_eq!(
        yaml,
        "- key: node-role.kubernetes.io/master\n  operator: Exists\n  effect: NoSchedule"
    );
    let yaml = Toleration::exactly_for(&taint("flag", "true", "NoExecute")).to_yaml_item();
    assert!(yaml.contains("value: \"true\""), "{yaml}");
}
