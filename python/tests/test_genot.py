"""GENOT from Python: training, transport, files, reproducibility, progress, GIL, Ctrl-C."""

import inspect
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import genot
from genot import _genot
from conftest import SMALL, cloud


@pytest.fixture(scope="module")
def shifted():
    """A model of x -> x + 4 (first feature), trained once for the module."""
    x = cloud(256, 2)
    y = cloud(256, 2, shift=4.0, seed=1)
    model = genot.GENOT(**SMALL, seed=0).fit(x, y, iterations=400, progress=False)
    return x, y, model


def test_python_defaults_are_the_rust_defaults():
    rust = json.loads(_genot.default_settings())
    init = {k: p.default for k, p in inspect.signature(genot.GENOT.__init__).parameters.items() if k != "self"}
    fit = inspect.signature(genot.GENOT.fit).parameters
    init.update({k: fit[k].default for k in genot.FIT_ARGUMENTS})
    assert init == rust


def test_python_transport_defaults_are_the_rust_defaults():
    rust = json.loads(_genot.default_transport_settings())
    sig = inspect.signature(genot.GENOT.transport).parameters
    py = {k: sig[k].default for k in ("solver", "steps", "rtol", "atol", "seed")}
    py["samples"] = sig["n_samples"].default
    assert py == rust
    choices = json.loads(_genot.setting_choices())
    assert genot.SOLVERS == tuple(choices["solver"]) and "rk4" in genot.SOLVERS
    assert choices["normalize"] == ["per-feature", "isotropic", "none"]


def test_fit_learns_the_shift_and_transport_shapes(shifted):
    x, _, model = shifted
    one = model.transport(x[:50])
    assert one.shape == (50, 2) and one.dtype == np.float32
    many, mean = model.transport(x[:50], n_samples=6, return_mean=True)
    assert many.shape == (50, 6, 2) and mean.shape == (50, 2)
    np.testing.assert_allclose(mean, many.mean(axis=1), rtol=1e-5, atol=1e-5)
    shift = (mean - x[:50]).mean(axis=0)
    assert abs(shift[0] - 4.0) < 0.5 and abs(shift[1]) < 0.5, shift
    assert model.losses.shape == (400,)
    assert model.n_parameters > 0


def test_float64_and_list_input_give_the_same_samples(shifted):
    x, _, model = shifted
    a = model.transport(x[:20], seed=3)
    b = model.transport(x[:20].astype(np.float64), seed=3)
    c = model.transport(x[:20].tolist(), seed=3)
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_same_seed_same_model_other_seed_differs():
    x, y = cloud(128, 2), cloud(128, 2, shift=2.0, seed=1)
    runs = [genot.GENOT(**SMALL, seed=s).fit(x, y, iterations=60, progress=False) for s in (5, 5, 6)]
    out = [m.transport(x[:10], seed=0) for m in runs]
    assert np.array_equal(runs[0].losses, runs[1].losses)
    assert np.array_equal(out[0], out[1])
    assert not np.array_equal(out[0], out[2])
    # transport's own seed draws other latents
    assert not np.array_equal(out[0], runs[0].transport(x[:10], seed=1))


def test_save_then_load_predicts_the_same(shifted, tmp_path):
    x, _, model = shifted
    model.save(tmp_path / "m")
    assert sorted(os.listdir(tmp_path / "m")) == ["config.json", "history.json", "manifest.json", "model.safetensors"]
    loaded = genot.GENOT.load(tmp_path / "m")
    assert np.array_equal(loaded.transport(x, seed=2), model.transport(x, seed=2))
    assert np.array_equal(loaded.losses, model.losses)
    assert loaded.settings == dict(model.settings, epsilon=0.1)  # the default, resolved
    assert loaded.config["format_version"] == 1 and loaded.config["target_dim"] == 2


