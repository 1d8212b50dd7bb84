"""Smoke test of ``benchmarks/run_all.py --smoke`` and checks of its helpers.

The smoke run checks the machinery (fresh worker processes, the table, the JSON
record, the ratio collection); it asserts no speed target, because speed on a shared
2-core machine is not a testable property.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())


def test_smoke_prints_the_table_and_the_summary(smoke):
    stdout, _ = smoke
    assert "ESS/s eff" in stdout and "peak MB" in stdout
    assert "n = 24" in stdout
    assert "=== targets ===" in stdout
    assert "RATIO n24_milkbayes_over_pymc_ess_per_s_effect" in stdout


def test_smoke_record_has_the_machine_and_the_load(smoke):
    _, record = smoke
    assert record["smoke"] is True
    for key in ("command", "started_utc", "finished_utc", "seconds", "targets"):
        assert key in record
    assert len(record["load_average"]["before"]) == 3
    assert len(record["load_average"]["after"]) == 3
    m = record["machine"]
    assert m["nproc"] >= 1 and m["ram_gb"] > 0 and m["cpu_model"]
    assert m["python"].startswith("3.")
    assert m["packages"]["pymc"] and m["packages"]["nutpie"]


def test_smoke_fits_are_consistent(smoke):
    _, record = smoke
    result = record["samplers"]["result"]
    assert result["settings"]["chains"] == 1 and result["settings"]["draws"] == 50
    size = result["sizes"][0]
    assert size["n"] == 24
    fits = [f for f in size["fits"] if "error" not in f]
    assert {f["way"] for f in fits} >= {"milkbayes", "pymc"}
    for f in fits:
        assert f["n_draws"] == 50  # 1 chain x 50 kept draws
        # the ESS/s are the ESS over the sampling time, and the slowest is the minimum
        assert f["ess_per_s_effect"] == pytest.approx(f["ess_bulk_effect"] / f["sample_s"])
        if f["sampler_s"] is not None:  # and over the chains' time alone
            assert f["ess_per_s_effect_sampler"] == pytest.approx(
                f["ess_bulk_effect"] / f["sampler_s"]
            )
            assert 0 < f["sampler_s"] <= f["sample_s"]
        assert f["ess_bulk_min"] <= f["ess_bulk_effect"]
        assert f["total_s"] >= f["compile_s"] + f["sample_s"]
        assert f["peak_rss_mb"] > 50
    # the ratio printed is milkbayes's ESS/s over PyMC's, from the medians of the table,
    # per second of the chains alone on both sides (PyMC's sampling_time is that)
    ways = size["ways"]
    assert ways["pymc"]["sampler_s"] == ways["pymc"]["sample_s"]
    assert size["ratios"]["n24_milkbayes_over_pymc_ess_per_s_effect"] == pytest.approx(
        ways["milkbayes"]["ess_per_s_effect_sampler"] / ways["pymc"]["ess_per_s_effect_sampler"]
    )
    assert size["ratios"]["n24_milkbayes_whole_step_over_pymc_ess_per_s_effect"] == pytest.approx(
        ways["milkbayes"]["ess_per_s_effect"] / ways["pymc"]["ess_per_s_effect_sampler"]
    )
    assert record["samplers"]["ratios"][
        "n24_milkbayes_over_pymc_ess_per_s_effect"
    ] == pytest.approx(size["ratios"]["n24_milkbayes_over_pymc_ess_per_s_effect"], rel=1e-2)


def test_smoke_effect_is_near_the_mean_change(smoke):
    """With weak priors and centred covariates the effect is close to the mean rise."""
    from milkbayes.datasets import load_bundled

    study = load_bundled("volume_ml")
    mean_change = float(np.mean(study.table["post"] - study.table["pre"]))
    _, record = smoke
    for way in record["samplers"]["result"]["sizes"][0]["ways"].values():
        if "error" in way:
            continue
        assert abs(way["effect_mean"] - mean_change) < 3 * way["effect_sd"]


def test_agreement_check_uses_four_combined_mcse():
    bench = load("bench_samplers")
    a = {"effect_mean": 10.0, "effect_sd": 4.0, "effect_mcse_mean": 0.3, "effect_mcse_sd": 0.4}
    b = {"effect_mean": 11.9, "effect_sd": 4.0, "effect_mcse_mean": 0.4, "effect_mcse_sd": 0.3}
    check = bench.agree(a, b)
    # 4 * sqrt(0.3^2 + 0.4^2) = 4 * 0.5 = 2.0
    assert check["mean"]["bound"] == pytest.approx(2.0)
    assert check["mean"]["ok"] and check["ok"]
    b["effect_mean"] = 12.1
    assert not bench.agree(a, b)["ok"]


def test_stan_data_is_the_model_inputs_one_based():
    bench = load("bench_samplers")
    study = bench.make_study(24)
    inputs, prior, hyper = bench.model_inputs(study)
    data = bench.stan_data(inputs, hyper)
    assert data["N"] == 48 and data["M"] == 24
    assert min(data["mother_idx"]) == 1 and max(data["mother_idx"]) == 24
    assert data["K_occupation"] == len(inputs.coords["occupation_level"])
    # neutral priors for volumes are in ml (scale 1): the model's own values
    assert data["effect_sigma"] == pytest.approx(prior.values["effect_sigma"])
    assert data["sigma_sigma"] == pytest.approx(prior.values["sigma"])


def test_synthetic_study_has_n_mothers_and_every_covariate():
    bench = load("bench_samplers")
    study = bench.make_study(300)
    assert study.n == 300 and study.reconstructed
    inputs, _, _ = bench.model_inputs(study)  # raises if a covariate was skipped
    assert inputs.data["y"].shape == (600,)


def test_parse_output_collects_ratio_and_target_lines():
    run_all = load("run_all")
    text = "RATIO a_over_b 6.5\nexact  0.2  <= 1 s  yes  12.0x faster\nnoise 3\n"
    parsed = run_all.parse_output(text)
    assert parsed["ratios"] == {"a_over_b": 6.5}
    assert parsed["ratio_lines"] == ["exact  0.2  <= 1 s  yes  12.0x faster"]
    assert parsed["target_lines"] == ["exact  0.2  <= 1 s  yes  12.0x faster"]


def random_points(model, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    start = model.initial_point()
    return [
        {name: value + rng.normal(0.0, 0.5, np.shape(value)) for name, value in start.items()}
        for _ in range(k)
    ]


def test_bare_ablation_has_the_flagship_log_density():
    """The ablation drops only terms that are zero (weights 1) or not densities."""
    from milkbayes.models import prepost_hierarchical

    bench = load("bench_samplers")
    inputs, prior, hyper = bench.model_inputs(bench.make_study(24))
    flagship = prepost_hierarchical.build(inputs, prior, "normal")
    bare = bench.bare_model(inputs, {k: v for k, v in hyper.items() if k != "nu_rate"})
    logp_flagship, logp_bare = flagship.compile_logp(), bare.compile_logp()
    for point in random_points(flagship, 3):
        assert logp_bare(point) == pytest.approx(logp_flagship(point), abs=1e-5)


def test_stan_twin_has_the_flagship_log_density(monkeypatch):
    """Stan drops constants in ``~``: compare log-density differences between points.

    Needs the Stan model compiled by a benchmark run (``make bench``); skipped
    otherwise, because compiling it takes minutes.
    """
    bench = load("bench_samplers")
    cache = Path(bench.parse([]).cache_root) / "stan" / "xdg"
    if bench.stan_available() is not None or not bench.stan_compiled(cache):
        pytest.skip("pystan or the compiled Stan model is not available")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    import stan

    from milkbayes.models import prepost_hierarchical

    inputs, prior, hyper = bench.model_inputs(bench.make_study(24))
    flagship = prepost_hierarchical.build(inputs, prior, "normal")
    bench.without_client_timeout()
    posterior = stan.build(bench.STAN_FILE.read_text(), data=bench.stan_data(inputs, hyper))
    logp = flagship.compile_logp(jacobian=True)
    order = [
        "mother_sd_log__",
        "mother_z",
        "effect",
        "modifier_work_duration",
        "modifier_parity",
        "sd_occupation_log__",
        "z_occupation",
        "sd_education_log__",
        "z_education",
        "sd_age_group_log__",
        "z_age_group",
        "intercept",
        "sigma_log__",
    ]
    points = random_points(flagship, 3, seed=1)
    pymc = [logp(p) for p in points]
    stan_values = [
        posterior.log_prob(
            np.concatenate([np.atleast_1d(p[k]) for k in order]).tolist(), adjust_transform=True
        )
        for p in points
    ]
    for k in (1, 2):
        assert stan_values[k] - stan_values[0] == pytest.approx(pymc[k] - pymc[0], abs=1e-6)


def test_compile_time_is_summed_from_a_pyinstrument_text(tmp_path):
    run_all = load("run_all")
    text = (
        "  Duration: 10.0   CPU time: 3\n"
        "|- 4.00 compile_pymc_model  nutpie/compile_pymc.py:523\n"
        "|  `- 3.00 numba_thing  numba/x.py:1\n"
        "`- 2.50 compile_pymc_model  nutpie/compile_pymc.py:523\n"
    )
    path = tmp_path / "profile.txt"
    path.write_text(text)
    assert run_all.compile_time_in_profile(path) == (6.5, 10.0)
    assert run_all.compile_time_in_profile(tmp_path / "missing.txt") == (None, None)


def test_agreement_pools_repetitions_as_independent_estimates():
    """Averaging k equal independent runs divides the MCSE by sqrt(k).

    The agreement check then compares the pooled means (simulated with known truth).
    """
    samplers = load("bench_samplers")
    rng = np.random.default_rng(5)
    runs = [
        {"effect_mean": m, "effect_sd": 1.0, "effect_mcse_mean": 0.02, "effect_mcse_sd": 0.01}
        for m in rng.normal(9.5, 0.02, size=4)
    ]
    pooled = samplers.pooled_effect(runs)
    assert pooled["effect_mean"] == pytest.approx(np.mean([r["effect_mean"] for r in runs]))
    assert pooled["effect_mcse_mean"] == pytest.approx(0.02 / 2)
    shifted = [{**r, "effect_mean": r["effect_mean"] + 0.2} for r in runs]
    assert samplers.agree(pooled, samplers.pooled_effect(runs))["ok"]
    assert not samplers.agree(pooled, samplers.pooled_effect(shifted))["ok"]
