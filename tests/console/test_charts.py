"""The console's SVG bar charts, as markup: parsed with an XML parser, as a browser would."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from service.console import charts
from service.console.charts import Bar

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # The figure is XHTML-compatible; the SVG inside gets its namespace as a browser gives it.
    return ET.fromstring(str(markup).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def bars(figure: ET.Element) -> list[ET.Element]:
    return [r for r in figure.iter(f"{SVG}rect") if r.get("class") == "bar"]


@pytest.mark.parametrize("draw, attr", [(charts.horizontal, "width"), (charts.vertical, "height")])
def test_bar_lengths_are_proportional_to_the_values(draw, attr):
    data = [Bar("a", 10), Bar("b", 5), Bar("c", 1), Bar("d", 0)]
    figure = parse(draw("t", "Title", data))
    drawn = bars(figure)
    assert [(r.get("data-label"), int(r.get("data-value"))) for r in drawn] == [
        ("a", 10),
        ("b", 5),
        ("c", 1),
        ("d", 0),
    ]
    lengths = [float(r.get(attr)) for r in drawn]
    full = lengths[0]
    assert full > 100, "the largest value fills the plot"
    assert lengths[1] == pytest.approx(full / 2, abs=0.01)
    assert lengths[2] == pytest.approx(full / 10, abs=0.01)
    assert lengths[3] == 0


def test_vertical_bars_stand_on_the_axis():
    figure = parse(charts.vertical("t", "T", [Bar("x", 4), Bar("y", 2)]))
    tall, short = bars(figure)
    bottom = {float(r.get("y")) + float(r.get("height")) for r in (tall, short)}
    assert len(bottom) == 1, "both bars end on the same baseline"
    assert float(short.get("x")) > float(tall.get("x"))


def test_the_numbers_are_printed_and_tabulated():
    figure = parse(charts.horizontal("t", "Files", [Bar("PDF", 1234567)]))
    texts = [t.text for t in figure.iter(f"{SVG}text")]
    assert "1,234,567" in texts
    cells = [td.text for td in figure.iter("td")]
    assert cells == ["1,234,567"]
    assert [th.text for th in figure.iter("th") if th.get("scope") == "row"] == ["PDF"]


def test_sizes_are_formatted_for_people():
    assert charts.size(0) == "0 B"
    assert charts.size(1023) == "1023 B"
    assert charts.size(1536) == "1.5 KiB"
    assert charts.size(5 * 1024**3) == "5.0 GiB"
    assert charts.size(10**30).endswith(" B"), "beyond the units: the exact number"
    figure = parse(charts.horizontal("t", "Bytes", [Bar("mp4", 3 * 1024**2)], fmt=charts.size))
    assert "3.0 MiB" in [t.text for t in figure.iter(f"{SVG}text")]
    assert bars(figure)[0].get("data-value") == str(3 * 1024**2), "the exact figure for tests"


@pytest.mark.parametrize("draw", [charts.horizontal, charts.vertical])
def test_no_data_says_so_and_draws_nothing(draw):
    figure = parse(draw("t", "Downloads", [], empty="No downloads in this period."))
    assert figure.find(f"{SVG}svg") is None
    assert "No downloads in this period." in "".join(figure.itertext())


@pytest.mark.parametrize("draw", [charts.horizontal, charts.vertical])
def test_all_zero_values_draw_empty_bars_without_dividing_by_zero(draw):
    figure = parse(draw("t", "T", [Bar("a", 0), Bar("b", 0)]))
    assert [r.get("width" if draw is charts.horizontal else "height") for r in bars(figure)] == [
        "0.0",
        "0.0",
    ]


@pytest.mark.parametrize("draw, attr", [(charts.horizontal, "width"), (charts.vertical, "height")])
def test_huge_values_scale_exactly(draw, attr):
    big = 10**400  # past any float: int / int keeps the ratio exact
    figure = parse(draw("t", "T", [Bar("a", big), Bar("b", big // 4), Bar("c", 1)]))
    a, b, c = (float(r.get(attr)) for r in bars(figure))
    assert b == pytest.approx(a / 4, abs=0.01)
    assert c == 0.0, "a tiny share rounds to nothing, it does not fail"
    assert bars(figure)[0].get("data-value") == str(big)


def test_negative_values_draw_no_bar():
    figure = parse(charts.horizontal("t", "T", [Bar("a", 5), Bar("b", -3)]))
    assert float(bars(figure)[1].get("width")) == 0


HOSTILE = '<script>alert("x")</script>&\'"><svg onload=alert(1)>'


@pytest.mark.parametrize("draw", [charts.horizontal, charts.vertical])
def test_hostile_text_is_escaped_everywhere(draw):
    markup = str(draw('n"><x', HOSTILE, [Bar(HOSTILE, 1), Bar("ok", 2)], headers=(HOSTILE, "v")))
    assert "<script" not in markup and "<svg onload" not in markup
    figure = parse(markup)  # still well-formed: nothing broke out of an attribute or element
    assert bars(figure)[0].get("data-label") == HOSTILE, "the label survives, as text"
    assert figure.get("id") == "n---x"
    assert HOSTILE in [th.text for th in figure.iter("th")]


def test_long_labels_are_clipped_in_the_drawing_but_whole_in_the_data():
    label = "A category with a very long name indeed, longer than the label column"
    figure = parse(charts.horizontal("t", "T", [Bar(label, 1)]))
    drawn = [t.text for t in figure.iter(f"{SVG}text") if t.get("class") == "label"]
    assert drawn[0].endswith("…") and len(drawn[0]) == charts.MAX_LABEL_CHARS
    assert bars(figure)[0].get("data-label") == label
    assert label in [th.text for th in figure.iter("th")]


def test_the_chart_is_labelled_for_assistive_technology():
    figure = parse(charts.horizontal("by-country", "Downloads by country", [Bar("FR", 3)]))
    svg = figure.find(f"{SVG}svg")
    assert svg.get("role") == "img"
    ids = svg.get("aria-labelledby").split()
    found = {el.get("id"): el for el in svg.iter() if el.get("id")}
    assert found[ids[0]].text == "Downloads by country"
    assert "FR: 3" in found[ids[1]].text


def test_a_long_series_labels_a_few_days_and_prints_only_values_that_fit():
    days = [Bar(f"2026-01-{d:02}", d) for d in range(1, 32)] * 3  # 93 bars
    figure = parse(charts.vertical("t", "T", days))
    labels = [t for t in figure.iter(f"{SVG}text") if t.get("class") == "label"]
    assert 2 <= len(labels) <= charts.MAX_AXIS_LABELS + 1
    assert labels[0].text == days[0].label and labels[-1].text == days[-1].label
    values = [t.text for t in figure.iter(f"{SVG}text") if t.get("class") == "value"]
    assert values and all(len(v) == 1 for v in values), "only the values that fit a 6-unit bar"
    assert len(bars(figure)) == 93


def test_a_month_of_days_prints_the_values_that_fit_their_bars():
    days = [Bar(f"2026-01-{d:02}", d * 10) for d in range(1, 31)] + [Bar("2026-01-31", 12345)]
    figure = parse(charts.vertical("t", "T", days))
    values = [t.text for t in figure.iter(f"{SVG}text") if t.get("class") == "value"]
    assert values[:3] == ["10", "20", "30"] and "300" in values
    assert "12,345" not in values, "wider than its bar: left to the tooltip and the table"


def test_no_style_attribute_or_script_for_the_csp():
    markup = str(charts.vertical("t", "T", [Bar("a", 1)])) + str(
        charts.horizontal("u", "U", [Bar("b", 2)])
    )
    assert "style=" not in markup and "<script" not in markup and " on" not in markup
