"""SNARE-seq cell-line mixture: ATAC -> RNA with GENOT-Q and GENOT-F (protocol in
../cross_modality.py).
Run from anywhere after `bash setup.sh`:  .venv/bin/python examples/snareseq_cellmix/run.py"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from cross_modality import main  # noqa: E402

main("snareseq_cellmix", "atac19.npy", "rna10.npy", "cell_line", pathlib.Path(__file__).parent)