def test_normalize_is_recorded_and_survives_save_load(tmp_path):
    x, y = cloud(64, 2), cloud(64, 2, shift=3.0, seed=1)
    model = genot.GENOT(**SMALL, normalize="isotropic").fit(x, y, iterations=3, batch_size=32, progress=False)
    norm = model.config["normalization"]
    assert model.config["training"]["normalize"] == "isotropic"
    assert norm["target_std"][0] == norm["target_std"][1]
    model.save(tmp_path / "m")
    assert genot.GENOT.load(tmp_path / "m").settings["normalize"] == "isotropic"
    with pytest.raises(ValueError, match="normalize"):
        genot.GENOT(normalize="unit")


def test_solvers_agree(shifted):
    x, _, model = shifted
    ref = model.transport(x[:30], solver="dopri5", rtol=1e-6, atol=1e-6)
    tsit5 = model.transport(x[:30], solver="tsit5", rtol=1e-6, atol=1e-6)
    assert np.abs(tsit5 - ref).max() < 1e-3
    for solver in ("euler", "midpoint", "rk4"):
        y = model.transport(x[:30], solver=solver, steps=50)
        assert np.abs(y - ref).max() < 0.1, solver


def test_unbalanced_returns_eta():
    x, y = cloud(200, 2), cloud(200, 2, shift=1.0, seed=1)
    model = genot.GENOT(**SMALL, tau_a=0.9, tau_b=0.9).fit(x, y, iterations=80, progress=False)
    samples, eta = model.transport(x[:10], return_weights=True)
    assert samples.shape == (10, 2) and eta.shape == (10,) and np.all(eta > 0)
    assert model.is_unbalanced


def test_conditions_are_learned():
    x = cloud(300, 2)
    labels = np.array(["up", "down"] * 150)
    y = x.copy()
    y[labels == "up", 0] += 3.0
    y[labels == "down", 0] -= 3.0
    model = genot.GENOT(**SMALL).fit(x, y, source_conditions=labels, target_conditions=list(labels),
                                     iterations=600, progress=False)
    up = model.transport(x[:40], conditions=["up"] * 40)
    down = model.transport(x[:40], conditions=["down"] * 40)
    assert (up - x[:40])[:, 0].mean() > 2.0
    assert (down - x[:40])[:, 0].mean() < -2.0
    with pytest.raises(ValueError, match="sideways"):
        model.transport(x[:2], conditions=["sideways", "up"])
    with pytest.raises(ValueError, match="conditions"):
        model.transport(x[:2], conditions=["up"])


def test_quadratic_maps_across_dimensions():
    x, y = cloud(128, 2), cloud(128, 3, seed=1)
    model = genot.GENOT("quadratic", **SMALL).fit(x, y, iterations=40, batch_size=64, progress=False)
    assert model.transport(x[:7]).shape == (7, 3)


def test_fused_needs_the_shared_features():
    x, y = cloud(128, 3), cloud(128, 4, seed=1)
    xs, ys = cloud(128, 1, seed=2), cloud(128, 1, seed=3)
    model = genot.GENOT("fused", **SMALL).fit(x, y, source_shared=xs, target_shared=ys, iterations=30,
                                              batch_size=64, progress=False)
    assert model.transport(x[:5], source_shared=xs[:5]).shape == (5, 5)
    with pytest.raises(ValueError, match="shared features"):
        model.transport(x[:5])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m, x: m.fit(np.array([["a", "b"]] * 4), x), TypeError, "real numbers"),
        (lambda m, x: m.fit(x[:, 0], x), ValueError, "2-D"),
        (lambda m, x: m.fit(np.where(np.arange(10)[:, None] == 7, np.nan, x), x), ValueError, "row 7, column 0"),
        (lambda m, x: m.fit(x, x, source_conditions=[1] * 3, target_conditions=[1] * 10), ValueError, "3 labels for 10 rows"),
        (lambda m, x: m.fit(x, x, source_conditions=[1] * 10), ValueError, "together"),
        (lambda m, x: m.fit(x, x[:, :1]), ValueError, "quadratic"),
        (lambda m, x: m.fit(x, x, iterations=0), ValueError, "iterations"),
        (lambda m, x: m.fit(x, x, progress="yes"), TypeError, "progress"),
        (lambda m, x: m.transport(x), ValueError, "not fitted"),
        (lambda m, x: genot.GENOT(kind="cubic"), ValueError, "kind"),
        (lambda m, x: genot.GENOT(lr="fast"), TypeError, "lr"),
        (lambda m, x: genot.GENOT(hidden=2.5), TypeError, "hidden"),
        (lambda m, x: genot.GENOT(tau_a=1.5).fit(x, x), ValueError, "tau_a"),
        (lambda m, x: genot.GENOT(cost="manhattan").fit(x, x), ValueError, "manhattan"),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, message):
    x = cloud(10, 2)
    with pytest.raises(error, match=message):
        call(genot.GENOT(**SMALL), x)


