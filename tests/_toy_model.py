r"""A conjugate toy model that follows the model contract, for testing the engine.

d_i ~ Normal(mu, s) with s known (data), mu ~ Normal(m0, s0) (prior values). The
posterior of mu is Normal(m_n, s_n) with 1/s_n^2 = 1/s0^2 + W/s^2 and
m_n = s_n^2 (m0/s0^2 + sum_i w_i d_i / s^2), W = sum_i w_i: a closed form to test
the sampler path against. Lives in tests/, not in milkbayes.models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NAME = "toy_normal"
LIKELIHOODS = ("normal",)
EFFECT = "effect"


@dataclass(frozen=True)
class ToyInputs:
    data: dict
    coords: dict
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ToyPrior:
    name: str
    values: dict
    kind: str = "volume"
    source: str = "named"


def inputs(study, likelihood="normal", noise_sd: float = 4.0) -> ToyInputs:
    change = np.asarray(study.change, dtype=float)
    return ToyInputs(
        data={
            "change": change,
            "mother_weight": np.ones_like(change),
            "noise_sd": np.asarray(noise_sd),
        },
        coords={"mother": list(study.ids)},
    )


def build(inputs, prior, likelihood="normal"):
    import pymc as pm

    with pm.Model(coords=inputs.coords) as model:
        change = pm.Data("change", inputs.data["change"], dims="mother")
        weight = pm.Data("mother_weight", inputs.data["mother_weight"], dims="mother")
        noise_sd = pm.Data("noise_sd", inputs.data["noise_sd"])
        loc = pm.Data("prior_mu_loc", float(prior.values["mu_loc"]))
        scale = pm.Data("prior_mu_scale", float(prior.values["mu_scale"]))
        effect = pm.Normal(EFFECT, mu=loc, sigma=scale)
        observed = pm.Normal(
            "change_obs", mu=effect, sigma=noise_sd, observed=change, dims="mother"
        )
        pm.Potential("weights", ((weight - 1.0) * pm.logp(observed, change)).sum())
    return model


def extra_summary(posterior, inputs, prior) -> dict:
    mean, sd = conjugate_posterior(inputs, prior)
    return {"closed_form_mean": mean, "closed_form_sd": sd}


def conjugate_posterior(inputs, prior) -> tuple[float, float]:
    """Closed-form posterior mean and sd of mu (see the module docstring)."""
    d = np.asarray(inputs.data["change"], dtype=float)
    w = np.asarray(inputs.data["mother_weight"], dtype=float)
    s = float(inputs.data["noise_sd"])
    m0, s0 = float(prior.values["mu_loc"]), float(prior.values["mu_scale"])
    precision = 1.0 / s0**2 + w.sum() / s**2
    mean = (m0 / s0**2 + (w * d).sum() / s**2) / precision
    return float(mean), float(np.sqrt(1.0 / precision))
