//! DSG102 default-tolerations: append each configured toleration the pod does not already
//! have (a toleration present — the template's or one the DaemonSet controller adds — that
//! tolerates every taint the configured one does makes it a duplicate), and, for
//! `autoTolerateTaintKeys`, the exact toleration of each such taint on the targeted nodes.

use roaring::RoaringBitmap;

use super::{Context, DaemonSet, Injection};
use crate::scheduling::{Toleration, untolerated_taints};

pub(crate) fn mutate(
    object: &DaemonSet,
    context: &Context<'_>,
    targeted: Option<&RoaringBitmap>,
    injection: &mut Injection,
) {
    let settings = &context.config.mutations.default_tolerations;
    if !settings.enabled {
        return;
    }
    let mut present: Vec<Toleration> = object.pod_tolerations(&[]);
    let mut add = |candidate: Toleration, present: &mut Vec<Toleration>| {
        if !present.iter().any(|t| t.covers(&candidate)) {
            present.push(candidate.clone());
            injection.tolerations.push(candidate);
        }
    };
    for configured in &settings.tolerations {
        add(configured.to_toleration(), &mut present);
    }
    let (Some(targeted), false) = (targeted, settings.auto_tolerate_taint_keys.is_empty()) else {
        return;
    };
    let inventory = context.inventory;
    let comparison = context.config.toleration_comparison_operators;
    let mut wanted = Vec::new();
    for group in inventory.blocked_groups(targeted, &present, comparison) {
        for taint in group.untolerated {
            if settings.auto_tolerate_taint_keys.contains(&taint.key) && !wanted.contains(&taint) {
                wanted.push(taint);
            }
        }
    }
    wanted.sort();
    for taint in wanted {
        if untolerated_taints(std::slice::from_ref(&taint), &present, comparison)
            .next()
            .is_some()
        {
            add(Toleration::exactly_for(&taint), &mut present);
        }
    }
}
