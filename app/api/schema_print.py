"""Write the live schema's SDL to `docs/schema.graphql`.

Run `python -m app.api.schema_print` after changing the schema; a test checks
that the file matches.
"""

from __future__ import annotations

from pathlib import Path

from graphql import print_schema

from .schema import schema

SDL_PATH = Path(__file__).resolve().parents[2] / "docs" / "schema.graphql"


def sdl() -> str:
    """The live schema as SDL, ending with a newline."""
    return print_schema(schema.graphql_schema) + "\n"


def main() -> None:
    SDL_PATH.write_text(sdl(), encoding="utf-8")
    print(f"wrote {SDL_PATH}")


if __name__ == "__main__":
    main()