def test_transport_checks_its_input(shifted):
    x, _, model = shifted
    with pytest.raises(ValueError, match="3 features but the model was trained on 2"):
        model.transport(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="solver"):
        model.transport(x[:2], solver="leapfrog")
    with pytest.raises(ValueError, match="n_samples"):
        model.transport(x[:2], n_samples=0)
    with pytest.raises(ValueError, match="balanced"):
        model.transport(x[:2], return_weights=True)
    # One sample has no spread: asking for its uncertainty is an error, as in the CLI.
    with pytest.raises(ValueError, match="at least 2 samples per point, got 1"):
        model.transport(x[:2], return_uncertainty=True)
    _, u = model.transport(x[:2], n_samples=3, return_uncertainty=True)
    assert u.shape == (2,) and (u >= 0).all()


def test_settings_are_checked_when_the_model_is_made():
    """The constructor runs the Rust settings check that `genot fit` runs on its flags, so
    a bad value fails at once, with the CLI's message, not at the first fit."""
    with pytest.raises(ValueError, match="tau_a must be in"):
        genot.GENOT(tau_a=2.0)
    with pytest.raises(ValueError, match="sinkhorn_threshold"):
        genot.GENOT(sinkhorn_threshold=float("nan"))
    with pytest.raises(ValueError, match="ema decay must be in"):
        genot.GENOT(ema=1.0)


def test_the_public_namespace_is_clean():
    assert dir(genot) == sorted(genot.__all__)
    assert "np" not in dir(genot) and "json" not in dir(genot)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        genot.GENOT.load(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(OSError, match="config.json"):
        genot.GENOT.load(tmp_path / "bad")


def test_progress_callback_and_its_exceptions():
    x, y = cloud(64, 2), cloud(64, 2, shift=1.0, seed=1)
    seen = []
    genot.GENOT(**SMALL).fit(x, y, iterations=50, batch_size=32, progress=lambda i, n, loss: seen.append((i, n, loss)))
    assert seen and seen[-1][:2] == (50, 50) and all(np.isfinite(s[2]) for s in seen)
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)

    def boom(i, n, loss):
        raise RuntimeError("stop here")

    model = genot.GENOT(**SMALL)
    with pytest.raises(RuntimeError, match="stop here"):
        model.fit(x, y, iterations=100_000, batch_size=32, progress=boom)
    assert not model.is_fitted


def test_the_gil_is_released_while_transporting(shifted):
    x, _, model = shifted
    big = np.repeat(x, 40, axis=0)
    done = threading.Event()
    thread = threading.Thread(target=lambda: (model.transport(big, solver="rk4", steps=200), done.set()))
    ticks = 0
    thread.start()
    started = time.monotonic()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.monotonic() - started
    thread.join()
    assert elapsed > 0.2, "transport too fast to tell"
    # With the GIL held, this loop could not run at all while Rust integrates.
    assert ticks > 0.2 * elapsed / 0.001 * 0.1, (ticks, elapsed)


