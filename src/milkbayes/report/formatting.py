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
    "fmt_bf",
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
