"""milkbayes: reproduce, then properly reanalyse, a small pre/post intervention study.

The bundled case is the one-group oxytocin-massage study of 24 working mothers
(Erwhani et al.); its raw data were never published, so the bundled datasets are
reconstructions that honour every published number (see :mod:`milkbayes.published`
and :mod:`milkbayes.datasets`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("milkbayes")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

RECONSTRUCTED_WARNING = (
    "RECONSTRUCTED DATA: the study's raw data were never published. These numbers "
    "come from a dataset reconstructed to match every published figure; they are "
    "not the study's measurements."
)
"""The banner every output made from reconstructed data carries."""
