"""scGEM reprogramming: methylation -> expression with GENOT-Q and GENOT-F (protocol in
../cross_modality.py). Run after `bash setup.sh`:
    .venv/bin/python examples/scgem_reprogramming/run.py"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from cross_modality import main  # noqa: E402

main("scgem_reprogramming", "methylation.npy", "expression.npy", "stage_name", pathlib.Path(__file__).parent)
