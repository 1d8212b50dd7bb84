"""What the paper publishes: the single source of truth for every published number.

The study (Erwhani et al., STIK Muhammadiyah Pontianak) reports no raw data, no
means, no medians and no test statistic: only n, five univariate percentages, the
name of the test and "p = 0.000". Everything the toolkit claims about the paper is
checked against the facts below, and each fact says where it stands in the paper:
I. Erwhani et al., "Pengaruh Pijat Oksitosin Terhadap Produksi ASI pada Ibu Pekerja
di Wilayah Kerja Puskesmas Sungai Raya Dalam Kabupaten Kubu Raya" (Indonesian, with
an English abstract), STIK Muhammadiyah Pontianak.

The paper contradicts itself in places. Those contradictions are facts too, kept in
:data:`INCONSISTENCIES`, so that reports and the audit can state them.

Examples
--------
>>> from milkbayes import published
>>> published.N_PARTICIPANTS
24
>>> fact = published.COVARIATE_FACTS["parity"]
>>> fact.level, fact.count, fact.percent
('multipara', 21, 87.5)
>>> round(100 * fact.count / published.N_PARTICIPANTS, 1) == fact.percent
True
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

N_PARTICIPANTS = 24
"""Number of working mothers analysed ("24 responden penelitian", abstract and methods)."""

REPORTED_P_TEXT = "0.000"
"""The p-value as printed by SPSS and copied into the paper ("p-value 0,000 < 0,05")."""

REPORTED_TEST = "Wilcoxon signed-rank test (SPSS)"
"""The test the paper names ("uji Wilcoxon-test"), run in SPSS."""

CITATION = (
    "I. Erwhani et al., Pengaruh Pijat Oksitosin Terhadap Produksi ASI pada Ibu Pekerja "
    "di Wilayah Kerja Puskesmas Sungai Raya Dalam Kabupaten Kubu Raya, "
    "STIK Muhammadiyah Pontianak"
)
"""The paper, as the module docstring cites it."""

SPSS_P_THRESHOLD = 0.0005
"""SPSS prints ``.000`` when p rounds to zero at three decimals, i.e. p < .0005."""

ALPHA = 0.05
"""The significance level the paper compares p with ("0,000 < 0,05")."""

REPORTED_DIRECTION = "increase"
"""The direction of the change the paper reports: milk production rose after the massage.

The title, the abstract and the conclusion say the massage *raised* ("meningkatkan")
production; "p = 0.000" alone does not say which way the change went, so data whose
output fell do not match the paper even when their p is below .0005.
"""

INTERVENTION = MappingProxyType(
    {
        "name": "oxytocin massage",
        "site": "along the spine, vertebrae to the fifth-sixth rib",
        "minutes_per_session": 3,
        "sessions_per_day": 2,
        "days": 3,
        "given_by": "mostly husbands, taught by the researchers",
    }
)
"""The intervention as described in the abstract and the discussion."""

CATEGORY_LEVELS = MappingProxyType(
    {
        "group": ("massage", "control"),
        "work_duration": ("short", "long"),
        "parity": ("primipara", "multipara"),
        "occupation": (
            "farm_labourer",
            "entrepreneur",
            "private_employee",
            "civil_servant",
            "other",
        ),
        "education": ("elementary", "junior_high", "senior_high", "higher"),
        "age_group": ("under_20", "adult", "over_35"),
    }
)
"""The allowed levels of every categorical column, in a fixed order.

