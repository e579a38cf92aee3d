#!/usr/bin/env bash
# One build serves the CLI, the Python package and the tests (issue 17): fails when a crate
# that the `genot` CLI's graph (cargo build -p genot-cli), the Python package's (maturin,
# -p genot-py) and the test build's (cargo test --workspace, dev-dependencies included)
# share is compiled with different features in one of them. A differing feature
# recompiles every crate above it (for most of them: the whole burn stack), which is what
# made setup.sh and the tests compile everything three times. The union is asked for in
# crates/genot/Cargo.toml ("Feature unification"); this names the crate to add there.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo tree -p genot-cli -e normal,build -f "{p} [{f}]" --prefix none >"$tmp/cli"
cargo tree -p genot-py -e normal,build -f "{p} [{f}]" --prefix none >"$tmp/py"
cargo tree --workspace -e normal,build,dev -f "{p} [{f}]" --prefix none >"$tmp/tests"
python3 - "$tmp" <<'PY'
import sys

def features(path):
    out = {}
    for line in open(path):
        line = line.strip().replace(" (*)", "").replace(" (proc-macro)", "")
        if " [" in line:
            name, feats = line.split(" [", 1)
            out.setdefault(name, set()).add(feats.rstrip("]"))
    return out

d = sys.argv[1]
cli = features(f"{d}/cli")
bad = []
for other in ("py", "tests"):
    o = features(f"{d}/{other}")
    for name in sorted(set(cli) & set(o)):
        if cli[name] != o[name]:
            bad.append(f"{name}: CLI [{'; '.join(sorted(cli[name]))}] vs {other} [{'; '.join(sorted(o[name]))}]")
if bad:
    print("one-build: these crates are compiled with different features for the CLI and for "
          "the Python package or the tests, so each is built again (add the union to "
          "crates/genot/Cargo.toml, 'Feature unification'):", *bad, sep="\n  ")
    sys.exit(1)
print(f"one-build: the CLI, the Python package and the tests share {len(cli)} crates with the same features")
PY
