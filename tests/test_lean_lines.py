"""The per-request paths of the logs and the metrics, made cheaper, write what the general
ones write: the same JSON, the same times, the same fields, the same counts."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from app.logs.formatting import FIELDS, JsonFormatter, info_record, iso_time, json_line
from app.logs.setup import StderrHandler
from app.metrics.instruments import DURATION_BUCKETS, increment_of, observation_of

ODD_VALUES: dict[str, object] = {
    "int": 7,
    "big": 10**20,
    "float": 1.5,
    "tiny": 1e-7,
    "nan": float("nan"),
    "none": None,
    "true": True,
    "quoted": 'a "b"\n\u00e9\u2028',
    "list": [1, "two", None],
    "nested": {"k": [{"deep": 1}]},
    "unknown": object,
}


def test_a_json_line_is_what_the_json_encoder_writes() -> None:
    assert json_line(ODD_VALUES) == json.JSONEncoder(default=str).encode(ODD_VALUES)


def test_a_circular_container_is_refused_not_recursed_into_forever() -> None:
    looped: list[object] = []
    looped.append(looped)

    with pytest.raises(ValueError, match="Circular"):
        json_line({"looped": looped})


@pytest.mark.parametrize("seconds", [0.0, 1764619200.0, 1764619200.001, 1764619200.999, 1.9999])
def test_an_iso_time_is_the_datetimes_to_the_millisecond(seconds: float) -> None:
    moment = datetime.fromtimestamp(int(seconds * 1000) / 1000, UTC)

    assert iso_time(seconds) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def test_a_records_own_field_never_replaces_a_fixed_one() -> None:
    logger = logging.getLogger("objmgr.test")
    record = info_record(logger, "the message", {"message": "forged", "time": "x", "own": 1})

    fields = json.loads(JsonFormatter().format(record))

    assert list(fields)[:5] == ["time", "level", "logger", "message", "own"]
    assert fields["message"] == "the message"
    assert fields["time"] != "x"


def test_a_filter_on_the_handler_still_chooses_the_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = io.StringIO()
    monkeypatch.setattr("sys.stderr", written)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(lambda record: record.getMessage() != "dropped")
    logger = logging.getLogger("objmgr.test")

    for message in ("kept", "dropped"):
        handler.handle(info_record(logger, message, {}))

    assert [json.loads(line)["message"] for line in written.getvalue().splitlines()] == ["kept"]


def test_lines_written_from_threads_at_once_never_interleave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = io.StringIO()
    monkeypatch.setattr("sys.stderr", written)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("objmgr.test")

    def write(name: str) -> None:
        for number in range(300):
            handler.handle(info_record(logger, name, {FIELDS: None, "n": number, "pad": "x" * 200}))

    threads = [threading.Thread(target=write, args=(f"t{index}",)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = written.getvalue().splitlines()
    assert len(lines) == 1200
    assert all(json.loads(line)["pad"] == "x" * 200 for line in lines)


def exposition(metric: Counter | Histogram, registry: CollectorRegistry) -> list[str]:
    """The metric's samples in a scrape, under one name for both compared."""
    name = metric._name
    return [
        line.replace(name, "m")
        for line in generate_latest(registry).decode().splitlines()
        # When each was made differs, and is none of the counting.
        if not line.startswith("#") and "_created" not in line
    ]


def test_an_observation_counts_in_the_buckets_observe_counts_in() -> None:
    values = [0.0, 0.001, 0.0011, *DURATION_BUCKETS, 31.0, 1e9, 0.0024999]
    registries = CollectorRegistry(), CollectorRegistry()
    made = [
        Histogram(f"h{index}", "h", ["operation"], buckets=DURATION_BUCKETS, registry=registry)
        for index, registry in enumerate(registries)
    ]
    observe = observation_of(made[0].labels("acquireObject"))
    reference = made[1].labels("acquireObject")

    for value in values:
        observe(value)
        reference.observe(value)

    assert exposition(made[0], registries[0]) == exposition(made[1], registries[1])


def test_an_increment_counts_one_as_inc_does() -> None:
    registries = CollectorRegistry(), CollectorRegistry()
    made = [
        Counter(f"c{index}", "c", ["pool"], registry=registry)
        for index, registry in enumerate(registries)
    ]
    increment = increment_of(made[0].labels("default"))

    for _ in range(5):
        increment()
        made[1].labels("default").inc()

    assert exposition(made[0], registries[0]) == exposition(made[1], registries[1])