CTRL_C = """
import faulthandler, signal, sys, numpy as np, genot
# A shell that starts a job in the background without job control (`cmd &` in a script)
# makes it ignore SIGINT, and Python then installs no KeyboardInterrupt handler: restore
# Python's own, which is what a user at a terminal has.
signal.signal(signal.SIGINT, signal.default_int_handler)
# If the interrupt is ever missed, print where every thread is and exit, rather than hang
# until the test's timeout.
faulthandler.dump_traceback_later(45, exit=True)
x = np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32)
m = genot.GENOT(hidden=32, layers=2, time_frequencies=8)
print("started", flush=True)
try:
    m.fit(x, x + 1, iterations=10**7, checkpoint_dir=sys.argv[1], checkpoint_every=0, progress=False)
except KeyboardInterrupt:
    print("interrupted", m.is_fitted, flush=True)
    sys.exit(0)
sys.exit(3)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_stops_training_and_leaves_a_checkpoint(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "interrupted False" in out
    assert time.monotonic() - sent < 10
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["iteration"] > 0
    # and training continues from it
    x = np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32)
    resumed = genot.GENOT(hidden=32, layers=2, time_frequencies=8).fit(
        x, x + 1, iterations=state["iteration"] + 5, checkpoint_dir=tmp_path, checkpoint_every=0,
        resume=True, progress=False)
    assert len(resumed.losses) == state["iteration"] + 5


def test_progress_bar_without_tqdm_prints_every_tenth(monkeypatch, capsys):
    import builtins

    from genot import _progress

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    update, close = _progress.progress_bar(100)
    for i in range(1, 101):
        update(i, 100, 1.0 / i)
    close()
    lines = capsys.readouterr().err.strip().splitlines()  # stderr is not a terminal here
    assert len(lines) == 10 and lines[-1].startswith("fit: iteration 100/100 (100%), loss 0.0100, ")
    assert "it/s" in lines[0] and "ETA" in lines[0] and "ETA" not in lines[-1]


def test_a_large_ot_batch_is_solved_once_per_run_of_iterations():
    # Every solve stops short, so unconverged_batches lists the iterations that solved.
    x, y = cloud(256, 2), cloud(256, 2, shift=4.0, seed=1)
    model = genot.GENOT(**SMALL, epsilon=1e-3, sinkhorn_max_iterations=3, seed=0)
    with pytest.warns(RuntimeWarning):
        model.fit(x, y, iterations=8, batch_size=64, ot_batch_size=128, progress=False)
    assert model.unconverged_batches == [1, 3, 5, 7]
    with pytest.warns(RuntimeWarning):
        model.fit(x, y, iterations=4, batch_size=64, ot_batch_size=128, ot_plan_reuse=1, progress=False)
    assert model.unconverged_batches == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="ot_plan_reuse"):
        model.fit(x, y, iterations=4, batch_size=64, ot_plan_reuse=0, progress=False)


def test_a_cosine_learning_rate_schedule_trains_and_a_bogus_one_is_refused(tmp_path):
    x, y = cloud(128, 2), cloud(128, 2, shift=4.0, seed=1)
    model = genot.GENOT(**SMALL, lr_schedule="cosine", seed=0)
    model.fit(x, y, iterations=4, batch_size=64, progress=False)
    assert model.config["training"]["lr_schedule"] == "cosine"
    model.save(tmp_path / "m")
    assert genot.GENOT.load(tmp_path / "m").settings["lr_schedule"] == "cosine"
    with pytest.raises(ValueError, match="lr_schedule"):
        genot.GENOT(**SMALL, lr_schedule="linear")


def test_an_unconverged_batch_coupling_warns_once_and_trains_on():
    x, y = cloud(128, 2), cloud(128, 2, shift=4.0, seed=1)
    model = genot.GENOT(**SMALL, epsilon=1e-3, sinkhorn_max_iterations=3, seed=0)
    with pytest.warns(RuntimeWarning, match="stopped at its iteration limit") as caught:
        model.fit(x, y, iterations=8, batch_size=64, ot_batch_size=64, progress=False)
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert model.unconverged_batches == list(range(1, 9))
    assert model.losses.shape == (8,)
    with pytest.raises(ValueError, match="sinkhorn_max_iterations"):
        genot.GENOT(sinkhorn_max_iterations=0)
