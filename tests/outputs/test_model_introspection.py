"""Model introspection from the GraphQL schema, as the generator computes it."""

from __future__ import annotations

import json

import pytest

from airflow_amplify.outputs.errors import (
    NativeOutputsUnsupportedError,
)
from airflow_amplify.outputs.jscompat import (
    js_json_stringify,
)
from airflow_amplify.outputs.model_introspection import (
    ModelIntrospectionError,
    model_introspection_from_schema,
)

# --- model introspection ------------------------------------------------------------------------

RELATIONS = """
type Team @model { name: String members: [Member] @hasMany(references: ["teamId"]) }
type Member @model { teamId: ID team: Team @belongsTo(references: ["teamId"]) role: Role }
type Order @model { customerId: ID! @primaryKey(sortKeyFields: ["day"]) day: AWSDate! sku: String @index }
enum Role { ADMIN member }
type Address { city: String }
"""


def test_relations_keys_enums_and_non_models():
    result = model_introspection_from_schema(RELATIONS)
    assert list(result) == ["version", "models", "enums", "nonModels"]
    team, member, order = (result["models"][n] for n in ("Team", "Member", "Order"))
    assert team["fields"]["members"]["association"] == {
        "connectionType": "HAS_MANY",
        "associatedWith": ["teamId"],
    }
    assert member["fields"]["team"]["association"] == {
        "connectionType": "BELONGS_TO",
        "targetNames": ["teamId"],
    }
    assert member["fields"]["role"]["type"] == {"enum": "Role"}
    assert order["primaryKeyInfo"] == {
        "isCustomPrimaryKey": True, "primaryKeyFieldName": "customerId", "sortKeyFieldNames": ["day"],
    }  # fmt: skip
    assert json.loads(js_json_stringify(order["attributes"][1:])) == [
        {"type": "key", "properties": {"fields": ["customerId", "day"]}},
        {"type": "key", "properties": {"name": "ordersBySku", "fields": ["sku"]}},
    ]
    assert result["enums"]["Role"] == {"name": "Role", "values": ["ADMIN", "member"]}
    assert result["nonModels"]["Address"]["fields"]["city"]["type"] == "String"


def test_implicit_has_many_gets_a_foreign_key_field_and_gsi_key():
    result = model_introspection_from_schema("type P @model { cs: [C] @hasMany } type C @model { t: String }")
    c = result["models"]["C"]
    assert "pCsId" in c["fields"]
    assert {"type": "key", "properties": {"name": "gsi-P.cs", "fields": ["pCsId"]}} in c["attributes"]


@pytest.mark.parametrize(
    ("schema", "feature"),
    [
        ("type A @model { bs: [B] @manyToMany(relationName: \"AB\") } type B @model { as: [A] @manyToMany(relationName: \"AB\") }", "@manyToMany"),
        ("type Query { g: String @generation(aiModel: \"x\", systemPrompt: \"y\") }", "@generation"),
        ("type A @model { x: String } extend type A { y: String }", "type extensions"),
    ],
)  # fmt: skip
def test_unsupported_schema_features_name_the_feature(schema, feature):
    with pytest.raises(NativeOutputsUnsupportedError, match=feature) as err:
        model_introspection_from_schema(schema)
    assert feature in err.value.feature


def test_schema_errors_are_the_generators_errors():
    with pytest.raises(ModelIntrospectionError, match="Unknown type Foo"):
        model_introspection_from_schema("type A @model { x: Foo }")
    with pytest.raises(ModelIntrospectionError, match="must reference non-null"):
        model_introspection_from_schema("type A @model { k: ID @primaryKey }")
