"""The live schema documents itself: GraphiQL's docs pane is a complete reference."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    specified_scalar_types,
)

from app.api.schema import schema
from app.api.schema_print import SDL_PATH, sdl


def undocumented() -> list[str]:
    """Every type, field, argument, input field and enum value without a description."""
    missing: list[str] = []

    def check(where: str, description: str | None) -> None:
        if not (description and description.strip()):
            missing.append(where)

    for name, kind in sorted(schema.graphql_schema.type_map.items()):
        if name.startswith("__") or name in specified_scalar_types:
            continue
        check(name, kind.description)
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in kind.fields.items():
                check(f"{name}.{field_name}", field.description)
                for arg_name, arg in field.args.items():
                    check(f"{name}.{field_name}({arg_name}:)", arg.description)
        elif isinstance(kind, GraphQLInputObjectType):
            for field_name, field in kind.fields.items():
                check(f"{name}.{field_name}", field.description)
        elif isinstance(kind, GraphQLEnumType):
            for value_name, value in kind.values.items():
                check(f"{name}.{value_name}", value.description)
    return missing


def test_every_element_of_the_schema_has_a_description() -> None:
    missing = undocumented()
    assert not missing, "no description: " + ", ".join(missing)


def test_the_check_sees_every_kind_of_element() -> None:
    names = {name for name in schema.graphql_schema.type_map if not name.startswith("__")}
    assert {"Query", "Mutation", "Lease", "ErrorCode", "BigInt"} <= names


def test_no_description_says_seed_compatible() -> None:
    assert "seed-compatible" not in sdl().lower()


def test_docs_schema_graphql_is_the_live_schema() -> None:
    written = SDL_PATH.read_text(encoding="utf-8") if SDL_PATH.exists() else ""
    assert written == sdl(), (
        f"{SDL_PATH.name} differs from the live schema; "
        "regenerate it with `.venv/bin/python -m app.api.schema_print`"
    )
