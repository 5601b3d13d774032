"""Line protocol: what the client writes reads back identical from a real influxd."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streetlight.influx import InfluxClient, LineProtocolError, Point, quote_ident
from streetlight.influx.line_protocol import encode_line, format_field_value, series_key

# names may hold anything but a backslash and control characters (see line_protocol.py)
names = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\\"),
    min_size=1,
    max_size=20,
).filter(lambda s: s != "time")
measurements = names.filter(lambda s: not s.startswith("#"))
strings = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)
field_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    strings,
)


@st.composite
def points(draw: st.DrawFn) -> Point:
    tag_keys = draw(st.lists(names, max_size=4, unique=True))
    field_keys = draw(
        st.lists(names.filter(lambda k: k not in tag_keys), min_size=1, max_size=4, unique=True)
    )
    return Point(
        measurement=draw(measurements),
        tags={key: draw(names) for key in tag_keys},
        fields={key: draw(field_values) for key in field_keys},
        time_ns=draw(st.integers(min_value=0, max_value=2**62)),
    )


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, float) and not isinstance(expected, bool):
        # InfluxDB answers in JSON, where 3.0 comes back as 3 (and -0.0 as 0, an equal float)
        return isinstance(got, int | float) and float(got) == expected
    return type(got) is type(expected) and got == expected


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(point=points())
async def test_written_point_reads_back_identical(influx: InfluxClient, point: Point) -> None:
    db = quote_ident(influx.database)
    await influx.execute(f"DROP DATABASE {db}")
    await influx.execute(f"CREATE DATABASE {db}")
    await influx.write_lines([point.to_line()])

    series = await influx.query("SELECT * FROM /.*/ GROUP BY *")

    assert len(series) == 1
    (row,) = series[0].values
    got = dict(zip(series[0].columns, row, strict=True))
    assert series[0].name == point.measurement
    assert series[0].tags == dict(point.tags)
    assert got.pop("time") == point.time_ns
    assert set(got) == set(point.fields)
    for key, value in point.fields.items():
        assert _same(value, got[key]), f"field {key!r}: wrote {value!r}, read {got[key]!r}"


def test_escaping_of_each_part() -> None:
    line = encode_line(
        series_key("lamp power", {"site,id": "a=b c"}), {"note": 'say "hi" \\o/', "n": 3}, 7
    )
    assert line == 'lamp\\ power,site\\,id=a\\=b\\ c note="say \\"hi\\" \\\\o/",n=3i 7'


def test_tags_are_sorted_and_empty_values_left_out() -> None:
    assert series_key("m", {"b": "2", "a": "1", "c": ""}) == "m,a=1,b=2"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"x": math.nan}, "not a finite number"),
        ({"x": math.inf}, "not a finite number"),
        ({"x": 2**63}, "outside int64"),
        ({"time": 1.0}, "reserved"),
        ({"a\\b": 1.0}, "cannot store"),
        ({"x": None}, "no fields"),
    ],
)
def test_unrepresentable_fields_are_refused_with_a_reason(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(LineProtocolError, match=reason):
        encode_line("m", fields, 0)


@pytest.mark.parametrize(
    ("measurement", "tags", "reason"),
    [
        ("a\\b", {}, "cannot store"),
        ("#comment", {}, "comment"),
        ("m", {"k": "line\nbreak"}, "cannot store"),
        ("m", {"time": "x"}, "reserved"),
        ("", {}, "must not be empty"),
    ],
)
def test_unrepresentable_names_are_refused(
    measurement: str, tags: dict[str, str], reason: str
) -> None:
    with pytest.raises(LineProtocolError, match=reason):
        series_key(measurement, tags)


def test_field_values_render_by_type() -> None:
    assert format_field_value("b", True) == "true"
    assert format_field_value("i", 5) == "5i"
    assert format_field_value("f", 0.1) == "0.1"
    assert format_field_value("s", "x") == '"x"'
