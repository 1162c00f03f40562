"""The statistics page's content: the `/stats` body (`service.stats.report.Stats.report`, what the
API route calls) turned into headline figures and charts. Pure: no request, no database.

Downloads over time are drawn per day for ranges up to PER_DAY_LIMIT days, per ISO week (from
its Monday) up to PER_WEEK_LIMIT, per month beyond: a bar stays wide enough to see and to hover.
Days without downloads are bars of zero, not gaps, so the axis is time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup

from service.console import charts
from service.console.charts import Bar

DEFAULT_DAYS = 30
PER_DAY_LIMIT = 92
PER_WEEK_LIMIT = 731
# The API lists up to 100 companies; a chart of 100 rows is a wall: the chart draws the first
# ones, its table of numbers lists them all.
COMPANIES_SHOWN = 20


@dataclass(frozen=True)
class Headline:
    label: str
    value: str
    exact: int


@dataclass(frozen=True)
class Section:
    title: str
    charts: list[Markup]
    notes: tuple[str, ...] = ()  # what the figures count, in a sentence or two


# What each figure counts (docs/api.md, `GET /stats`, says the same).
DOWNLOADS_NOTE = (
    "A download is a file's content fetched by your applications' users through the API; a "
    "metadata read is a file's details looked up the same way. Opening, previewing or "
    "downloading a file in this console is not counted."
)
FILES_NOTES = (
    "Files uploaded in the period, infected ones included.",
    "A file meant for several audience roles counts once under each of them, so the audience "
    "role charts add up to more than the files uploaded.",
)


def default_range(today: date) -> tuple[date, date]:
    """The last DEFAULT_DAYS days, today included."""
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def series(per_day: list[dict[str, Any]], first: date, last: date) -> tuple[str, list[Bar]]:
    """(grain, bars) for downloads from `first` to `last`, every period present."""
    counts = {date.fromisoformat(d["day"]): d["count"] for d in per_day}
    days = (last - first).days + 1
    if days <= PER_DAY_LIMIT:
        return "day", [
            Bar(day.isoformat(), counts.get(day, 0))
            for day in (first + timedelta(days=i) for i in range(days))
        ]
    if days <= PER_WEEK_LIMIT:

        def period(day: date) -> date:
            return day - timedelta(days=day.weekday())

        step = timedelta(days=7)
        grain = "week"
    else:

        def period(day: date) -> date:
            return day.replace(day=1)

        step = None
        grain = "month"
    totals: Counter[date] = Counter()
    for day, n in counts.items():
        totals[period(day)] += n
    bars, at = [], period(first)
    while at <= last:
        label = at.isoformat() if grain == "week" else at.strftime("%Y-%m")
        bars.append(Bar(label, totals.get(at, 0)))
        at = at + step if step else (at.replace(day=28) + timedelta(days=4)).replace(day=1)
    return grain, bars


def _category(e: dict[str, Any]) -> str:
    return e["name"] or ("No category" if e["id"] is None else f"category #{e['id']}")


def _language(e: dict[str, Any]) -> str:
    if e["code"] is None:
        return "No language"
    return f"{e['name']} ({e['code']})" if e["name"] else e["code"]


def _role(missing: str):
    def label(e: dict[str, Any]) -> str:
        return e["name"] or (missing if e["id"] is None else f"role #{e['id']}")

    return label


def headlines(report: dict[str, Any]) -> list[Headline]:
    files, downloads = report["files"], report["downloads"]
    return [
        Headline("Downloads", charts.count(downloads["count"]), downloads["count"]),
        Headline(
            "Metadata reads",
            charts.count(report["metadata_reads"]["count"]),
            report["metadata_reads"]["count"],
        ),
        Headline("Files uploaded", charts.count(files["files"]), files["files"]),
        Headline("Bytes uploaded", charts.size(files["bytes"]), files["bytes"]),
        # Counted in the figures above too: their rows stay, their bytes are gone.
        Headline(
            "Infected files", charts.count(files["infected"]["files"]), files["infected"]["files"]
        ),
    ]


def sections(report: dict[str, Any], first: date, last: date) -> list[Section]:
    files, downloads = report["files"], report["downloads"]
    grain, over_time = series(downloads["per_day"], first, last)
    by = charts.horizontal

    def bars(entries, label, value="downloads") -> list[Bar]:
        return [Bar(label(e), e[value]) for e in entries]

    def files_and_bytes(name: str, title: str, entries, label) -> list[Markup]:
        return [
            by(
                f"files-{name}",
                f"Files by {title}",
                bars(entries, label, "files"),
                headers=(title, "files"),
            ),
            by(
                f"bytes-{name}",
                f"Bytes by {title}",
                # The API orders by files; this chart reads best largest first.
                sorted(bars(entries, label, "bytes"), key=lambda b: -b.value),
                fmt=charts.size,
                headers=(title, "bytes"),
            ),
        ]

    companies = downloads["by_company"]
    company_bars = bars(companies, lambda e: e["company"] or "Unknown")
    company_title = "Downloads by company" + (
        f" (the first {COMPANIES_SHOWN} of {len(companies)})"
        if len(companies) > COMPANIES_SHOWN
        else ""
    )
    return [
        Section(
            "Downloads",
            [
                charts.vertical(
                    "downloads-per-" + grain,
                    f"Downloads per {grain}, {first.isoformat()} to {last.isoformat()}",
                    over_time,
                    headers=(grain, "downloads"),
                    empty="No downloads in this period.",
                ),
                by(
                    "downloads-top-files",
                    "Most downloaded files",
                    bars(downloads["top_files"], lambda e: e["title"] or f"deleted file {e['id']}"),
                    headers=("file", "downloads"),
                ),
                by(
                    "downloads-country",
                    "Downloads by country",
                    bars(downloads["by_country"], lambda e: e["country"] or "Unknown"),
                    headers=("country", "downloads"),
                ),
                by(
                    "downloads-role",
                    "Downloads by role",
                    bars(downloads["by_role"], _role("No role given")),
                    headers=("role", "downloads"),
                ),
                by(
                    "downloads-language",
                    "Downloads by language",
                    bars(downloads["by_language"], _language),
                    headers=("language", "downloads"),
                ),
                by(
                    "downloads-company",
                    company_title,
                    company_bars[:COMPANIES_SHOWN],
                    headers=("company", "downloads"),
                    table=company_bars,
                ),
            ],
            (DOWNLOADS_NOTE,),
        ),
        Section(
            "Files uploaded in the period",
            [
                *files_and_bytes("category", "category", files["by_category"], _category),
                *files_and_bytes("type", "type", files["by_type"], lambda e: e["type"]),
                *files_and_bytes("language", "language", files["by_language"], _language),
                *files_and_bytes("role", "audience role", files["by_role"], _role("No audience")),
            ],
            FILES_NOTES,
        ),
    ]
