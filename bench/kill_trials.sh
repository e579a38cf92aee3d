#!/usr/bin/env bash
# kill -9 trials against the release CLI (issue 14): a fit (first fit or refit over an
# existing model) is killed with SIGKILL after a random delay; then the model directory must
# be the old model or the new one, whole (transport loads it), and `--resume` must finish the
# run with the weights of an uninterrupted run.
# Usage: bash bench/kill_trials.sh [TRIALS=36] [GENOT=target/release/genot]
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-36}
genot=${2:-target/release/genot}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import struct, sys
def npy(path, rows):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 2), }" % len(rows)
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        for r in rows:
            f.write(struct.pack("<2f", *r))
w = sys.argv[1]
pts = [(((i * 7) % 17) / 17 - 0.5, ((i * 7 + 13) % 17) / 17 - 0.5) for i in range(400)]
npy(f"{w}/x.npy", pts)
npy(f"{w}/y.npy", [(a + 3, b) for a, b in pts])
PY
flags=(--source "$work/x.npy" --target "$work/y.npy" --hidden 64 --layers 2 --time-frequencies 16
       --batch-size 128 --checkpoint-every 25 --seed 3)
"$genot" fit "${flags[@]}" --out "$work/ref" --iterations 400 >/dev/null 2>&1
"$genot" fit "${flags[@]}" --out "$work/old" --iterations 100 --seed 9 >/dev/null 2>&1
ref_w=$(sha256sum "$work/ref/model.safetensors" | cut -d' ' -f1)
old_w=$(sha256sum "$work/old/model.safetensors" | cut -d' ' -f1)
start=$(date +%s.%N)
"$genot" fit "${flags[@]}" --out "$work/timing" --iterations 400 >/dev/null 2>&1
total=$(python3 -c "import time; print(time.time() - $start)")
passed=0
for t in $(seq 1 "$trials"); do
    m="$work/m$t"
    refit=$((t % 2))
    [ "$refit" = 1 ] && cp -r "$work/old" "$m"
    delay=$(python3 -c "import random; random.seed($t); print(random.uniform(0.05, 1.1) * $total)")
    "$genot" fit "${flags[@]}" --out "$m" --iterations 400 >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    state="none"
    if [ -f "$m/model.safetensors" ]; then
        w=$(sha256sum "$m/model.safetensors" | cut -d' ' -f1)
        if [ "$w" = "$ref_w" ]; then state="new"; elif [ "$w" = "$old_w" ]; then state="old"; else state="MIXED"; fi
        "$genot" transport --model "$m" --source "$work/x.npy" --out "$work/p$t.npy" >/dev/null 2>&1 || state="UNLOADABLE"
    fi
    if [ "$state" = "none" ] && [ "$refit" = 1 ]; then state="LOST-OLD"; fi
    if ! "$genot" fit "${flags[@]}" --out "$m" --iterations 400 --resume >/dev/null 2>"$work/err"; then
        # Killed before it had written anything: there is nothing to resume, and saying so
        # is right; a plain fit then runs it.
        if [ "$state" = "none" ] && grep -q "no checkpoint" "$work/err"; then
            "$genot" fit "${flags[@]}" --out "$m" --iterations 400 >/dev/null 2>&1 || state="$state,FIT-FAILED"
        else
            state="$state,RESUME-FAILED"
        fi
    fi
    w=$(sha256sum "$m/model.safetensors" | cut -d' ' -f1)
    [ "$w" = "$ref_w" ] || state="$state,RESUMED-DIFFERS"
    case "$state" in
        none|old|new) passed=$((passed + 1)); echo "trial $t: refit=$refit killed after ${delay}s: $state before resume; resumed = uninterrupted" ;;
        *) echo "trial $t: refit=$refit killed after ${delay}s: FAILED ($state)" ;;
    esac
done
echo "kill -9 trials: $passed passed, $((trials - passed)) failed (a fit takes ${total}s)"
[ "$passed" = "$trials" ]
