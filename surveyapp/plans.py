"""The default measurement plan, as plain data (pure Python).

Baseline at the course start, end of course, and follow-ups 3 months, 1 year and 2 years after
the end. Citizens answer WHO-5 and WHODAS-12 at every timepoint and the start-meeting survey at
baseline and end; a relative answers the start-meeting survey and the WHODAS-12 proxy form at
baseline and end; staff record the course outcome at the end and at every follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from surveyapp.enums import Anchor, Respondent
from surveyapp.scheduling import TimepointRule

C, R, S = Respondent.CITIZEN, Respondent.RELATIVE, Respondent.STAFF


@dataclass(frozen=True)
class TimepointSpec:
    rule: TimepointRule
    label_da: str
    label_en: str
    items: tuple[tuple[str, Respondent], ...]  # (instrument id, who answers), in giving order
    link_valid_days: int = 14  # how long a letter's link works once issued


@dataclass(frozen=True)
class PlanSpec:
    name: str
    timepoints: tuple[TimepointSpec, ...]


_SELF = (("who5", C), ("whodas12", C))
_START_MEETING = (("start_meeting", C), ("start_meeting", R), ("whodas12_proxy", R))

DEFAULT_PLAN = PlanSpec(
    name="Standardplan: start, slut, 3 mdr., 1 år og 2 år",
    timepoints=(
        TimepointSpec(
            TimepointRule(
                "baseline", Anchor.COURSE_START, window_before_days=7, window_after_days=14
            ),
            "Førmåling (start)",
            "Baseline (start)",
            _SELF + _START_MEETING,
        ),
        TimepointSpec(
            TimepointRule("end", Anchor.COURSE_END, window_before_days=7, window_after_days=21),
            "Eftermåling (slut)",
            "End of course",
            _SELF + _START_MEETING + (("course_outcome", S),),
        ),
        TimepointSpec(
            TimepointRule(
                "fu_3m",
                Anchor.COURSE_END,
                offset_months=3,
                window_before_days=14,
                window_after_days=21,
            ),
            "Opfølgning 3 mdr.",
            "Follow-up 3 months",
            _SELF + (("course_outcome", S),),
        ),
        TimepointSpec(
            TimepointRule(
                "fu_1y",
                Anchor.COURSE_END,
                offset_months=12,
                window_before_days=30,
                window_after_days=30,
            ),
            "Opfølgning 1 år",
            "Follow-up 1 year",
            _SELF + (("course_outcome", S),),
        ),
        TimepointSpec(
            TimepointRule(
                "fu_2y",
                Anchor.COURSE_END,
                offset_months=24,
                window_before_days=30,
                window_after_days=30,
            ),
            "Opfølgning 2 år",
            "Follow-up 2 years",
            _SELF + (("course_outcome", S),),
        ),
    ),
)
