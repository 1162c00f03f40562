"""The statistics page's content from a /stats body: periods, labels, every figure drawn."""

from __future__ import annotations

import re
from datetime import date

from service.console import stats_view
from service.console.charts import Bar


def test_the_default_range_is_the_last_thirty_days_today_included():
    assert stats_view.default_range(date(2026, 3, 1)) == (date(2026, 1, 31), date(2026, 3, 1))


def test_short_ranges_are_drawn_per_day_with_the_gaps_as_zeros():
    per_day = [{"day": "2026-01-02", "count": 3}, {"day": "2026-01-04", "count": 1}]
    grain, bars = stats_view.series(per_day, date(2026, 1, 1), date(2026, 1, 5))
    assert grain == "day"
    assert bars == [
        Bar("2026-01-01", 0),
        Bar("2026-01-02", 3),
        Bar("2026-01-03", 0),
        Bar("2026-01-04", 1),
        Bar("2026-01-05", 0),
    ]


def test_longer_ranges_are_summed_per_week_then_per_month():
    per_day = [{"day": "2026-01-05", "count": 2}, {"day": "2026-01-11", "count": 5},
               {"day": "2026-03-31", "count": 1}]  # fmt: skip
    grain, bars = stats_view.series(per_day, date(2026, 1, 1), date(2026, 6, 30))
    assert grain == "week"
    assert bars[0] == Bar("2025-12-29", 0), "the week holding the first day, from its Monday"
    assert bars[1] == Bar("2026-01-05", 7)
    assert sum(b.value for b in bars) == 8
    grain, bars = stats_view.series(per_day, date(2025, 1, 15), date(2027, 2, 1))
    assert grain == "month"
    assert [b.label for b in bars][:2] == ["2025-01", "2025-02"] and bars[-1].label == "2027-02"
    assert {b.label: b.value for b in bars if b.value} == {"2026-01": 7, "2026-03": 1}


REPORT = {
    "from": "2026-01-01",
    "to": "2026-01-03",
    "files": {
        "files": 3,
        "bytes": 3000,
        "infected": {"files": 1, "bytes": 1000},
        "by_category": [{"id": 1, "name": "Skills", "files": 2, "bytes": 2000},
                        {"id": None, "name": None, "files": 1, "bytes": 1000}],
        "by_language": [{"code": "en", "name": "English", "files": 3, "bytes": 3000}],
        "by_type": [{"type": "pdf", "files": 3, "bytes": 3000}],
        "by_role": [{"id": None, "name": None, "files": 3, "bytes": 3000}],
    },
    "downloads": {
        "count": 4,
        "by_country": [{"country": "FR", "downloads": 3}, {"country": None, "downloads": 1}],
        "by_company": [{"company": f"c{i}", "downloads": 1} for i in range(25)],
        "by_role": [{"id": 2, "name": "Mentee/Coachee", "downloads": 3},
                    {"id": None, "name": None, "downloads": 1}],
        "by_language": [{"code": None, "name": None, "downloads": 4}],
        "per_day": [{"day": "2026-01-02", "count": 4}],
        "top_files": [{"id": "f1", "title": "Talk", "downloads": 3},
                      {"id": "f2", "title": None, "downloads": 1}],
    },
    "metadata_reads": {"count": 2, "per_day": []},
}  # fmt: skip


def drawn(markup: str) -> list[tuple[str, int]]:
    found = re.findall(r'class="bar"[^>]*data-label="([^"]*)" data-value="(\d+)"', markup)
    return [(label, int(v)) for label, v in found]


def test_every_figure_is_drawn_with_a_readable_label():
    sections = stats_view.sections(REPORT, date(2026, 1, 1), date(2026, 1, 3))
    charts = {re.search(r'id="([^"]+)"', str(c)).group(1): str(c)
              for s in sections for c in s.charts}  # fmt: skip
    assert drawn(charts["downloads-per-day"]) == [
        ("2026-01-01", 0), ("2026-01-02", 4), ("2026-01-03", 0)]  # fmt: skip
    assert drawn(charts["downloads-country"]) == [("FR", 3), ("Unknown", 1)]
    assert drawn(charts["downloads-role"]) == [("Mentee/Coachee", 3), ("No role given", 1)]
    assert drawn(charts["downloads-language"]) == [("No language", 4)]
    assert drawn(charts["downloads-top-files"]) == [("Talk", 3), ("deleted file f2", 1)]
    assert len(drawn(charts["downloads-company"])) == stats_view.COMPANIES_SHOWN
    assert "the first 20 of 25" in charts["downloads-company"]
    tabled = re.findall(r'<td data-value="(\d+)"', charts["downloads-company"])
    assert len(tabled) == 25, "the table lists every company the API gave"
    assert drawn(charts["files-category"]) == [("Skills", 2), ("No category", 1)]
    assert drawn(charts["bytes-category"]) == [("Skills", 2000), ("No category", 1000)]
    assert drawn(charts["files-language"]) == [("English (en)", 3)]
    assert drawn(charts["files-type"]) == [("pdf", 3)]
    assert drawn(charts["bytes-role"]) == [("No audience", 3000)]
    heads = {h.label: h.exact for h in stats_view.headlines(REPORT)}
    assert heads == {"Downloads": 4, "Metadata reads": 2, "Files uploaded": 3,
                     "Bytes uploaded": 3000, "Infected files": 1}  # fmt: skip
