"""What ``python models/NAME.py`` runs: fit one model to a study and print its summary.

Each model script's ``main()`` hands over to :func:`run_model_script`, so a model run
on its own goes through the same engine (compile cache, diagnostics, summary) as the
library and the CLI: there is one fitting path.

The defaults are those of :func:`milkbayes.engine.fit.fit` (4 chains of 1000 draws,
or the model's ``DRAWS``, after 1000 tuning steps): a script run on its own is a real
fit, and its convergence diagnostics are printed and decide the exit status.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from milkbayes.errors import EXIT_DIAGNOSTICS_FAILED, EXIT_USER_ERROR, MilkbayesError


def script_parser(model_module: ModuleType) -> argparse.ArgumentParser:
    """The command-line options of a model script."""
    from milkbayes.engine.fit import DEFAULT_DRAWS, DEFAULT_SEED, DEFAULT_TARGET_ACCEPT

    parser = argparse.ArgumentParser(
        prog=f"models/{model_module.NAME}.py",
        description=(model_module.__doc__ or "").strip().splitlines()[0],
        epilog="Fits the bundled (reconstructed) data unless --data is given.",
    )
    parser.add_argument("--data", help="CSV file of the study (default: bundled data)")
    parser.add_argument(
        "--scenario",
        default="volume_ml",
        help="bundled scenario when --data is absent (default: volume_ml)",
    )
    parser.add_argument(
        "--prior", default="neutral", help="prior set name or TOML file (default: neutral)"
    )
    parser.add_argument(
        "--likelihood",
        choices=model_module.LIKELIHOODS,
        default=None,
        help=f"default: {model_module.LIKELIHOODS[0]}",
    )
    draws = getattr(model_module, "DRAWS", DEFAULT_DRAWS)
    parser.add_argument(
        "--draws", type=int, default=None, help=f"draws per chain (default: {draws})"
    )
    parser.add_argument(
        "--tune", type=int, default=1000, help="tuning steps per chain (default: 1000)"
    )
    parser.add_argument("--chains", type=int, default=4, help="chains (default: 4)")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"sampler seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--target-accept",
        type=float,
        default=None,
        help=(
            "step-size adaptation target in (0, 1) "
            f"(default: {getattr(model_module, 'TARGET_ACCEPT', DEFAULT_TARGET_ACCEPT)})"
        ),
    )
    return parser


def run_model_script(model_module: ModuleType, argv: list[str] | None = None) -> int:
    """Fit ``model_module`` as its script's command line asks and print the summary.

    Returns the exit status: 0, 2 for a user error, 3 when a convergence check fails.
    """
    args = script_parser(model_module).parse_args(argv)
    try:
        return _run(model_module, args)
    except MilkbayesError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR


def _load_study(args: argparse.Namespace):
    if args.data:
        from milkbayes.data import load_study

        return load_study(args.data)
    from milkbayes.datasets import load_bundled

    return load_bundled(args.scenario)


def _run(model_module: ModuleType, args: argparse.Namespace) -> int:
    from milkbayes import RECONSTRUCTED_WARNING
    from milkbayes.engine.fit import fit

    study = _load_study(args)
    if study.reconstructed:
        print(RECONSTRUCTED_WARNING)
    result = fit(
        model_module.NAME,
        study,
        prior=args.prior,
        likelihood=args.likelihood,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        seed=args.seed,
        target_accept=args.target_accept,
    )
    for row in result.diagnostics.rows:
        print(f"diagnostic {row.check}: {row.status} ({row.detail})")
    for key, value in result.summary.items():
        print(f"{key}: {value}")
    if not result.diagnostics.ok:
        print("error: a convergence check failed:", file=sys.stderr)
        settings = result.settings
        for remedy in result.diagnostics.remedies(
            draws=settings.draws, tune=settings.tune, target_accept=settings.target_accept
        ):
            print(f"  - {remedy}", file=sys.stderr)
        return EXIT_DIAGNOSTICS_FAILED
    return 0
