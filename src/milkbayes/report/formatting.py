"""How numbers and text appear in the report: the template filters.

The JSON summary keeps numbers as numbers; they are formatted only here. Every
formatter accepts what a summary may hold for a number: an ``int`` or ``float``,
``None`` or NaN for a value that could not be computed (shown as ``—``, never as a
silent "nan"), and an infinity either as a float or as the strings ``"inf"`` and
``"-inf"`` that :mod:`milkbayes.jsonio` writes for it, so that a report re-rendered
from ``summary.json`` reads as the first rendering did.

Examples
--------
>>> fmt_num(float("inf")) == fmt_num("inf")
True
>>> fmt_ci([1.234, None])
'[1.23, —]'
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "HIDDEN_SUMMARY_KEYS",
    "SUMMARY_LABELS",
    "fmt_summary_value",
    "sensitivity_sentence",
    "summary_rows",
    "fmt_bf",
    "fmt_check_value",
    "fmt_ci",
    "fmt_num",
    "fmt_p",
    "fmt_prob",
    "fmt_value",
    "md_cell",
    "md_escape",
]

_INFINITIES = {"inf": math.inf, "-inf": -math.inf}


def _number(x: Any) -> float | int | None:
    """``x`` as a number (``"inf"`` and ``"-inf"`` included), or None if it is none."""
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return x
    if isinstance(x, str) and x in _INFINITIES:
        return _INFINITIES[x]
    return None


def fmt_num(x: Any, digits: int = 2) -> str:
    """A number for the report; ``—`` for None or NaN, ``∞`` for an infinity.

    Parameters
    ----------
    x : number, str or None
        The value; text other than ``"inf"``/``"-inf"`` is shown as it is.
    digits : int
        Decimals.

    Returns
    -------
    str

    Examples
    --------
    >>> fmt_num(3.14159), fmt_num(None), fmt_num(float("nan")), fmt_num(12345.6, 1)
    ('3.14', '—', '—', '12345.6')
    >>> fmt_num("-inf"), fmt_num("n/a")
    ('−∞', 'n/a')
    """
    value = _number(x)
    if value is None:
        return "—" if x is None else str(x)
    if isinstance(value, float) and math.isnan(value):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}f}"


def fmt_ci(pair: Any, digits: int = 2) -> str:
    """An interval as ``[low, high]``; ``—`` for anything that is not a pair.

    Examples
    --------
    >>> fmt_ci([1.234, 5.0])
    '[1.23, 5.00]'
    >>> fmt_ci(None)
    '—'
    """
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        return "—"
    return f"[{fmt_num(pair[0], digits)}, {fmt_num(pair[1], digits)}]"


def fmt_level(ci_prob: Any) -> str:
    """An interval's probability as a percentage label (``0.8`` -> ``80 %``).

    The report's interval headings print the run's ``ci_prob`` through this, so a
    heading never claims 95 % for an interval computed at another level.

    Examples
    --------
    >>> fmt_level(0.8), fmt_level(0.95), fmt_level(0.975)
    ('80 %', '95 %', '97.5 %')
    """
    return f"{100 * float(ci_prob):.10g} %"


def fmt_prob(p: Any) -> str:
    """A probability: three decimals, with ``> 0.999`` / ``< 0.001`` at the ends.

    Examples
    --------
    >>> fmt_prob(0.5), fmt_prob(1.0), fmt_prob(0.0), fmt_prob(None)
    ('0.500', '> 0.999', '< 0.001', '—')
    """
    value = _number(p)
    if value is None or math.isnan(value):
        return "—"
    if value > 0.999:
        return "> 0.999"
    if value < 0.001:
        return "< 0.001"
    return f"{value:.3f}"


def fmt_p(p: Any) -> str:
    """An exact p-value, in scientific notation below .001.

    Examples
    --------
    >>> fmt_p(1.234e-05), fmt_p(0.0312), fmt_p(float("nan"))
    ('1.2e-05', '0.0312', '—')
    """
    value = _number(p)
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3g}"


def fmt_bf(bf: Any) -> str:
    r"""A Bayes factor; values of :math:`10^4` and more as powers of ten.

    Examples
    --------
    >>> fmt_bf(3.2), fmt_bf(2.5e7), fmt_bf(float("inf")), fmt_bf("inf")
    ('3.20', '2.5 × 10^7', '> 10^300', '> 10^300')
    """
    value = _number(bf)
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "> 10^300" if value > 0 else "—"
    if value >= 1e4:
        exponent = int(math.floor(math.log10(value)))
        return f"{value / 10**exponent:.1f} × 10^{exponent}"
    return f"{value:.2f}"


CHECK_DECIMALS = {"rhat": 3, "ess_bulk": 0, "ess_tail": 0, "divergences": 0, "ebfmi": 2}
"""Decimals of each convergence check's value: R-hat to its threshold's precision,
effective sample sizes and counts as whole numbers."""


def fmt_check_value(x: Any, check: str) -> str:
    """The value of a convergence-table row, with the decimals its check needs.

    Parameters
    ----------
    x : number or None
        The row's value.
    check : str
        The row's check (``rhat``, ``ess_bulk``, ...); others get three decimals.

    Returns
    -------
    str

    Examples
    --------
    >>> fmt_check_value(1.00333, "rhat"), fmt_check_value(1313.27, "ess_bulk")
    ('1.003', '1313')
    >>> fmt_check_value(0.0, "divergences"), fmt_check_value(0.42407, "ebfmi")
    ('0', '0.42')
    """
    return fmt_num(x, CHECK_DECIMALS.get(check, 3))


def fmt_value(x: Any, digits: int = 2) -> str:
    """Pairs as intervals, numbers as numbers, text as text.

    Examples
    --------
    >>> fmt_value([1, 2]), fmt_value(0.5), fmt_value("yes")
    ('[1.00, 2.00]', '0.50', 'yes')
    """
    if isinstance(x, (list, tuple)):
        return fmt_ci(x, digits)
    return fmt_num(x, digits)


def md_cell(text: Any) -> str:
    r"""A Markdown table cell: pipes escaped, newlines flattened.

    Examples
    --------
    >>> md_cell("a|b\nc")
    'a\\|b c'
    """
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_escape(value: Any) -> Any:
    r"""Escape what would let text become HTML, a link or an image inside Markdown.

    Every value the Markdown report prints passes through here, and some of them are
    the user's text (participant ids, file names, level labels). ``<``, ``>`` and ``&``
    cannot open a tag or an entity; a backslash before ``[`` or ``(`` in the
    sequences ``![``, ``](`` and ``][`` stops CommonMark from reading an image or a
    link (``![x](http://host/p.png)`` would fetch a remote image when the report is
    viewed; ``[x](javascript:...)`` would be a live link). The inserted backslash
    always follows ``!`` or ``]``, so no backslash of the text can cancel it, and
    backslashes are left alone (a table cell's ``\|`` must survive). Other text,
    intervals such as ``[7.29, 11.68]`` included, is unchanged. None becomes the
    empty string.

    Examples
    --------
    >>> md_escape("<b>it's</b> & more")
    "&lt;b&gt;it's&lt;/b&gt; &amp; more"
    >>> md_escape("![x](http://host/p.png)")
    '!\\[x]\\(http://host/p.png)'
    >>> md_escape("[7.29, 11.68]")
    '[7.29, 11.68]'
    """
    if value is None:
        return ""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("![", "!\\[").replace("](", "]\\(").replace("][", "]\\[")


# --------------------------------------------------------------------------- sensitivity
SUMMARY_LABELS: dict[str, tuple[str, str]] = {
    # key: (label, kind); kinds are the formats of :func:`fmt_summary_value`
    "model": ("model refitted", "text"),
    "likelihood": ("likelihood", "text"),
    "n_settings": ("prior settings refitted", "int"),
    "mcid": ("MCID (outcome units)", "num"),
    "effect_median_min": ("smallest posterior median of the effect", "num"),
    "effect_median_max": ("largest posterior median of the effect", "num"),
    "p_effect_gt_0_min": ("smallest P(effect > 0)", "prob"),
    "p_effect_gt_mcid_min": ("smallest P(effect > MCID)", "prob"),
    "p_effect_gt_mcid_max": ("largest P(effect > MCID)", "prob"),
    "bf_t_statistic": ("paired t statistic of the changes", "num"),
    "bf_n": ("pairs", "int"),
    "bf_log_bf10_default": ("BF10, JZS prior width r = 0.707 (default)", "ln_bf"),
    "bf_log_bf10_wide": ("BF10, JZS prior width r = 1 (wide)", "ln_bf"),
    "bf_log_bf10_ultrawide": ("BF10, JZS prior width r = 1.414 (ultrawide)", "ln_bf"),
    "bf_max_log_bf10": ("largest BF10 over the prior widths", "ln_bf"),
    "bf_r_at_max": ("prior width r of the largest BF10", "num"),
    "trend_mean": ("prior mean of the change without massage", "num"),
    "trend_sd": ("prior SD of that change", "num"),
    "trend_stage": ("stage of lactation of the natural trend", "text"),
    "natural_trend_mean": ("its natural-trend part: prior mean", "num"),
    "natural_trend_sd": ("its natural-trend part: prior SD", "num"),
    "rtm_mean": ("its regression-to-the-mean part: prior mean", "num"),
    "rtm_sd": ("its regression-to-the-mean part: prior SD", "num"),
    "rtm_if_selected": ("regression to the mean if enrolled for low output", "num"),
    "rtm_p_selected": ("assumed probability of that enrolment", "num"),
    "rtm_reliability": ("pre-post correlation corrected for that selection", "num"),
    "tipping_point_p_effect_gt_0": (
        "natural change at which P(effect > 0) falls below its threshold",
        "num",
    ),
    "tipping_point_p_effect_gt_mcid": (
        "natural change at which P(effect > MCID) falls below its threshold",
        "num",
    ),
    "prob_positive_threshold": ("threshold on P(effect > 0)", "p_bound"),
    "prob_mcid_threshold": ("threshold on P(effect > MCID)", "p_bound"),
    "naive_effect_median": ("effect median if nothing changes without massage", "num"),
    "naive_p_effect_gt_0": ("P(effect > 0) if nothing changes without massage", "prob"),
    "naive_p_effect_gt_mcid": ("P(effect > MCID) if nothing changes without massage", "prob"),
    "effect_median": ("effect median after the natural change", "num"),
    "effect_ci95_low": ("lower end of its 95 % interval", "num"),
    "effect_ci95_high": ("upper end of its 95 % interval", "num"),
    "p_effect_gt_0": ("P(effect > 0) after the natural change", "prob"),
    "p_effect_gt_mcid": ("P(effect > MCID) after the natural change", "prob"),
    "benefit": ("direction of benefit", "text"),
    "tipping_point_p_benefit": (
        "natural change at which P(benefit) = P(effect < 0) falls below its threshold",
        "num",
    ),
    "tipping_point_p_benefit_gt_mcid": (
        "natural change at which P(benefit > MCID) falls below its threshold",
        "num",
    ),
    "naive_p_benefit": ("P(benefit) if nothing changes without treatment", "prob"),
    "naive_p_benefit_gt_mcid": ("P(benefit > MCID) if nothing changes without treatment", "prob"),
    "p_benefit": ("P(benefit) = P(effect < 0) after the natural change", "prob"),
    "p_benefit_gt_mcid": ("P(benefit > MCID) after the natural change", "prob"),
    "p_benefit_min": ("smallest P(benefit) = P(effect < 0)", "prob"),
    "p_benefit_gt_mcid_min": ("smallest P(benefit > MCID) = P(effect < -MCID)", "prob"),
    "p_benefit_gt_mcid_max": ("largest P(benefit > MCID) = P(effect < -MCID)", "prob"),
    "literature_p_benefit_gt_mcid": ("P(benefit > MCID) under the literature prior", "prob"),
    "n": ("participants (published)", "int"),
    "p_threshold": ("published bound on p (SPSS prints 0.000 below it)", "p_bound"),
    "alternative": ("direction of the test", "text"),
    "prior": ("prior on the standardised effect δ", "text"),
    "prior_scale": ("its scale", "num"),
    "n_sim": ("simulated datasets per point of the power curve", "int"),
    "seed": ("seed of the simulation", "id"),
    "critical_w_plus": ("smallest W+ that gives p below the bound", "int"),
    "delta_median": ("standardised effect δ, posterior median", "num"),
    "delta_ci95_low": ("lower end of its 95 % interval", "num"),
    "delta_ci95_high": ("upper end of its 95 % interval", "num"),
    "p_delta_gt_0_5": ("P(δ > 0.5)", "prob"),
}
"""How each headline number of a sensitivity analysis is written in the report.

Keys not listed (a newer analysis, an older summary) are written with their key
as the label and a format chosen by their type (:func:`summary_rows`): never as a
raw ``key: 20000.000`` dump."""

HIDDEN_SUMMARY_KEYS = frozenset({"refit_seconds", "compile_seconds"})
"""Bookkeeping a reader of the report does not need (the run's timings are in its footer)."""


def fmt_summary_value(value: Any, kind: str) -> str:
    """One headline number in the format its kind asks for.

    Kinds: ``int`` (whole, with thousands separators), ``id`` (whole, without them:
    a seed), ``num`` (2 decimals),
    ``prob`` (:func:`fmt_prob`), ``p_bound`` (a threshold as given: 0.0005, never
    rounded to 0.001), ``ln_bf`` (a natural-log Bayes factor, written with its
    base-10 log and the factor), ``text``.

    Examples
    --------
    >>> fmt_summary_value(20000.0, "int"), fmt_summary_value(0.0005, "p_bound")
    ('20,000', '0.0005')
    >>> fmt_summary_value(23.0259, "ln_bf")
    'ln BF10 = 23.03 (log10 BF10 = 10.00; BF10 = 1.0 × 10^10)'
    """
    number = _number(value)
    if value is None:
        return "—"
    if kind == "text" or number is None:
        return str(value)
    if kind == "id":
        return str(int(number)) if math.isfinite(number) else fmt_num(number)
    if number is None or (isinstance(number, float) and math.isnan(number)):
        return "—"
    if kind == "int":
        return f"{int(number):,}" if math.isfinite(number) else fmt_num(number)
    if kind == "prob":
        return fmt_prob(number)
    if kind == "p_bound":
        return f"{number:g}"
    if kind == "ln_bf":
        if not math.isfinite(number):
            return fmt_bf(math.exp(number) if number < 0 else math.inf)
        log10 = number / math.log(10)
        bf = fmt_bf(math.exp(number)) if number < 700 else f"10^{log10:.0f}"
        return f"ln BF10 = {number:.2f} (log10 BF10 = {log10:.2f}; BF10 = {bf})"
    return fmt_num(number)


def summary_rows(summary: Any) -> list[tuple[str, str]]:
    """A sensitivity analysis's headline numbers as (label, text) rows for the report.

    Examples
    --------
    >>> rows = summary_rows({"n_sim": 20000, "p_threshold": 0.0005, "refit_seconds": 3.2})
    >>> [text for _, text in rows]
    ['20,000', '0.0005']
    >>> summary_rows({"new_count": 12.0, "new_value": 0.123456})
    [('new count', '12'), ('new value', '0.123')]
    """
    rows = []
    for key, value in dict(summary or {}).items():
        if key in HIDDEN_SUMMARY_KEYS:
            continue
        label, kind = SUMMARY_LABELS.get(key, (None, None))
        if label is None:
            label = str(key).replace("_", " ")
            number = _number(value)
            if "log_bf" in str(key):
                kind = "ln_bf"
            elif number is not None and math.isfinite(number) and float(number).is_integer():
                kind = "int"
            elif number is not None:
                rows.append((label, fmt_num(number, 3)))
                continue
            else:
                kind = "text"
        rows.append((label, fmt_summary_value(value, kind)))
    return rows


def _fall_bias_sentence(s: dict, units: str) -> str:
    """The bias highlight of a lower-is-better outcome: a natural fall imitates the benefit."""
    bound = fmt_summary_value(s["prob_positive_threshold"], "p_bound")
    tip = _number(s["tipping_point_p_benefit"])
    if tip is not None and tip >= 0:
        first = f"P(benefit) = P(effect < 0) is below {bound} even with no natural fall"
    else:
        first = (
            f"A natural fall of {fmt_num(-tip)}{units}, with no treatment effect, would "
            f"bring P(benefit) = P(effect < 0) below {bound}"
        )
    tip = _number(s["tipping_point_p_benefit_gt_mcid"])
    mcid_bound = fmt_summary_value(s["prob_mcid_threshold"], "p_bound")
    if tip is not None and tip >= 0:
        second = f"P(benefit > MCID) is below {mcid_bound} even with no natural fall"
    else:
        second = f"one of {fmt_num(-tip)}{units} would bring P(benefit > MCID) below {mcid_bound}"
    return f"{first}; {second} (lower is better)."


def sensitivity_sentence(item: Any, unit: str | None = None) -> str:
    """One plain sentence with the result of a sensitivity highlight ("" if none is known).

    Examples
    --------
    >>> sensitivity_sentence({"name": "published_p", "summary": {"n": 24,
    ...     "p_threshold": 0.0005, "delta_median": 1.1, "delta_ci95_low": 0.7,
    ...     "delta_ci95_high": 2.0, "p_delta_gt_0_5": 0.97}})
    ... # doctest: +NORMALIZE_WHITESPACE
    'From n = 24 and p < 0.0005 alone, the standardised effect δ has posterior median 1.10
    (95 % interval 0.70 to 2.00), and P(δ > 0.5) = 0.970.'
    """
    name = item.get("name") if hasattr(item, "get") else None
    s = dict(item.get("summary") or {}) if hasattr(item, "get") else {}
    units = f" {unit}" if unit else ""
    try:
        if name == "published_p":
            return (
                f"From n = {fmt_summary_value(s['n'], 'int')} and p < "
                f"{fmt_summary_value(s['p_threshold'], 'p_bound')} alone, the standardised "
                f"effect δ has posterior median {fmt_num(s['delta_median'])} (95 % interval "
                f"{fmt_num(s['delta_ci95_low'])} to {fmt_num(s['delta_ci95_high'])}), and "
                f"P(δ > 0.5) = {fmt_prob(s['p_delta_gt_0_5'])}."
            )
        if name == "prior_grid" and s.get("benefit") == "decrease":
            return (
                f"Across {fmt_summary_value(s['n_settings'], 'int')} priors, the posterior "
                f"median of the effect runs from {fmt_num(s['effect_median_min'])} to "
                f"{fmt_num(s['effect_median_max'])}{units}, the smallest P(benefit) = "
                f"P(effect < 0) is {fmt_prob(s['p_benefit_min'])}, and P(benefit > MCID) "
                f"runs from {fmt_prob(s['p_benefit_gt_mcid_min'])} to "
                f"{fmt_prob(s['p_benefit_gt_mcid_max'])} (lower is better)."
            )
        if name == "prior_grid":
            return (
                f"Across {fmt_summary_value(s['n_settings'], 'int')} priors, the posterior "
                f"median of the effect runs from {fmt_num(s['effect_median_min'])} to "
                f"{fmt_num(s['effect_median_max'])}{units}, the smallest P(effect > 0) is "
                f"{fmt_prob(s['p_effect_gt_0_min'])}, and P(effect > MCID) runs from "
                f"{fmt_prob(s['p_effect_gt_mcid_min'])} to {fmt_prob(s['p_effect_gt_mcid_max'])}."
            )
        if name == "bias" and s.get("benefit") == "decrease":
            return _fall_bias_sentence(s, units)
        if name == "bias":
            first = (
                f"A natural rise of {fmt_num(s['tipping_point_p_effect_gt_0'])}{units} over the "
                "three days, with no massage effect, would bring P(effect > 0) below "
                f"{fmt_summary_value(s['prob_positive_threshold'], 'p_bound')}"
            )
            tip = _number(s["tipping_point_p_effect_gt_mcid"])
            mcid_bound = fmt_summary_value(s["prob_mcid_threshold"], "p_bound")
            if tip is not None and tip < 0:
                second = f"P(effect > MCID) is below {mcid_bound} even with no natural rise"
            else:
                second = (
                    f"one of {fmt_num(tip)}{units} would bring P(effect > MCID) below {mcid_bound}"
                )
            return f"{first}; {second}."
    except (KeyError, TypeError):
        return ""
    return ""
