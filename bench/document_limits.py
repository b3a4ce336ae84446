"""Parse + validate + cost of the largest documents the limits accept, against `{ version }`.

Each document is read as a cache miss does (prescan, bounded parse, validation,
cost plans), many times over; the medians and their ratio to `{ version }` are
printed side by side, and so is what a refusal costs (the amplified document of
140 aliased `pool` fields each spreading 140 aliased `leases`):

    .venv/bin/python -m bench.document_limits [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from graphql import get_introspection_query

from app.api.documents import DocumentCache, Prepared
from app.api.schema import schema
from app.api.shape import MAX_FIELDS, MAX_FRAGMENTS, MAX_TOKENS

SMALL = "{ version }"
ACQUIRE = (
    'mutation { acquireObject(pool: "default", owner: "ci-7", label: "job 42", ttl: 60) '
    "{ success code message lease { pool obj owner label token acquiredAt expiresAt } } }"
)


def largest_documents() -> dict[str, str]:
    """Documents at the bounds, each of a shape validation finds costly."""
    aliases = " ".join(f"a{i}: name" for i in range(MAX_FIELDS - 2))
    # 14 tokens and 2 fields each
    pages = min(MAX_FIELDS // 2 - 1, (MAX_TOKENS - 10) // 14)
    paged = " ".join(f"l{i}: leases(first: 1, after: {i}) {{ obj }}" for i in range(pages))
    fragments = " ".join(f"...F{i}" for i in range(MAX_FRAGMENTS))
    definitions = " ".join(
        f"fragment F{i} on Pool {{ f{i}: name s{i}: size }}" for i in range(MAX_FRAGMENTS)
    )
    batch = " ".join(
        f'a{i}: acquireObject(pool: "p{i}", owner: "o", ttl: 60) '
        "{ success code message lease { obj token } }"
        for i in range(20)
    )
    return {
        f"{MAX_FIELDS} aliased fields": f"{{ pool {{ {aliases} }} }}",
        f"{MAX_FIELDS} fields with arguments": f"{{ pool {{ {paged} }} }}",
        f"{MAX_FRAGMENTS} fragments in one set": f"{{ pool {{ {fragments} }} }} {definitions}",
        "20 aliased acquires": f"mutation {{ {batch} }}",
        "GraphiQL's introspection": get_introspection_query(descriptions=True),
    }


def amplified() -> str:
    leases = " ".join(f"l{i}: leases {{ obj }}" for i in range(140))
    pools = " ".join(f"p{i}: pool {{ ...L }}" for i in range(140))
    return f"{{ {pools} }} fragment L on Pool {{ {leases} }}"


def median_us(action: Callable[[], object], repeat: int) -> float:
    action()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200, help="runs per document (median)")
    args = parser.parse_args(argv)
    cache = DocumentCache(schema.graphql_schema, introspection=True)

    def load(query: str) -> Callable[[], object]:
        return lambda: cache._load(query)

    rows: list[tuple[str, str, float]] = []
    for label, query in {"{ version }": SMALL, "acquireObject": ACQUIRE}.items():
        rows.append((label, "accepted", median_us(load(query), args.repeat)))
    for label, query in largest_documents().items():
        entry, _ = cache._load(query)
        verdict = "accepted" if isinstance(entry, Prepared) else "REFUSED"
        rows.append((label, verdict, median_us(load(query), max(10, args.repeat // 10))))
    refused, _ = cache._load(amplified())
    verdict = "refused" if isinstance(refused, tuple) else "ACCEPTED"
    rows.append(("amplified (refused)", verdict, median_us(load(amplified()), args.repeat)))

    small = rows[0][2]
    print(f"parse + validate + cost per document, median µs (bounds: {MAX_TOKENS} tokens,")
    print(f"{MAX_FIELDS} fields, {MAX_FRAGMENTS} fragments), in-process, one core")
    header = f"{'document':<28} {'':<9} {'µs':>9} {'vs { version }':>14}"
    print(header)
    print("-" * len(header))
    for label, verdict, micros in rows:
        print(f"{label:<28} {verdict:<9} {micros:>9.0f} {micros / small:>14.1f}")


if __name__ == "__main__":
    main()
