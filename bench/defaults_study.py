"""Defaults study (issue 13, item 4): `genot fit`'s normalisation, EMA, learning rate and
iterations, one factor at a time from the current defaults, on four tasks, 3 seeds each.

Defaults at the time of the first study (commit 0f79f9f; since then --lr is 1e-3 and, after the
second study of 2026-12-03, --normalize isotropic): --normalize per-feature, no --ema, --lr 1e-4,
--iterations 5000, --hidden 256, --layers 3, --batch-size 256, --time-frequencies 128.
Every fit below passes only what its task's protocol fixes (kind, epsilon, cost scaling,
and SNARE-seq's 3000 iterations) plus the one factor being varied; everything else is
genot's default.

Tasks (data and scores):
  kang   Kang IFN-beta PBMCs (../shared/data/kang_ifnb_pbmc_celltypes), 50 PCs, CD14 Mono held
         out: source = all 391 control cells, target = the stimulated cells of the other 5
         types (288); GENOT-L (linear, defaults: epsilon 0.1 on the cost divided by its
         mean). Score: energy distance (`genot eval`, V-statistic in the 50 PCs) between
         one sample per held-out CD14 Mono control cell (151, `genot transport --samples 1
         --seed SEED`) and the 153 observed stimulated CD14 Mono cells. Lower is better.
  kang-ood  the same data and score, with CD14 Mono held out of training on both sides (the
         issue's protocol): source = the 240 control cells of the other 5 types, target = the
         288 stimulated cells of those types; the 151 CD14 Mono control cells are never
         seen in training. Baselines: identity 20.72, mean shift (learned on the training
         cells) 11.26.
  snare  SNARE-seq GENOT-Q, bench/orientation_study.py's protocol: rows L2-normalised,
         cells split 60/40 by seed 0 (fixed), ATAC 19-D -> RNA 10-D unpaired, quadratic,
         epsilon 5e-3, --scale-cost max, 3000 iterations, batch 256. Score: FOSCTTM of the
         mean of 30 samples per test cell against its true RNA profile (0 perfect, 0.5
         chance). Lower is better.
  gw     2-D -> 3-D GW spiral of bench/genot_bench.py (task gw: 20,000 spiral points and
         their image under a fixed orthonormal 3x2 embedding, quadratic, epsilon 5e-3,
         --scale-cost max). Score: debiased Sinkhorn divergence (`genot eval --epsilon
         0.01`) between the transport of 2048 fresh spiral points and their 3-D images.
  gauss  Gaussian closed form: source N(0, I_16), target N(m, S) with m ~ N(0, I), S =
         A A^T / 16 + 0.1 I, A standard normal (numpy seed 1234); 10,000 training points
         a side; linear, defaults (epsilon 0.1 on the mean-scaled cost). Score: BW2-UVP of
         the pushforward of 2000 fresh source points (one sample each): 100 * BW2^2(Gaussian
         fit of the predictions, N(m, S)) / (0.5 * tr S). The floor (2000 fresh exact target
         samples scored the same way) is printed in the report.

Iterations factor: every fit first runs to half its task's iterations, is scored, then is
continued with --resume to the full count and scored again. genot's learning rate is
constant and each iteration's batch and noise come from their own random stream, so the
resumed run is the same computation as a fresh fit to the full count (checked: identical
weights, bit for bit, on Kang at 200 iterations). Fit seconds of the full run are the sum
of both parts.

EMA factor: the default arm is fitted with --ema 0.999 and scored twice. The EMA only
shadows training, so the run's raw weights (checkpoint/velocity-native.safetensors) are the
no-EMA default fit's weights (checked: identical, bit for bit, to a fresh fit without
--ema); they are scored as "default", the EMA model as "ema-0.999", both at the full count and
half-way. Since 2026-12-07 the EMA's decay warms up and --ema 0.999 is genot's default (the
third study in bench/DEFAULTS-STUDY.md); the "default" arm is still the last weights.

Iterations per task: Kang 5000 (the default) and 2500; SNARE-seq 3000 (its protocol) and
1500; the GW spiral 1000 and 500, and the Gaussian 2000 and 1000 (both below the default
5000: one shared core allowed no more in the time of this study).

Transport uses `genot transport`'s defaults (Dopri5, rtol 1e-3, atol 1e-6).

    nice -n 19 env RAYON_NUM_THREADS=1 GENOT_CLI=/work/bin/genot \\
        .venv-def/bin/python bench/defaults_study.py [--tasks kang,snare,gw,gauss] \\
        [--configs default,lr-1e-3,...] [--seeds 0 1 2]
    .venv-def/bin/python bench/defaults_study.py --report     # markdown tables

Raw results: bench/out/defaults/results.jsonl, or $DEFAULTS_WORK/results.jsonl (one line per
scored model; a rerun skips what is already there).
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
if not DATA.exists():
    DATA = pathlib.Path("/work/shared/data")
WORK = pathlib.Path(os.environ.get("DEFAULTS_WORK", ROOT / "bench" / "out" / "defaults"))
RESULTS = WORK / "results.jsonl"

CONFIGS = {
    "default": [],
    "norm-isotropic": ["--normalize", "isotropic"],
    "norm-none": ["--normalize", "none"],
    "ema-0.999": ["--ema", "0.999"],
    "lr-3e-4": ["--lr", "3e-4"],
    "lr-1e-3": ["--lr", "1e-3"],
    # AdamW's decoupled weight decay (genot's default 0): per step the weights shrink by
    # lr x wd, 1e-5 and 1e-4 at lr 1e-3.
    "wd-1e-2": ["--weight-decay", "1e-2"],
    "wd-1e-1": ["--weight-decay", "1e-1"],
    # A coupling of 1024 points per side feeding 4 iterations of the network's batch of 256
    # (--ot-plan-reuse defaults to ot_batch_size / batch_size).
    "otb-1024": ["--ot-batch-size", "1024"],
}


def genot():
    exe = os.environ.get("GENOT_CLI") or str(ROOT / "target" / "release" / "genot")
    if not pathlib.Path(exe).exists():
        sys.exit(f"no genot binary at {exe} (set GENOT_CLI)")
    return exe


def run(*args):
    out = subprocess.run([genot(), *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"genot {' '.join(map(str, args))} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def save(path, a):
    np.save(path, np.asarray(a, dtype=np.float32))
    return path


def load_csv(path):
    import csv

    with open(path) as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- tasks


class Kang:
    name, iterations, score_name = "kang", 5000, "energy distance (CD14 Mono, 1 sample/cell)"
    held = "CD14 Mono"
    # Whether the held-out type's control cells leave the source too (task kang-ood).
    held_controls_out = False

    def prepare(self):
        d = DATA / "kang_ifnb_pbmc_celltypes"
        pcs = np.load(d / "pca50.npy").astype(np.float64)
        obs = load_csv(d / "obs.csv")
        cond = np.array([r["condition"] for r in obs])
        ctype = np.array([r["cell_type"] for r in obs])
        ctrl, stim = cond == "control", cond == "stimulated"
        source = ctrl & (ctype != self.held) if self.held_controls_out else ctrl
        self.dir = WORK / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.src = save(self.dir / "source.npy", pcs[source])
        self.tgt = save(self.dir / "target.npy", pcs[stim & (ctype != self.held)])
        self.x = save(self.dir / "x.npy", pcs[ctrl & (ctype == self.held)])
        self.obs = save(self.dir / "obs_stim.npy", pcs[stim & (ctype == self.held)])
        self.n = {"source": int(source.sum()), "target": int((stim & (ctype != self.held)).sum()),
                  "held_control": int((ctrl & (ctype == self.held)).sum()),
                  "held_stimulated": int((stim & (ctype == self.held)).sum())}

    def fit_args(self):
        return ["--source", self.src, "--target", self.tgt, "--kind", "linear"]

    def score(self, model, seed):
        pred = self.dir / f"pred-{seed}.npy"
        run("transport", "--model", model, "--source", self.x, "--out", pred, "--samples", 1, "--seed", seed)
        e = run("eval", "--pred", pred, "--target", self.obs)
        return {"score": e["energy_distance"], "sinkhorn_divergence": e["sinkhorn_divergence"]}

    def baselines(self):
        e = run("eval", "--pred", self.x, "--target", self.obs)
        src, tgt, x = (np.load(p).astype(np.float64) for p in (self.src, self.tgt, self.x))
        shift = save(self.dir / "shift.npy", x + tgt.mean(0) - src.mean(0))
        s = run("eval", "--pred", shift, "--target", self.obs)
        return {"identity": e["energy_distance"], "mean_shift": s["energy_distance"]}


class KangOOD(Kang):
    """The issue's protocol: CD14 Mono held out of training on both sides (its control cells
    too), so the map is learned on the other 5 types and applied to a type it never saw."""
    name = "kang-ood"
    held_controls_out = True


class Snare:
    name, iterations, score_name = "snare", 3000, "FOSCTTM (mean of 30 samples)"

    def prepare(self):
        d = DATA / "snareseq_cellmix"
        a = np.load(d / "atac19.npy").astype(np.float64)
        b = np.load(d / "rna10.npy").astype(np.float64)
        labels = [r["cell_line"] for r in load_csv(d / "obs.csv")]
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        order = np.random.default_rng(0).permutation(len(a))
        cut = int(0.6 * len(a))
        train, test = np.sort(order[:cut]), np.sort(order[cut:])
        self.dir = WORK / "snare"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.a_train = save(self.dir / "a_train.npy", a[train])
        self.b_train = save(self.dir / "b_train.npy", b[train])
        self.a_test = save(self.dir / "a_test.npy", a[test])
        self.b_test = save(self.dir / "b_test.npy", b[test])
        for name, idx in (("train", train), ("test", test)):
            with open(self.dir / f"{name}_labels.csv", "w") as f:
                f.write("label\n" + "".join(labels[i] + "\n" for i in idx))
        self.n = {"train": len(train), "test": len(test)}

    def fit_args(self):
        return ["--source", self.a_train, "--target", self.b_train, "--kind", "quadratic",
                "--epsilon", 5e-3, "--scale-cost", "max"]

    def score(self, model, seed):
        many, mean = self.dir / f"many-{seed}.npy", self.dir / f"mean-{seed}.npy"
        run("transport", "--model", model, "--source", self.a_test, "--out", many, "--samples", 30,
            "--mean-out", mean, "--seed", seed)
        paired = run("eval", "--pred", mean, "--target", self.b_test, "--paired")
        lt = run("eval", "--pred", mean, "--target", self.b_train, "--pred-labels", self.dir / "test_labels.csv",
                 "--target-labels", self.dir / "train_labels.csv", "--knn", 5)
        return {"score": paired["foscttm"], "label_transfer": lt["label_transfer_accuracy"]}

    def baselines(self):
        return {}


def spiral(n, rng):
    u = rng.uniform(size=n)
    r, th = 1 + 3 * u, 3 * np.pi * u
    return np.stack([r * np.cos(th), r * np.sin(th)], 1)


class Spiral:
    # 1000 iterations, not the default 5000: the time this study had (one shared core,
    # about 0.1 s per GW iteration) allowed no more; 1000 is genot_bench.py's first budget.
    name, iterations, score_name = "gw", 1000, "Sinkhorn divergence (eps 0.01)"

    def prepare(self):
        # bench/genot_bench.py's task gw, the same arrays.
        embed = np.linalg.qr(np.random.default_rng(42).normal(size=(3, 3)))[0][:, :2].astype(np.float32)
        rng = np.random.default_rng(0)
        x = spiral(20000, rng).astype(np.float32)
        xtest = spiral(2048, rng).astype(np.float32)
        self.dir = WORK / "gw"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.x = save(self.dir / "x.npy", x)
        self.y = save(self.dir / "y.npy", x @ embed.T)
        self.xtest = save(self.dir / "xtest.npy", xtest)
        self.fresh = save(self.dir / "fresh.npy", xtest @ embed.T)
        self.n = {"train": 20000, "test": 2048}

    def fit_args(self):
        return ["--source", self.x, "--target", self.y, "--kind", "quadratic", "--epsilon", 5e-3,
                "--scale-cost", "max"]

    def score(self, model, seed):
        pred = self.dir / f"pred-{seed}.npy"
        run("transport", "--model", model, "--source", self.xtest, "--out", pred, "--seed", seed)
        e = run("eval", "--pred", pred, "--target", self.fresh, "--epsilon", 0.01)
        return {"score": e["sinkhorn_divergence"], "energy_distance": e["energy_distance"]}

    def baselines(self):
        return {}


def sqrtm_psd(s):
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def bw2(m1, s1, m2, s2):
    r2 = sqrtm_psd(s2)
    cross = sqrtm_psd(r2 @ s1 @ r2)
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(cross))


class Gauss:
    # 2000 iterations, not the default 5000, for the same reason.
    name, iterations, score_name = "gauss", 2000, "BW2-UVP % (d = 16)"
    d = 16

    def prepare(self):
        rng = np.random.default_rng(1234)
        d = self.d
        self.m = rng.normal(size=d)
        a = rng.normal(size=(d, d))
        self.s = a @ a.T / d + 0.1 * np.eye(d)
        data = np.random.default_rng(0)
        chol = np.linalg.cholesky(self.s)
        self.dir = WORK / "gauss"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.src = save(self.dir / "source.npy", data.normal(size=(10000, d)))
        self.tgt = save(self.dir / "target.npy", self.m + data.normal(size=(10000, d)) @ chol.T)
        self.xtest = save(self.dir / "xtest.npy", data.normal(size=(2000, d)))
        self.exact = self.m + data.normal(size=(2000, d)) @ chol.T
        self.n = {"train": 10000, "test": 2000, "dim": d}

    def uvp(self, y):
        y = np.asarray(y, dtype=np.float64)
        return 100 * bw2(y.mean(0), np.cov(y, rowvar=False), self.m, self.s) / (0.5 * np.trace(self.s))

    def fit_args(self):
        return ["--source", self.src, "--target", self.tgt, "--kind", "linear"]

    def score(self, model, seed):
        pred = self.dir / f"pred-{seed}.npy"
        run("transport", "--model", model, "--source", self.xtest, "--out", pred, "--seed", seed)
        return {"score": self.uvp(np.load(pred))}

    def baselines(self):
        return {"floor_2000_exact_samples": self.uvp(self.exact),
                "identity": self.uvp(np.load(self.xtest))}


TASKS = {t.name: t for t in (Kang, KangOOD, Snare, Spiral, Gauss)}


# ---------------------------------------------------------------- running


def done_keys():
    if not RESULTS.exists():
        return set()
    keys = set()
    for line in RESULTS.read_text().splitlines():
        r = json.loads(line)
        keys.add((r["task"], r["config"], r["seed"], r["iterations"]))
    return keys


def record(row):
    with open(RESULTS, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def fit_report_fields(rep):
    o = rep.get("orientation")
    return {"final_loss": rep.get("final_loss"), "ms_per_iteration": rep.get("ms_per_iteration"),
            "unconverged_batches": rep.get("unconverged_batches"),
            "log_domain_retries": rep.get("log_domain_retries"),
            "orientation_chosen": (o or {}).get("chosen") if isinstance(o, dict) else None}


def read_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    dt = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt[v["dtype"]]).reshape(v["shape"])
    return out, meta


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        b = np.ascontiguousarray(tensors[k], dtype=np.float32).tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    pathlib.Path(path).write_bytes(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def raw_model(model, dest):
    """The model of the run's raw (non-averaged) weights: an EMA only shadows training, so a
    fit with --ema gives the no-EMA fit's weights in checkpoint/velocity-state.safetensors
    (velocity-native.safetensors before issue 15; tensors weights.*) next to its EMA model.
    Written without a manifest (genot skips the check then)."""
    ck = model / "checkpoint"
    name = "velocity-state.safetensors" if (ck / "velocity-state.safetensors").exists() else "velocity-native.safetensors"
    state, _ = read_safetensors(ck / name)
    weights = {"velocity." + k[len("weights."):]: v for k, v in state.items() if k.startswith("weights.")}
    model_w, _ = read_safetensors(model / "model.safetensors")
    assert set(weights) == set(model_w), (sorted(weights)[:3], sorted(model_w)[:3])
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    cfg = json.loads((model / "config.json").read_text())
    (dest / "config.json").write_text(json.dumps(cfg))
    write_safetensors(dest / "model.safetensors", weights)
    return dest


def one(task, config, seed, keys):
    """One fit to half the iterations, continued to the full count. The default arm is run
    with --ema 0.999 and scored twice: its raw weights (the default, no EMA) and its EMA."""
    full, half = task.iterations, task.iterations // 2
    arms = ["default", "ema-0.999"] if config == "default" else [config]
    if all((task.name, a, seed, full) in keys for a in arms):
        return
    model = WORK / "models" / f"{task.name}-{config}-{seed}"
    raw = WORK / "models" / f"{task.name}-{config}-{seed}-raw"
    if model.exists():
        shutil.rmtree(model)
    flags = ["--ema", "0.999"] if config == "default" else CONFIGS[config]
    base = ["fit", *task.fit_args(), "--out", model, "--checkpoint-every", 0, "--seed", seed, *flags]

    def score_arms(its, seconds, rep):
        for arm in arms:
            if its == half and config != "default":
                continue  # only the default run's half-way models (raw and EMA) are arms
            m = model if arm != "default" or config != "default" else raw_model(model, raw)
            t = time.time()
            sc = task.score(m, seed)
            record({"task": task.name, "config": arm, "seed": seed, "iterations": its,
                    "fit_seconds": round(seconds, 1), "score_seconds": round(time.time() - t, 1),
                    "fit_flags": " ".join(map(str, flags)),
                    "weights": "raw weights of the --ema run" if m == raw else "model.safetensors",
                    **sc, **fit_report_fields(rep)})

    t = time.time()
    rep = run(*base, "--iterations", half)
    s_half = time.time() - t
    score_arms(half, s_half, rep)
    t = time.time()
    rep = run(*base, "--iterations", full, "--resume")
    score_arms(full, s_half + time.time() - t, rep)
    shutil.rmtree(model)
    shutil.rmtree(raw, ignore_errors=True)


def check_resume(task, n=200):
    """The two shortcuts above: a fresh fit to n iterations without EMA against a fit with
    --ema 0.999 to n / 2 continued with --resume to n, its raw weights (raw_model)."""
    plain, ema = WORK / "models" / "check-plain", WORK / "models" / "check-ema"
    for m in (plain, ema):
        if m.exists():
            shutil.rmtree(m)
    base = ["fit", *task.fit_args(), "--checkpoint-every", 0, "--seed", 0]
    run(*base, "--out", plain, "--iterations", n)
    run(*base, "--out", ema, "--iterations", n // 2, "--ema", "0.999")
    run(*base, "--out", ema, "--iterations", n, "--ema", "0.999", "--resume")
    a, _ = read_safetensors(plain / "model.safetensors")
    b, _ = read_safetensors(raw_model(ema, WORK / "models" / "check-raw") / "model.safetensors")
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    print(json.dumps({"task": task.name, "iterations": n, "max_abs_weight_difference": diff}))


# ---------------------------------------------------------------- report


def report():
    rows = [json.loads(l) for l in RESULTS.read_text().splitlines()]
    for r in rows:
        if "error" in r:
            print(f"failed: {r['task']} {r['config']} seed {r['seed']}")
    rows = [r for r in rows if "score" in r]
    base = json.loads((WORK / "baselines.json").read_text()) if (WORK / "baselines.json").exists() else {}
    out = []
    variants = [(c, None) for c in CONFIGS] + [("default", "half"), ("ema-0.999", "half")]
    summary = {}
    for name, cls in TASKS.items():
        trs = [r for r in rows if r["task"] == name]
        if not trs:
            continue
        full = cls.iterations
        out.append(f"\n### {name}: {cls.score_name}, lower is better\n")
        if base.get(name):
            out.append("Baselines: " + ", ".join(f"{k} {v:.4g}" for k, v in base[name].items() if k != "n") + "\n")
        seeds = sorted({r["seed"] for r in trs})
        out.append("| setting | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | sd | fit s (mean) |")
        out.append("|---" * (len(seeds) + 4) + "|")
        summary[name] = {}
        for c, it in variants:
            its = full // 2 if it == "half" else full
            sel = {r["seed"]: r for r in trs if r["config"] == c and r["iterations"] == its}
            if not sel:
                continue
            label = (f"iterations {its}" if c == "default" else f"{c}, iterations {its}") if it == "half" \
                else (c if c != "default" else f"default ({full} it)")
            vals = [sel[s]["score"] for s in seeds if s in sel]
            cells = [f"{sel[s]['score']:.4g}" if s in sel else "-" for s in seeds]
            mean, sd = float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")
            fs = np.mean([sel[s]["fit_seconds"] for s in sel])
            out.append(f"| {label} | " + " | ".join(cells) + f" | {mean:.4g} | {sd:.2g} | {fs:.0f} |")
            summary[name][label if it == "half" else c] = {"mean": mean, "sd": sd, "n": len(vals)}
    # Factor by factor: the best level on each task, and its gap to the default in units of
    # the standard error of that difference (seed to seed, 3 seeds an arm).
    factors = {"normalize": ["default", "norm-isotropic", "norm-none"], "ema": ["default", "ema-0.999"],
               "lr": ["default", "lr-3e-4", "lr-1e-3"], "iterations": ["default", "half"]}
    out.append("\n### Factor summary (best level per task; gap = best mean - default mean, "
               "in units of its seed standard error)\n")
    out.append("| factor | " + " | ".join(summary) + " |")
    out.append("|---" * (len(summary) + 1) + "|")
    for f, levels in factors.items():
        cells = []
        for task, arms in summary.items():
            key = {k: k for k in arms}
            key.update({k: k for k in arms if k.startswith("iterations")})
            lv = [l if l != "half" else next((k for k in arms if k.startswith("iterations")), None) for l in levels]
            have = [l for l in lv if l in arms]
            if len(have) < 2 or "default" not in have:
                cells.append("-")
                continue
            best = min(have, key=lambda l: arms[l]["mean"])
            d, b = arms["default"], arms[best]
            se = float(np.sqrt(d["sd"] ** 2 / d["n"] + b["sd"] ** 2 / b["n"]))
            gap = b["mean"] - d["mean"]
            tested = "/".join(l for l in have)
            cells.append(f"{best} ({gap:+.3g}, {gap / se:+.1f} se; of {tested})" if best != "default"
                         else f"default (of {tested})")
        out.append(f"| {f} | " + " | ".join(cells) + " |")
    print("\n".join(out))
    (WORK / "summary.json").write_text(json.dumps(summary, indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="kang,snare,gw,gauss")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--iterations", type=int, default=None,
                   help="override the task's iteration count (the half-way score is kept too; "
                        "--report tables the tasks' own counts only)")
    p.add_argument("--report", action="store_true")
    p.add_argument("--check-resume", action="store_true")
    a = p.parse_args()
    if a.report:
        return report()
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "models").mkdir(exist_ok=True)
    tasks = [TASKS[t]() for t in a.tasks.split(",")]
    for t in tasks:
        if a.iterations:
            t.iterations = a.iterations
    bpath = WORK / "baselines.json"
    base = json.loads(bpath.read_text()) if bpath.exists() else {}
    for t in tasks:
        t.prepare()
        if t.name not in base:
            base[t.name] = {**t.baselines(), "n": t.n}
            bpath.write_text(json.dumps(base, indent=1))
    if a.check_resume:
        for t in tasks:
            check_resume(t)
        return
    keys = done_keys()
    for seed in a.seeds:
        for t in tasks:
            for c in a.configs.split(","):
                try:
                    one(t, c, seed, keys)
                except RuntimeError as e:
                    print(f"FAILED {t.name} {c} seed {seed}: {e}", flush=True)
                    record({"task": t.name, "config": c, "seed": seed, "iterations": -1, "error": str(e)[-2000:]})


if __name__ == "__main__":
    main()
