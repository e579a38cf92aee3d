"""GPU check (issue 16): the same GENOT runs on the GPU and on the CPU, one table.

Driven by bench/gpu_check.sh, which builds the binary; needs only numpy. Tasks (from
bench/genot_bench.py, 20,000 source and target points, velocity field 128 x 3):
  rel-256   linear: N(0, I_2) -> 8 Gaussians on a circle, eps 0.1 x mean cost, batch 256
  rel-4096  the same at batch 4096
  gw-256    GW: 2-D spiral -> the same spiral in 3-D, eps 5e-3 on max-scaled costs, batch 256
Each is trained for --iterations on each device from the same seed (the same initial
weights and batches: both are drawn on the host; the batch couplings are solved by the CPU
OT engine on both sides), then 2048 points are sampled (Dopri5, rtol = atol = 1e-5) and
scored by `genot eval` (debiased Sinkhorn divergence to 2048 fresh target samples, eps 0.1
linear, 0.01 GW). Besides, the CPU-trained model is transported on both devices with 20
Euler steps (the same arithmetic up to rounding) and the two outputs are compared point by
point.

Agreement (printed per task):
  divergence: |d_gpu - d_cpu| <= DIV_ABS + DIV_REL * max(d_gpu, d_cpu). Both runs see the
    same initial weights and batches but round differently, and training amplifies that. On
    the CPU, the native engine and burn (the GPU's code path; different rounding) gave
    divergences within 1e-3 of each other after 300 iterations, while a change of seed moved
    rel-256 from 1.06 to 0.64 (gw-256: 0.280 to 0.287). The bound lets rounding through, would
    flag that rel-256 seed change, and flags a GPU run that trains clearly worse (or not at
    all). See bench/BENCHMARKS.md.
  transport: max |y_gpu - y_cpu| <= TRANSPORT_TOL * (1 + max |y_cpu|) for one model.

--cpu-only runs the CPU column only, and puts the CPU's burn engine (`--engine burn`, the
code path every GPU runs, on burn's Flex backend) in the second column, so that the whole
script can be tried on a machine without a GPU. Its figures are not GPU figures.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from genot_bench import EMBED, task_data  # noqa: E402  (numpy only; OTT is imported lazily there)

DIV_ABS = 0.02
DIV_REL = 0.25
TRANSPORT_TOL = 1e-3

TASKS = {
    "rel-256": ("rel", 256),
    "rel-4096": ("rel", 4096),
    "gw-256": ("gw", 256),
}


def run(cmd, ok_codes=(0,)):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode == 3:  # the device is not in the build or not on this machine
        print(r.stderr.strip(), file=sys.stderr)
        sys.exit(3)
    if r.returncode not in ok_codes:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {r.returncode}):\n{r.stderr}")
    return r.stdout


class Side:
    """One column of the table: a device (and engine) of the binary."""

    def __init__(self, label, genot, device, engine):
        self.label, self.genot, self.device, self.engine = label, genot, device, engine

    def fit(self, out, task, batch, x, y, iters, seed):
        args = [self.genot, "fit", "--source", x, "--target", y, "--out", out,
                "--iterations", str(iters), "--batch-size", str(batch), "--lr", "1e-3",
                "--hidden", "128", "--layers", "3", "--time-frequencies", "128",
                "--checkpoint-every", "0", "--seed", str(seed),
                "--device", self.device, "--engine", self.engine]
        if task == "rel":
            args += ["--epsilon", "0.1", "--scale-cost", "mean"]
        else:
            args += ["--kind", "quadratic", "--epsilon", "5e-3", "--scale-cost", "max"]
        t = time.perf_counter()
        rep = json.loads(run(args))
        return {"ms_per_iter": rep["ms_per_iteration"], "fit_wall_s": time.perf_counter() - t,
                "final_loss": rep["final_loss"]}

    def transport(self, model, xtest, pred, solver):
        args = [self.genot, "transport", "--model", model, "--source", xtest, "--out", pred,
                "--device", self.device]
        args += (["--solver", "dopri5", "--rtol", "1e-5", "--atol", "1e-5"] if solver == "dopri5"
                 else ["--solver", "euler", "--steps", "20"])
        t = time.perf_counter()
        rep = json.loads(run(args))
        return rep["seconds"], time.perf_counter() - t, rep["velocity_evaluations"]


def divergence(genot, pred, target, eps):
    out = run([genot, "eval", "--pred", pred, "--target", target, "--epsilon", str(eps)])
    return json.loads(out)["sinkhorn_divergence"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--genot", required=True, help="the genot binary")
    ap.add_argument("--device", default="cuda", help="the GPU device: cuda, cuda:N or wgpu")
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "out", "gpu_check"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cpu = Side("cpu", a.genot, "cpu", "native")
    other = (Side("cpu-burn", a.genot, "cpu", "burn") if a.cpu_only
             else Side(a.device, a.genot, a.device, "native"))
    def path(name):
        return os.path.join(a.out, name)

    rows, failed = [], 0
    for name in a.tasks.split(","):
        task, batch = TASKS[name]
        x, y, xtest, ytest = task_data(task)
        if ytest is None:
            ytest = xtest @ EMBED.T
        eps = 0.01 if task == "gw" else 0.1
        files = {}
        for k, v in {"x": x, "y": y, "xtest": xtest, "fresh": ytest}.items():
            files[k] = path(f"{task}-{k}.npy")
            np.save(files[k], v)
        res = {}
        for side in (cpu, other):
            model = path(f"model-{name}-{side.label.replace(':', '_')}")
            r = side.fit(model, task, batch, files["x"], files["y"], a.iterations, a.seed)
            pred = path(f"{name}-{side.label.replace(':', '_')}-dopri5.npy")
            r["sample_s"], r["sample_wall_s"], r["evals"] = side.transport(
                model, files["xtest"], pred, "dopri5")
            r["div"] = divergence(a.genot, pred, files["fresh"], eps)
            r["model"] = model
            res[side.label] = r
            print(f"  {name} {side.label}: {json.dumps({k: v for k, v in r.items() if k != 'model'})}",
                  file=sys.stderr, flush=True)
        # One model (the CPU's), transported by both devices with the same fixed steps.
        cpu_model = res[cpu.label]["model"]
        outs = []
        for side in (cpu, other):
            pred = path(f"{name}-cpumodel-{side.label.replace(':', '_')}-euler.npy")
            side.transport(cpu_model, files["xtest"], pred, "euler")
            outs.append(np.load(pred))
        dev = float(np.abs(outs[0] - outs[1]).max())
        dev_tol = TRANSPORT_TOL * (1 + float(np.abs(outs[0]).max()))
        dc, dg = res[cpu.label]["div"], res[other.label]["div"]
        div_tol = DIV_ABS + DIV_REL * max(dc, dg)
        div_ok, tr_ok = abs(dg - dc) <= div_tol, dev <= dev_tol
        failed += (not div_ok) + (not tr_ok)
        rows.append((name, res[cpu.label], res[other.label], div_tol, div_ok, dev, dev_tol, tr_ok))

    g = other.label
    print(f"\ngenot GPU check: {a.iterations} iterations, seed {a.seed}; second column: {g}"
          + (" (--cpu-only: burn engine on the CPU, not a GPU)" if a.cpu_only else ""))
    head = (f"{'task':<9} | {'ms/it cpu':>9} | {'ms/it ' + g:>12} | {'sample cpu':>10} | "
            f"{'sample ' + g:>13} | {'div cpu':>8} | {'div ' + g:>10} | div agree (tol) | "
            f"transport max|diff| (tol)")
    print(head)
    print("-" * len(head))
    for name, c, o, div_tol, div_ok, dev, dev_tol, tr_ok in rows:
        print(f"{name:<9} | {c['ms_per_iter']:>9.2f} | {o['ms_per_iter']:>12.2f} | "
              f"{c['sample_s']:>9.2f}s | {o['sample_s']:>12.2f}s | {c['div']:>8.4f} | "
              f"{o['div']:>10.4f} | {'yes' if div_ok else 'NO':<3} ({div_tol:.3f})     | "
              f"{'yes' if tr_ok else 'NO'} {dev:.1e} ({dev_tol:.1e})")
    print(f"\nms/it: `genot fit`'s ms_per_iteration (the first iterations include a GPU's kernel "
          f"compilation); sample: `genot transport` of 2048 points, Dopri5 at 1e-5, after the model "
          f"is loaded. Divergences agree when |d2 - d1| <= {DIV_ABS} + {DIV_REL} max(d1, d2); "
          f"transport (the CPU model, 20 Euler steps, on both) when max |diff| <= "
          f"{TRANSPORT_TOL} (1 + max |y|).")
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump([{"task": r[0], "cpu": r[1], g: r[2], "div_tol": r[3], "div_agree": r[4],
                    "transport_max_diff": r[5], "transport_tol": r[6], "transport_agree": r[7]}
                   for r in rows], f, indent=1)
    if failed:
        print(f"{failed} check(s) out of tolerance", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
