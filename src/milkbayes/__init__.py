"""milkbayes: reproduce, then properly reanalyse, a small pre/post intervention study.

The bundled case is the one-group oxytocin-massage study of 24 working mothers
(Erwhani et al.); its raw data were never published, so the bundled datasets are
reconstructions that honour every published number (see :mod:`milkbayes.published`
and :mod:`milkbayes.datasets`).
"""


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed metadata when first asked for.

    Importing :mod:`importlib.metadata` costs about 40 ms, a tenth of a short command
    such as ``milkbayes wilcoxon``, which never prints the version.
    """
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("milkbayes")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        value = "0+unknown"
    globals()["__version__"] = value
    return value


RECONSTRUCTED_WARNING = (
    "RECONSTRUCTED DATA: the study's raw data were never published. These numbers "
    "come from a dataset reconstructed to match every published figure; they are "
    "not the study's measurements."
)
"""The banner every output made from reconstructed data carries."""
