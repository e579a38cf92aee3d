"""The README's runnable blocks run as written (issue 17 item 5): the AnnData command
block on the shipped examples/data/pbmc.h5ad, through the `genot` CLI, and the Python block
on examples/data/*.npy. Only what would take minutes is shortened (the fit's iterations),
and each block runs in a fresh folder from the repository's paths."""

import re
import shlex
import subprocess

import numpy as np
import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def commands(block):
    """The block's commands, with backslash continuations joined."""
    return [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip() and not c.lstrip().startswith("#")]


def test_the_anndata_command_block_runs_on_the_shipped_file(genot_cli, tmp_path):
    ad = pytest.importorskip("anndata")
    block = next(b for b in blocks("bash") if "examples/data/pbmc.h5ad" in b)
    cmds = commands(block)
    assert [c.split()[1] for c in cmds] == ["fit", "transport"], cmds
    for c in cmds:
        argv = shlex.split(c.replace("examples/data/", f"{ROOT}/examples/data/"))
        assert argv[0] == "genot"
        argv[0] = str(genot_cli)
        if argv[1] == "fit":
            argv += ["--iterations", "30", "--hidden", "32"]  # the README's defaults take minutes
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, f"{c}\n{r.stderr}"
    out = ad.read_h5ad(tmp_path / "pbmc_genot.h5ad")
    assert out.obsm["X_genot"].shape == (240, 10)
    assert out.obsm["X_genot_samples"].shape == (240, 10, 10)
    assert "X_genot_uncertainty" in out.obs


def test_the_python_block_runs(tmp_path, monkeypatch):
    (block,) = blocks("python")
    code = block.replace('"examples/data/', f'"{ROOT}/examples/data/')
    code = code.replace("iterations=1000", "iterations=200")
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(code, "README.md (python block)", "exec"), scope)
    assert scope["samples"].shape == (10, 8, 2) and scope["mean"].shape == (10, 2)
    assert (tmp_path / "my-model" / "config.json").exists()
    assert np.isfinite(scope["g"].gw_cost)
