#!/usr/bin/env bash
# The bounded fuzz pass of .ci/run: builds the fuzz targets (cargo-fuzz, nightly) and runs
# each on a copy of its seed corpus (fuzz/seeds/TARGET) for a few seconds; a crash, a
# panic, a leak or an allocation over the limit fails it (the input is kept under
# fuzz/artifacts/TARGET/ and printed). Skipped, with a line that says why, where no nightly
# toolchain is installed or cargo-fuzz cannot be installed. The long runs and their
# figures: fuzz/README.md.
#
# GENOT_FUZZ_SECONDS: seconds per target (default: npy, csv, toml 20 each, h5ad 40).
# GENOT_FUZZ_MODEL=1 also builds and runs the model loader's target (it builds burn under
# the sanitizer: about 15 minutes cold, so it is off by default).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR=never

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "== fuzz: SKIPPED: no nightly Rust toolchain (rustup toolchain list has none); cargo-fuzz needs nightly"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== fuzz: installing cargo-fuzz ($(date +%T))"
    if ! cargo install cargo-fuzz --locked; then
        echo "== fuzz: SKIPPED: cargo-fuzz could not be installed (cargo install cargo-fuzz --locked failed)"
        exit 0
    fi
fi

targets=(npy csv toml h5ad)
features=()
if [ "${GENOT_FUZZ_MODEL:-0}" = 1 ]; then
    targets+=(model)
    features=(--features model)
fi

echo "== fuzz: build ($(date +%T))"
start=$SECONDS
cargo +nightly fuzz build "${features[@]}"
echo "== fuzz: built in $((SECONDS - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
    case $t in
        h5ad) secs=${GENOT_FUZZ_SECONDS:-40} ;;
        *) secs=${GENOT_FUZZ_SECONDS:-20} ;;
    esac
    mkdir -p "$work/$t" "artifacts/$t"
    if [ "$t" = model ] && [ -z "$(ls -A seeds/model 2>/dev/null)" ]; then
        echo "== fuzz: model has no seeds (GENOT_FUZZ_SEEDS=fuzz/seeds/model writes them)"
    fi
    echo "== fuzz: $t for $secs s ($(date +%T))"
    # -rss_limit_mb and -malloc_limit_mb: an input that makes a reader allocate more than
    # 128 MB at once (the h5ad target sets the memory guard to 32 MB) is a failure.
    set +e
    cargo +nightly fuzz run "${features[@]}" "$t" "$work/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=128 -timeout=60 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$work/$t.log" 2>&1
    rc=$?
    set -e
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$work/$t.log" || true
    if [ "$rc" != 0 ]; then
        tail -n 80 "$work/$t.log"
        echo "== fuzz: $t FAILED (exit $rc): the input is in fuzz/artifacts/$t/; cargo +nightly fuzz run $t fuzz/artifacts/$t/<file> reproduces it"
        exit 1
    fi
done
echo "== fuzz: passed, $((SECONDS - start)) s in all ($(date +%T))"
