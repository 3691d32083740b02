"""Fast checks of the planner pages' parts that need no browser: SVG charts, session cookie, form parsing."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from sampling.plan_config import DEFAULT_EXPLORE
from serving.web import session as websession
from serving.web.charts import BarRow, IntervalPoint, interval_chart, risk_bars
from serving.web.forms import parse_plan_form

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_risk_bars_widths_follow_values_and_labels_are_escaped() -> None:
    rows = [BarRow("蚕丝被", 0.6, 120), BarRow("<script>x</script>", 0.3, 40), BarRow("水果", 0.0, 7)]
    svg = str(risk_bars(rows, title="t"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    root = _parse(svg)
    groups = root.findall(f"{SVG}g")
    assert len(groups) == 3
    risk_w = [float(g.findall(f"{SVG}rect")[0].get("width", "nan")) for g in groups]
    # bar length is proportional to the value: 0.6 is twice 0.3, 0 draws nothing
    assert risk_w[0] == pytest.approx(2 * risk_w[1], rel=0.02)
    assert risk_w[2] == 0
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "60.0%" in texts and "30.0%" in texts and "120" in texts


def test_risk_bars_empty_says_no_data() -> None:
    assert "暂无数据" in str(risk_bars([], title="t"))


def test_interval_chart_error_bars_cover_points_in_order() -> None:
    pts = [
        IntervalPoint("2026-01-01", "a", 0.62, 0.50, 0.74),
        IntervalPoint("2026-02-01", "b", 0.66, 0.60, 0.72),
    ]
    root = _parse(str(interval_chart(pts, title="t")))
    groups = root.findall(f"{SVG}g")
    assert len(groups) == 2
    prev_x = -1.0
    for g in groups:
        whisker = g.findall(f"{SVG}line")[0]
        dot = g.find(f"{SVG}circle")
        assert dot is not None
        y_low, y_high = float(whisker.get("y1", "nan")), float(whisker.get("y2", "nan"))
        cy, cx = float(dot.get("cy", "nan")), float(dot.get("cx", "nan"))
        assert y_high < cy < y_low  # SVG y grows downwards: the high end is drawn above the point
        assert cx > prev_x
        prev_x = cx
    # the wider interval is drawn taller
    h = [
        float(g.findall(f"{SVG}line")[0].get("y1", "0")) - float(g.findall(f"{SVG}line")[0].get("y2", "0"))
        for g in groups
    ]
    assert h[0] > 1.5 * h[1]


def test_interval_chart_empty_explains() -> None:
    assert "暂无检测结果" in str(interval_chart([], title="t"))


def test_session_roundtrip_and_tamper() -> None:
    s = websession.new_session(key_id="k123", role="planner")
    token = websession.encode(s, "a-long-secret-value-123456")
    back = websession.decode(token, "a-long-secret-value-123456", max_age_s=60)
    assert back == s
    assert websession.decode(token, "another-secret-value-123456", max_age_s=60) is None
    assert (
        websession.decode(
            token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "a-long-secret-value-123456", max_age_s=60
        )
        is None
    )
    assert websession.decode(None, "x", max_age_s=60) is None
    assert websession.csrf_matches(s, s.csrf)
    assert not websession.csrf_matches(s, "nope")
    assert not websession.csrf_matches(s, None)
    assert websession.new_session(key_id="k123", role="planner").csrf != s.csrf


def test_session_expires() -> None:
    s = websession.new_session(key_id="k", role="planner")
    token = websession.encode(s, "a-long-secret-value-123456")
    time.sleep(1.1)
    assert websession.decode(token, "a-long-secret-value-123456", max_age_s=0) is None


def _fields(**kw: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in kw.items()}


def test_parse_plan_form_valid_with_quotas() -> None:
    f = _fields(
        budget="5000",
        epsilon="0.25",
        explore="0.15",
        per_merchant_cap="",
        seed="3",
        quota_cat__0="蚕丝被",
        quota_min__0="2",
        quota_max__0="5",
        quota_cat__1="水果",
        quota_min__1="",
        quota_max__1="",
    )
    _, req, errors = parse_plan_form(f)
    assert errors == [] and req is not None
    assert req.budget == 5000 and req.epsilon == 0.25 and req.per_merchant_cap is None and req.seed == 3
    assert req.quotas == {"蚕丝被": (2, 5)} and req.explore == 0.15
    _, req, _ = parse_plan_form(_fields(budget="5000", epsilon="0.2", seed="1"))
    assert req is not None and req.explore == DEFAULT_EXPLORE  # left empty: the planner's default share


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"budget": "", "epsilon": "0.2", "seed": "1"}, "预算"),
        ({"budget": "-5", "epsilon": "0.2", "seed": "1"}, "预算必须大于"),
        ({"budget": "abc", "epsilon": "0.2", "seed": "1"}, "不是数字"),
        ({"budget": "100", "epsilon": "1.5", "seed": "1"}, "ε"),
        ({"budget": "100", "epsilon": "1", "seed": "1"}, "小于 1"),  # the form's range is the planner's
        ({"budget": "100", "epsilon": "0.2", "seed": "1.5"}, "整数"),
        ({"budget": "100", "epsilon": "0.2", "seed": "1", "per_merchant_cap": "0"}, "每商家上限"),
        ({"budget": "inf", "epsilon": "0.2", "seed": "1"}, "有限"),
        (
            {
                "budget": "100",
                "epsilon": "0.2",
                "seed": "1",
                "quota_cat__0": "水果",
                "quota_min__0": "5",
                "quota_max__0": "2",
            },
            "大于最多件数",
        ),
        ({"name": "计" * 201, "budget": "100", "epsilon": "0.2", "seed": "1"}, "计划名称最多 200 个字"),
        ({"budget": "100", "epsilon": "0.2", "seed": "1", "explore": "1.2"}, "不确定探索比例"),
    ],
    ids=[
        "no-budget",
        "negative-budget",
        "budget-not-number",
        "epsilon-range",
        "epsilon-one",
        "seed-not-int",
        "cap-zero",
        "budget-inf",
        "quota-min-over-max",
        "name-too-long",
        "explore-range",
    ],
)
def test_parse_plan_form_names_the_bad_field(fields: dict[str, str], needle: str) -> None:
    form, req, errors = parse_plan_form(_fields(**fields))
    assert req is None
    assert any(needle in e for e in errors), errors
    assert form.budget == fields["budget"]  # the form comes back as typed


def test_interval_chart_ticks_sit_on_round_values() -> None:
    pts = [IntervalPoint("a", "", 0.8, 0.19, 0.98), IntervalPoint("b", "", 0.64, 0.2, 0.92, sublabel="x1")]
    root = _parse(str(interval_chart(pts, title="t")))
    ticks = [t.text for t in root.findall(f"{SVG}text") if t.text and t.text.endswith("%")]
    values = [int(t.rstrip("%")) for t in ticks if "（" not in t]
    assert values and all(v % 10 == 0 for v in values)
    assert max(values) == 100  # the axis reaches above the highest interval end
    assert "x1" in "".join(root.itertext())
