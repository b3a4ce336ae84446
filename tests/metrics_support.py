"""Reading a `/metrics` scrape: its samples by name and labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]


class Scrape:
    """The samples of one scrape's text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[Key, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 for a series not reported yet (a counter never moved)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def series(self, name: str) -> list[dict[str, str]]:
        """The label sets reported for `name`."""
        return [dict(labels) for sample, labels in self.samples if sample == name]

    def pools(self) -> dict[str, dict[str, float]]:
        """Each pool's gauges, as `{pool: {"size": .., "in_use": .., ...}}`."""
        gauges: dict[str, dict[str, float]] = {}
        for what in ("size", "in_use", "available", "waiting", "cooling"):
            for labels in self.series(f"objmgr_pool_{what}"):
                gauges.setdefault(labels["pool"], {})[what] = self.value(
                    f"objmgr_pool_{what}", **labels
                )
        return gauges
