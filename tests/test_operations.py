"""objmgr_client.operations, the one set of documents, against the live schema.

Every document is one operation named as its key that validates against the
schema the server serves, within the bounds on shape it reads documents with: a
client, a test, the bench or the Postman collection that sends one is sending
something the server takes.
"""

from __future__ import annotations

import pytest
from graphql import OperationDefinitionNode, parse, validate
from objmgr_client.operations import OPERATIONS

from app.api.schema import schema
from app.api.shape import read


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_document_is_one_operation_named_as_its_key(name: str) -> None:
    document = parse(OPERATIONS[name])
    (operation,) = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    assert operation.name is not None and operation.name.value == name


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_document_validates_against_the_live_schema(name: str) -> None:
    document, _tokens = read(OPERATIONS[name])  # raises TooComplex beyond the shape limits
    errors = validate(schema.graphql_schema, document)
    assert not errors, [error.message for error in errors]
