#!/bin/bash
# genot alone on task gw, 5000 iterations, default flags, seeds 0-2: divergence at eps 0.01.
# Needs the inputs genot_bench.py wrote to bench/out/genot (run it once with --tasks gw).
cd "$(dirname "$0")/.."
G=target/release/genot
O=bench/out/genot
for s in 0 1 2; do
  $G fit --source $O/gw-x.npy --target $O/gw-y.npy --out bench/out/gwdef-$s --iterations 5000 --batch-size 256 --lr 1e-3 \
    --hidden 128 --layers 3 --time-frequencies 128 --checkpoint-every 0 --seed $s \
    --kind quadratic --epsilon 5e-3 --scale-cost max > bench/out/gwdef-$s.fit.json 2>/dev/null
  for solver in dopri5 euler; do
    extra="--rtol 1e-5 --atol 1e-5"; [ $solver = euler ] && extra="--steps 20"
    $G transport --model bench/out/gwdef-$s --source $O/gw-xtest.npy --out bench/out/gwdef-$s-$solver.npy --solver $solver $extra > /dev/null 2>&1
    echo "seed $s $solver $($G eval --pred bench/out/gwdef-$s-$solver.npy --target $O/gw-fresh.npy --epsilon 0.01 | grep -o '"sinkhorn_divergence":[0-9.e-]*')"
  done
done
