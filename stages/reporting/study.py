"""What the original study reports for each variation (seed-report-es.md, 50 epochs on
Microsoft's real photos), as it words it: bounds read off its curves, not exact values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyFigures:
    """The study's test accuracy, test loss and training time for one variation."""

    accuracy: str
    loss: str
    time: str = "-"


# Test figures where the study separates train and test (v2-v5), else the single figure it
# gives. Figs. 4, 6, 8, 10, 12 and 13 of the study.
STUDY = {
    "base": StudyFigures(accuracy="≈0.80", loss="≈0.50"),
    "v1": StudyFigures(accuracy=">0.80", loss="<0.50"),
    "v2": StudyFigures(accuracy=">0.85", loss="<0.30", time="1.76 h"),
    "v3": StudyFigures(accuracy=">0.85 (≈v2, noisier)", loss="<0.30", time="1.75 h"),
    "v4": StudyFigures(accuracy=">0.90", loss="<0.25", time="1.69 h"),
    "v5": StudyFigures(accuracy=">0.80", loss="<0.30 (smoother)"),
}
STUDY_BEST = "v4"