The paper names only one level of each covariate. The other levels are this
toolkit's choice, documented here once: occupation and education follow the usual
Indonesian survey categories; the age groups follow the paper's own discussion of
mothers "< 20 tahun", the "usia reproduksi sehat" of 20-35 ("dewasa", adult) and
those over 35.
"""


@dataclass(frozen=True)
class PublishedFact:
    """One number or statement in the paper, with where it stands.

    Attributes
    ----------
    key : str
        Stable snake_case identifier.
    statement : str
        The fact in English.
    quote : str
        The paper's own words (Indonesian, or the English abstract).
    where : str
        Section of the paper.
    """

    key: str
    statement: str
    quote: str
    where: str


@dataclass(frozen=True)
class CovariateFact(PublishedFact):
    """A univariate percentage: ``count`` of :data:`N_PARTICIPANTS` mothers at ``level``.

    ``count`` is the only integer count out of 24 that rounds to ``percent``
    (checked by the audit in :mod:`milkbayes.frequentist.audit`, not assumed).
    """

    column: str = ""
    level: str = ""
    count: int = 0
    percent: float = 0.0


COVARIATE_FACTS = MappingProxyType(
    {
        fact.column: fact
        for fact in (
            CovariateFact(
                key="occupation_farm_labourer",
                column="occupation",
                level="farm_labourer",
                count=9,
                percent=37.5,
                statement="37.5 % of the mothers were farm labourers.",
                quote="sebagian dari responden bekerja sebagai buruh tani sebesar 37,5%",
                where="3. Pembahasan (discussion), paragraph 1",
            ),
            CovariateFact(
                key="education_senior_high",
                column="education",
                level="senior_high",
                count=11,
                percent=45.8,
                statement="45.8 % had finished senior high school.",
                quote="sebagian dari responden berpendidikan SMA sebanyak 45,8%",
                where="3. Pembahasan, paragraph on education",
            ),
            CovariateFact(
                key="parity_multipara",
                column="parity",
                level="multipara",
                count=21,
                percent=87.5,
                statement="87.5 % were multiparous.",
                quote="memiliki jumlah anak lebih dari 1 (multipara) sebesar 87,5%",
                where="3. Pembahasan, paragraph on parity (citing table 4.1, not printed)",
            ),
            CovariateFact(
                key="age_group_adult",
                column="age_group",
                level="adult",
                count=23,
                percent=95.8,
                statement="95.8 % were 'adult' (the discussion's healthy reproductive age, 20-35).",
                quote="sebagian besar responden berusia dewasa sebesar 95,8%",
                where="3. Pembahasan, paragraph on age",
            ),
            CovariateFact(
                key="work_duration_long",
                column="work_duration",
                level="long",
                count=13,
                percent=54.2,
                statement="54.2 % had a 'long' work duration.",
                quote="lamanya bekerja pada kategori lama sebesar 54,2%",
                where="3. Pembahasan, paragraph on work duration",
            ),
        )
    }
)
"""The five univariate percentages, keyed by column."""

FACTS = (
    PublishedFact(
        key="n",
        statement="24 working mothers, consecutive (non-random) sampling.",
        quote="consecutive sampling dengan mengunakan 24 responden penelitian",
        where="Abstract; 2. Metode penelitian",
    ),
    PublishedFact(
        key="outcome",
        statement=(
            "Outcome: 'breast-milk production' from an observation sheet, pre and post; "
            "no unit is ever stated."
        ),
        quote="lembar observasi produksi ASI pretest dan posttest responden",
        where="2. Metode penelitian",
    ),
    PublishedFact(
        key="test",
        statement="Wilcoxon signed-rank test (SPSS), p printed as 0.000.",
        quote="uji Wilcoxon-test didapatkan nilai p-value 0,000 < 0,05",
        where="Abstract (Hasil penelitian); 3. Pembahasan ('nilai sig 0,000')",
    ),
    PublishedFact(
        key="intervention",
        statement="Oxytocin massage, 3 min, twice a day, for 3 days, mostly given by husbands.",
        quote="durasi 3 menit dan frekuensi pemberian pijatan 2 kali sehari ... selama 3 hari",
        where="Abstract; 2. Metode penelitian; 3. Pembahasan",
    ),
)
"""The design and result facts of the paper that are not percentages."""

INCONSISTENCIES = (
    PublishedFact(
        key="design_label",
        statement=(
            "The design is called 'pre-test post-test nonequivalent control group', "
            "but the methods say one group was treated with no comparison group."
        ),
        quote=(
            "pre-test and post-test nonequivalent controls grp yaitu peneliti melakukan "
            "intervensi pada satu kelompok tanpa pembanding"
        ),
        where="Abstract (Research method) against 2. Metode penelitian",
    ),
    PublishedFact(
        key="univariate_difference",
        statement=(
            "The conclusion credits the pre/post difference to a 'univariate analysis'; "
            "a paired comparison is a bivariate analysis (the Wilcoxon test)."
        ),
        quote=(
            "Hasil analisis univariat ditemukan bahwa terdapat perbedaan produksi ASI perah "
            "antara pre dan post intervensi"
        ),
        where="4.1 Kesimpulan, point 2",
    ),
    PublishedFact(
        key="occupation",
        statement=(
            "The discussion says the largest occupation was farm labourer (37.5 %); "
            "the conclusion says most mothers were entrepreneurs (wirausaha)."
        ),
        quote="sebagian dari responden bekerja sebagai wirausaha",
        where="3. Pembahasan against 4.1 Kesimpulan, point 1",
    ),
    PublishedFact(
        key="aged_14",
        statement="The conclusion says most mothers were 'aged 14', against 95.8 % adult.",
        quote="responden sebagian besar berumur 14",
        where="4.1 Kesimpulan, point 1",
    ),
    PublishedFact(
        key="mean_vs_rank",
        statement=(
            "The conclusion speaks of a difference in mean ('rerata') production, but a "
            "signed-rank test says nothing about means and no mean is reported."
        ),
        quote="Ada perbedaan rerata produksi ASI sebelum dan sesudah pijat oksitosin",
        where="Abstract (Conclusion); 4.1 Kesimpulan, point 3",
    ),
    PublishedFact(
        key="outcome_names",
        statement=(
            "The outcome is called milk production, expressed milk (ASI perah) and milk "
            "adequacy value (nilai kecukupan ASI): a volume or a checklist score is never said."
        ),
        quote="nilai kecukupan ASI ... produksi ASI perah",
        where="3. Pembahasan; 4.1 Kesimpulan",
    ),
)
"""Places where the paper contradicts itself or mislabels its analysis."""


def fact(key: str) -> PublishedFact:
    """Return the published fact or inconsistency with this ``key``.

    Raises
    ------
    KeyError
        If no fact has that key; the message lists the keys that exist.

    Examples
    --------
    >>> fact("aged_14").where
    '4.1 Kesimpulan, point 1'
    """
    everything = {f.key: f for f in (*FACTS, *INCONSISTENCIES, *COVARIATE_FACTS.values())}
    try:
        return everything[key]
    except KeyError:
        raise KeyError(
            f"no published fact {key!r}; known: {', '.join(sorted(everything))}"
        ) from None
