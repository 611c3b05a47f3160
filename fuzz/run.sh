#!/usr/bin/env bash
# Fuzzes one target for a while: `fuzz/run.sh TARGET [SECONDS]` (default 1200).
# Targets: admission_review, yaml_manifests, config, node_snapshot.
# New interesting inputs land in fuzz/corpus/TARGET (commit them after `cargo fuzz cmin`);
# crashes land in fuzz/artifacts/TARGET: copy each into fuzz/regressions/TARGET, where
# `cargo test` (tests/fuzz_replay.rs) replays it on stable forever after.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
seconds=${2:-1200}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
# The seeds: what the repository already holds of each input kind.
case "$target" in
  admission_review) seeds=(../tests/fixtures/admission ../examples/review-create.json) ;;
  yaml_manifests) seeds=(../tests/corpus/daemonsets ../examples/daemonsets ../deploy) ;;
  config) seeds=(../examples/dsguard.yaml) ;;
  node_snapshot) seeds=(../tests/corpus/nodes ../tests/corpus/templates ../examples/nodes.yaml ../examples/priorityclasses.yaml ../examples/autoscaling) ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
mkdir -p "corpus/$target" "regressions/$target"
seed_dir=$(mktemp -d)
trap 'rm -rf "$seed_dir"' EXIT
for seed in "${seeds[@]}"; do
  if [ -d "$seed" ]; then find "$seed" -type f \( -name '*.json' -o -name '*.yaml' \) -exec cp {} "$seed_dir/" \; ; else cp "$seed" "$seed_dir/"; fi
done
exec cargo +nightly fuzz run "$target" "corpus/$target" "$seed_dir" "regressions/$target" -- \
  -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=1048576 -timeout=10 -print_final_stats=1
