"""The documented examples run: the docstrings' doctests and the README's Python block."""

import doctest
import os
import re

import pytest

import genot
import genot.metrics
import genot.ot
from conftest import ROOT


@pytest.mark.parametrize("module", [genot, genot.ot, genot.metrics])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_readme_python_block(tmp_path):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "the README has no Python example"
    code = blocks[0].replace('"examples/data/', f'"{ROOT}/examples/data/')
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert (tmp_path / "my-model" / "model.safetensors").exists()
