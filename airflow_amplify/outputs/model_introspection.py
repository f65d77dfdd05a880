"""``data.model_introspection`` from the Amplify model schema, without Node.

The Amplify data construct uploads its model schema (GraphQL SDL with Amplify directives such as
``@model``, ``@auth``, ``@primaryKey``, ``@index``, ``@hasMany``, ``@hasOne``, ``@belongsTo``) to S3 and
records its ``s3://`` URI in the ``amplifyApiModelSchemaS3Uri`` stack output. The CLI turns that text
into the model introspection document with @aws-amplify/appsync-modelgen-plugin (target
``introspection``, transformer v2, custom primary keys respected, timestamps added). This module
reproduces that result for the features listed in :data:`SUPPORTED_FEATURES`; anything else raises
:class:`~airflow_amplify.outputs.mapping.NativeOutputsUnsupportedError` naming the feature, so engine
``auto`` can fall back to the CLI.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_amplify.outputs.errors import AmplifyOutputsError, NativeOutputsUnsupportedError
from airflow_amplify.outputs.jscompat import UNDEFINED, js_json_stringify, js_keys, js_truthy
from airflow_amplify.outputs.pluralize import plural

SUPPORTED_FEATURES = (
    "@model types (fields, lists, required, enums, non-model types, timestamps)",
    "@primaryKey (with sortKeyFields), @index (name, sortKeyFields, queryField)",
    "@hasMany, @hasOne, @belongsTo with references or fields, implicit keys",
    "@auth rules (owner, groups, private, public, custom)",
    "custom queries, mutations, subscriptions and input types",
)

METADATA_SCALARS = [
    "ID",
    "Boolean",
    "String",
    "AWSDate",
    "AWSTime",
    "AWSDateTime",
    "AWSEmail",
    "AWSJSON",
    "AWSURL",
    "AWSPhone",
    "AWSIPAddress",
    "Int",
    "Float",
    "AWSTimestamp",
]

#: Enum and input types the Amplify directive definitions declare; the CLI skips user types so named.
DIRECTIVE_TYPES = frozenset(
    [
        "AMPLIFY",
        "AuthRule",
        "ConversationAuth",
        "ConversationHandlerFunctionConfiguration",
        "ToolMap",
        "ConversationInferenceConfiguration",
        "GenerationInferenceConfiguration",
        "HttpHeader",
        "ProjectionInput",
        "ModelMutationMap",
        "ModelQueryMap",
        "ModelSubscriptionMap",
        "TimestampConfiguration",
        "SearchableQueryMap",
        "AuthStrategy",
        "AuthProvider",
        "ModelOperation",
        "ConversationAuthStrategy",
        "ConversationAuthProvider",
        "ConversationToolModelOperation",
        "InvocationType",
        "HttpMethod",
        "ProjectionType",
        "ModelSubscriptionLevel",
        "PredictionsActions",
        "ValidationType",
    ]
)

_UNSUPPORTED_DIRECTIVES = {
    "manyToMany": "@manyToMany relations",
    "generation": "@generation queries (AI generation routes)",
    "conversation": "@conversation mutations (AI conversation routes)",
    "key": "@key (transformer v1)",
    "connection": "@connection (transformer v1)",
}

HAS_ONE, BELONGS_TO, HAS_MANY = "HAS_ONE", "BELONGS_TO", "HAS_MANY"
_DEFAULT_OPERATIONS = ("create", "update", "delete", "read")


class ModelIntrospectionError(AmplifyOutputsError):
    """The model schema is one the CLI's generator rejects too (the message is the generator's)."""

    error_name = "ModelIntrospectionError"


def model_introspection_from_schema(schema_text: str) -> dict[str, Any]:
    """Turn the model schema text into the ``model_introspection`` dict the CLI writes.

    :param schema_text: the GraphQL SDL the data construct stored in S3.
    """
    return _Generator(_parse(schema_text)).generate()


# --- parsing -------------------------------------------------------------------------------------


def _parse(schema_text: str):
    try:
        from graphql import parse  # graphql-core is needed only for a data model
        from graphql.error import GraphQLSyntaxError  # graphql-core is needed only for a data model
    except ImportError as err:  # pragma: no cover - graphql-core ships with Airflow
        raise NativeOutputsUnsupportedError("model introspection without the graphql-core package") from err
    try:
        return parse(schema_text, no_location=True)
    except GraphQLSyntaxError as err:
        raise ModelIntrospectionError(f"Invalid model schema: {err.message}") from err


def _value(node: Any) -> Any:
    """graphql-js ``valueFromASTUntyped`` with JavaScript numbers."""
    kind = node.kind
    if kind == "int_value":
        return float(int(node.value))
    if kind == "float_value":
        return float(node.value)
    if kind in ("string_value", "enum_value"):
        return node.value
    if kind == "boolean_value":
        return node.value
    if kind == "null_value":
        return None
    if kind == "list_value":
        return [_value(v) for v in node.values]
    if kind == "object_value":
        return {f.name.value: _value(f.value) for f in node.fields}
    return UNDEFINED  # variables


def _directives(nodes: Any) -> list[dict[str, Any]]:
    result = []
    for node in nodes or ():
        name = node.name.value
        if name in _UNSUPPORTED_DIRECTIVES:
            raise NativeOutputsUnsupportedError(_UNSUPPORTED_DIRECTIVES[name])
        arguments: dict[str, Any] = {}
        for arg in node.arguments or ():
            arguments[arg.name.value] = _value(arg.value)
            references = arguments.get("references", UNDEFINED)
            if (
                name in ("hasOne", "belongsTo", "hasMany")
                and js_truthy(references)
                and not isinstance(references, list)
            ):
                arguments["references"] = [references]
        result.append({"name": name, "arguments": arguments})
    return result


def _type_info(node: Any) -> dict[str, Any]:
    kind = node.kind
    if kind == "named_type":
        return {"type": node.name.value, "isNullable": True, "isList": False}
    if kind == "non_null_type" and node.type.kind == "list_type":
        return {**_type_info(node.type.type), "isList": True, "isListNullable": False}
    if kind == "non_null_type":
        return {**_type_info(node.type), "isNullable": False}
    return {**_type_info(node.type), "isList": True, "isListNullable": True}


def _field(node: Any) -> dict[str, Any]:
    return {
        "name": node.name.value,
        "directives": _directives(node.directives),
        **_type_info(node.type),
        "parameters": [_input_value(a) for a in node.arguments or ()],
    }


def _input_value(node: Any) -> dict[str, Any]:
    return {"name": node.name.value, "directives": _directives(node.directives), **_type_info(node.type)}


# --- small helpers (the plugin's utils) ---------------------------------------------------------


def _to_camel_case(words: list[str]) -> str:
    return "".join(
        (w[:1].lower() + w[1:]) if i == 0 else (w[:1].upper() + w[1:]) for i, w in enumerate(words)
    )


def _connection_attribute_name(type_name: str, field_name: str | None, component: str = "id") -> str:
    if field_name:
        return _to_camel_case([type_name, field_name, component])
    return _to_camel_case([type_name, component])


_SPLIT = (re.compile(r"([a-z0-9])([A-Z])"), re.compile(r"([A-Z])([A-Z][a-z])"))
_STRIP = re.compile(r"[^A-Z0-9]+", re.IGNORECASE)


def _constant_case(text: str) -> str:
    """change-case 4 ``constantCase``."""
    for pattern in _SPLIT:
        text = pattern.sub("\\1\x00\\2", text)
    text = _STRIP.sub("\x00", text).strip("\x00")
    return "_".join(part.upper() for part in text.split("\x00"))


def _directive(owner: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((d for d in owner["directives"] if d["name"] == name), None)


def _flatten_field_directives(model: dict[str, Any]) -> list[dict[str, Any]]:
    result = []
    for field in model["fields"]:
        for directive in field["directives"]:
            directive["fieldName"] = field["name"]
            result.append(directive)
    return result


def _add_field(model: dict[str, Any], field: dict[str, Any] | None) -> None:
    if field is None:
        raise ModelIntrospectionError(
            f"Cannot read properties of undefined (reading 'name') in {model['name']}"
        )
    if not any(f["name"] == field["name"] for f in model["fields"]):
        model["fields"].append(field)


def _primary_key_components(model: dict[str, Any]) -> list[dict[str, Any]]:
    field = next((f for f in model["fields"] if f.get("primaryKeyInfo")), None)
    if field is None:
        return []
    return [field, *field["primaryKeyInfo"]["sortKeyFields"]]


def _other_side_belongs_to(type_name: str, other: dict[str, Any]) -> dict[str, Any] | None:
    return next(
        (f for f in other["fields"] if f["type"] == type_name and _directive(f, "belongsTo")),
        None,
    )


def _concat(first: list[Any], rest: Any) -> list[Any]:
    """``[first].concat(rest)``: arrays are spread, anything else appended (null/undefined: nothing)."""
    if rest is None or rest is UNDEFINED:
        return list(first)
    return [*first, *rest] if isinstance(rest, list) else [*first, rest]


def _nullish(value: Any, default: Any) -> Any:
    return default if value is None or value is UNDEFINED else value


class _Generator:
    """The introspection visitor of the CLI's model generator, over graphql-core's AST."""

    def __init__(self, document: Any):
        self.model_map: dict[str, dict[str, Any]] = {}
        self.non_model_map: dict[str, dict[str, Any]] = {}
        self.enum_map: dict[str, dict[str, Any]] = {}
        self.query_map: dict[str, dict[str, Any]] = {}
        self.mutation_map: dict[str, dict[str, Any]] = {}
        self.subscription_map: dict[str, dict[str, Any]] = {}
        self.input_map: dict[str, dict[str, Any]] = {}
        self.union_map: dict[str, dict[str, Any]] = {}
        self.interface_map: dict[str, dict[str, Any]] = {}
        self._visit(document)

    # --- collecting types (the plugin's "leave" visitor) -----------------------------------------

    def _visit(self, document: Any) -> None:
        roots = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}
        names: set[str] = set()
        definitions = []
        for node in document.definitions:
            kind = node.kind
            if kind.endswith("_extension"):
                raise NativeOutputsUnsupportedError("type extensions (extend ...) in the model schema")
            if kind == "schema_definition":
                roots = {op.operation.value: op.type.name.value for op in node.operation_types}
                continue
            if kind == "directive_definition":
                continue
            name = node.name.value
            if name in names:
                raise NativeOutputsUnsupportedError(f"a type defined twice in the model schema ({name})")
            names.add(name)
            definitions.append(node)
        defined = {n.name.value for n in definitions if n.kind == "object_type_definition"}
        query, mutation, subscription = (
            roots.get(op) if roots.get(op) in defined else None
            for op in ("query", "mutation", "subscription")
        )
        for node in definitions:
            name = node.name.value
            if name in DIRECTIVE_TYPES:
                continue
            kind = node.kind
            if kind == "object_type_definition":
                self._object_type(node, query, mutation, subscription)
            elif kind == "enum_type_definition":
                values: dict[str, str] = {}
                for value in node.values or ():
                    values[_constant_case(value.name.value)] = value.name.value
                self.enum_map[name] = {"name": name, "type": "enum", "values": values}
            elif kind == "input_object_type_definition":
                fields = [_input_value(f) for f in node.fields or ()]
                self.input_map[name] = {"name": name, "type": "input", "inputValues": fields}
            elif kind == "union_type_definition":
                self.union_map[name] = {"name": name, "typeNames": [t.name.value for t in node.types or ()]}
            elif kind == "interface_type_definition":
                self.interface_map[name] = {"name": name, "fields": [_field(f) for f in node.fields or ()]}

    def _object_type(self, node: Any, query: str | None, mutation: str | None, subscription: str | None):
        name = node.name.value
        directives = _directives(node.directives)
        fields = [_field(f) for f in node.fields or ()]
        model_directive = next((d for d in directives if d["name"] == "model"), None)
        if model_directive is not None:
            model = {"name": name, "type": "model", "directives": directives, "fields": fields}
            self._ensure_primary_key(model)
            self._add_timestamps(model, model_directive)
            model["fields"] = [f for f in model["fields"] if f["name"] == "id"] + [
                f for f in model["fields"] if f["name"] != "id"
            ]
            self.model_map[name] = model
        elif name == query:
            for f in fields:
                self.query_map[f["name"]] = {**f, "operationType": "query"}
        elif name == mutation:
            for f in fields:
                self.mutation_map[f["name"]] = {**f, "operationType": "mutation"}
        elif name == subscription:
            for f in fields:
                self.subscription_map[f["name"]] = {**f, "operationType": "subscription"}
        else:
            self.non_model_map[name] = {
                "name": name,
                "type": "model",
                "directives": directives,
                "fields": fields,
            }

    def _field_by_name(self, model: dict[str, Any], name: Any) -> dict[str, Any]:
        field = next((f for f in model["fields"] if f["name"] == name), None)
        if field is None:
            raise ModelIntrospectionError(f"Cannot find primary key field in type {model['name']}")
        if field["isNullable"]:
            raise ModelIntrospectionError(
                f"The primary key on type '{model['name']}' must reference non-null fields."
            )
        return field

    def _ensure_primary_key(self, model: dict[str, Any]) -> None:
        with_key = next((f for f in model["fields"] if _directive(f, "primaryKey")), None)
        if with_key is None:
            id_field = next((f for f in model["fields"] if f["name"] == "id"), None)
            if id_field is not None:
                id_field["isNullable"] = False
            else:
                model["fields"].insert(
                    0, {"name": "id", "type": "ID", "isNullable": False, "isList": False, "directives": []}
                )
            field = self._field_by_name(model, "id")
            field["primaryKeyInfo"] = {"primaryKeyType": "ManagedId", "sortKeyFields": []}
            return
        field = self._field_by_name(model, with_key["name"])
        directive = next(d for d in _flatten_field_directives(model) if d["name"] == "primaryKey")
        sort_names = directive["arguments"].get("sortKeyFields", UNDEFINED)
        sort_fields = []
        if isinstance(sort_names, list) and sort_names:
            for sort_name in sort_names:
                sort_field = next((f for f in model["fields"] if f["name"] == sort_name), None)
                if sort_field is None:
                    raise ModelIntrospectionError(
                        f"sortKeyFields {sort_name!r} of {model['name']} is not a field of the model"
                    )
                sort_fields.append(sort_field)
        elif js_truthy(sort_names) and not isinstance(sort_names, list):
            raise NativeOutputsUnsupportedError("@primaryKey(sortKeyFields:) that is not a list")
        custom = not (field["name"] == "id" and not sort_fields)
        field["primaryKeyInfo"] = {
            "primaryKeyType": "CustomId" if custom else "OptionallyManagedId",
            "sortKeyFields": sort_fields,
        }

    @staticmethod
    def _add_timestamps(model: dict[str, Any], directive: dict[str, Any]) -> None:
        arguments = directive["arguments"]
        if "timestamps" in arguments and arguments["timestamps"] is None:
            return
        timestamps = arguments.get("timestamps", UNDEFINED)
        names = []
        for key, default in (("createdAt", "createdAt"), ("updatedAt", "updatedAt")):
            value = timestamps.get(key, UNDEFINED) if isinstance(timestamps, dict) else UNDEFINED
            names.append(value if js_truthy(value) else default)
        for name in names:
            _add_field(
                model,
                {
                    "name": name,
                    "directives": [],
                    "type": "AWSDateTime",
                    "isList": False,
                    "isNullable": True,
                    "isReadOnly": True,
                },
            )

    # --- directive processing ------------------------------------------------------------------

    def _process_keys(self) -> None:
        for model in list(self.model_map.values()):
            if not any(d["name"] == "key" and "name" not in d["arguments"] for d in model["directives"]):
                field = next((f for f in model["fields"] if _directive(f, "primaryKey")), None)
                if field is not None:
                    sort = _directive(field, "primaryKey")["arguments"].get("sortKeyFields", UNDEFINED)
                    model["directives"].append(
                        {"name": "key", "arguments": {"fields": _concat([field["name"]], sort)}}
                    )
            keys = []
            for field in model["fields"]:
                for directive in (d for d in field["directives"] if d["name"] == "index"):
                    args = directive["arguments"]
                    fields = _concat([field["name"]], _nullish(args.get("sortKeyFields", UNDEFINED), None))
                    name = _nullish(args.get("name", UNDEFINED), None)
                    if name is None:
                        name = self._default_index_name(model["name"], fields)
                    keys.append(
                        {
                            "name": "key",
                            "arguments": {
                                "name": name,
                                "queryField": args.get("queryField", UNDEFINED),
                                "fields": fields,
                            },
                        }
                    )
            existing = [
                d["arguments"]["name"]
                for d in model["directives"]
                if d["name"] == "key" and js_truthy(d["arguments"].get("name"))
            ]
            model["directives"].extend(k for k in keys if k["arguments"]["name"] not in existing)

    @staticmethod
    def _default_index_name(model_name: str, field_names: list[Any]) -> str:
        name = plural(model_name)
        upper = [str(f)[:1].upper() + str(f)[1:] for f in field_names]
        return f"{name[:1].lower()}{name[1:]}By{'And'.join(upper)}"

    def _other_side(self, model: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
        other = self.model_map.get(field["type"])
        if other is None:
            raise ModelIntrospectionError(
                f"The {field['name']} on model {model['name']} connects to {field['type']}, which is not a model"
            )
        return other

    def _belongs_to_connected_fields(self, model: dict[str, Any], connected: dict[str, Any]) -> list[dict]:
        result = []
        for directive in _flatten_field_directives(connected):
            field = next((f for f in connected["fields"] if f["name"] == directive["fieldName"]), None)
            if field is None:
                continue
            matches = (directive["name"] == "hasOne" and not field["isList"]) or (
                directive["name"] == "hasMany" and field["isList"]
            )
            if matches and model["name"] == field["type"]:
                result.append(field)
        return result

    def _connected_field_for_references(self, field, model, connected, directive_name) -> dict | None:
        info = _directive(field, directive_name)
        references = info["arguments"].get("references", UNDEFINED)
        if not js_truthy(references):
            raise ModelIntrospectionError(
                f"The {field['name']} on model {model['name']} does not have references."
            )
        if js_truthy(info["arguments"].get("fields")):
            raise ModelIntrospectionError("'fields' and 'references' cannot be used together.")
        if info["name"] == "belongsTo":
            for candidate in self._belongs_to_connected_fields(model, connected):
                if any(
                    d["name"] in ("hasOne", "hasMany")
                    and js_truthy(d["arguments"].get("references"))
                    and d["arguments"]["references"] == references
                    for d in candidate["directives"]
                ):
                    return candidate
            raise ModelIntrospectionError(
                f"Error processing @belongsTo directive on {model['name']}.{field['name']}. @hasOne or @hasMany "
                f"directive with references {_refs(references)} was not found in connected model "
                f"{connected['name']}"
            )
        match = next(
            (
                d
                for d in _flatten_field_directives(connected)
                if js_truthy(d["arguments"].get("references")) and d["arguments"]["references"] == references
            ),
            None,
        )
        if match is None:
            raise ModelIntrospectionError(
                f"Error processing @{info['name']} directive on {model['name']}.{field['name']}. @belongsTo "
                f"directive with references {_refs(references)} was not found in connected model "
                f"{connected['name']}"
            )
        return next((f for f in connected["fields"] if f["name"] == match["fieldName"]), None)

    def _reference_fields(self, other: dict[str, Any], references: list[Any]) -> list[dict[str, Any] | None]:
        return [next((f for f in other["fields"] if f["name"] == r), None) for r in references]

    def _has_one(self, field, model, directive) -> dict[str, Any]:
        other = self._other_side(model, field)
        belongs_to = _other_side_belongs_to(model["name"], other)
        if field["isList"] or (belongs_to is not None and belongs_to["isList"]):
            raise ModelIntrospectionError("A hasOne relationship should be 1:1, no lists")
        connection_fields = directive["arguments"].get("fields") or []
        references = directive["arguments"].get("references") or []
        if references:
            self._connected_field_for_references(field, model, other, directive["name"])
            associated = self._reference_fields(other, references)
            return {"kind": HAS_ONE, "associatedWithFields": associated, "connectedModel": other}
        associated = _primary_key_components(other)
        if connection_fields:
            target_names = list(connection_fields)
        else:
            target_names = [
                _connection_attribute_name(model["name"], field["name"], c["name"]) for c in associated
            ]
        return {
            "kind": HAS_ONE,
            "associatedWithFields": associated,
            "connectedModel": other,
            "targetNames": target_names,
        }

    def _belongs_to(self, field, model, directive) -> dict[str, Any]:
        if field["isList"]:
            raise ModelIntrospectionError("A list field does not support the 'belongsTo' relation")
        other = self._other_side(model, field)
        connected = self._belongs_to_connected_fields(model, other)
        if not connected:
            raise ModelIntrospectionError(
                "A 'belongsTo' field should match to a corresponding 'hasMany' or 'hasOne' field"
            )
        references = directive["arguments"].get("references") or []
        if references:
            self._connected_field_for_references(field, model, other, directive["name"])
        other_field = connected[0]
        target_names = [*(directive["arguments"].get("fields") or []), *references]
        if not target_names:
            owner, owner_field = (other, other_field) if other_field["isList"] else (model, field)
            target_names = [
                _connection_attribute_name(owner["name"], owner_field["name"], c["name"])
                for c in _primary_key_components(other)
            ]
        return {
            "kind": BELONGS_TO,
            "connectedModel": other,
            "targetNames": target_names,
            "isUsingReferences": bool(references),
        }

    def _has_many(self, field, model, directive) -> dict[str, Any]:
        if not field["isList"]:
            raise ModelIntrospectionError("A field with hasMany must be a list type")
        other = self._other_side(model, field)
        arguments = directive["arguments"]
        references = arguments.get("references") or []
        if references:
            self._connected_field_for_references(field, model, other, directive["name"])
            associated = self._reference_fields(other, references)
            return {"kind": HAS_MANY, "associatedWithFields": associated, "connectedModel": other}
        index_fields = arguments.get("fields", UNDEFINED)
        if js_truthy(index_fields):
            index_name = arguments.get("indexName", UNDEFINED)
            directives = _flatten_field_directives(other)
            if js_truthy(index_name):
                found = next(
                    (
                        d
                        for d in directives
                        if d["name"] == "index" and d["arguments"].get("name") == index_name
                    ),
                    None,
                )
                if found is None:
                    raise ModelIntrospectionError(
                        f"Error processing @hasMany directive on {model['name']}.{field['name']}, @index "
                        f"directive with name {index_name} was not found in connected model {other['name']}"
                    )
            else:
                found = next((d for d in directives if d["name"] == "primaryKey"), None)
            belongs_to = _other_side_belongs_to(model["name"], other)
            key_name = found["fieldName"] if found else (belongs_to["name"] if belongs_to else "id")
            match = next(
                (
                    f
                    for f in other["fields"]
                    if f["type"] == model["name"]
                    and any(
                        d["name"] == "belongsTo"
                        and js_truthy(d["arguments"].get("fields"))
                        and d["arguments"]["fields"][0] == key_name
                        for d in f["directives"]
                    )
                ),
                None,
            ) or next((f for f in other["fields"] if f["name"] == key_name), None)
            if match is None:
                raise ModelIntrospectionError(f"Can not find key field {key_name} in {other['name']}")
            associated = [match]
        else:
            associated = []
            for component in _primary_key_components(model):
                name = _connection_attribute_name(model["name"], field["name"], component["name"])
                existing = next((f for f in other["fields"] if f["name"] == name), None)
                associated.append(
                    existing
                    or {
                        "name": name,
                        "directives": [],
                        "type": component["type"],
                        "isList": False,
                        "isNullable": True,
                    }
                )
        return {"kind": HAS_MANY, "associatedWithFields": associated, "connectedModel": other}

    def _process_connections(self) -> None:
        for model in list(self.model_map.values()):
            fields = model["fields"]
            for index in range(len(fields)):
                field = fields[index]
                directive = next(
                    (d for d in field["directives"] if d["name"] in ("hasOne", "hasMany", "belongsTo")), None
                )
                if directive is None:
                    continue
                kind = directive["name"]
                if kind == "hasOne":
                    info = self._has_one(field, model, directive)
                elif kind == "belongsTo":
                    info = self._belongs_to(field, model, directive)
                else:
                    info = self._has_many(field, model, directive)
                connected = info["connectedModel"]
                if info["kind"] == HAS_MANY:
                    for associated in info["associatedWithFields"]:
                        _add_field(connected, associated)
                    first = next((f for f in connected["fields"] if f["type"] == model["name"]), None)
                    has_belongs_to = first is not None and _directive(first, "belongsTo") is not None
                    index_named = any(
                        d["name"] == "hasMany" and js_truthy(d["arguments"].get("indexName"))
                        for d in field["directives"]
                    )
                    if not (has_belongs_to or index_named):
                        names = [f["name"] for f in info["associatedWithFields"]]
                        connected["directives"].append(
                            {
                                "name": "key",
                                "arguments": {
                                    "name": f"gsi-{model['name']}.{field['name']}",
                                    "fields": names,
                                },
                            }
                        )
                elif info["kind"] in (HAS_ONE, BELONGS_TO):
                    components = _primary_key_components(connected)
                    targets = info.get("targetNames")
                    if components and targets:
                        for position, target in enumerate(targets):
                            if position >= len(components):
                                raise ModelIntrospectionError(
                                    f"Cannot read properties of undefined (reading 'type') for {model['name']}.{target}"
                                )
                            _add_field(
                                model,
                                {
                                    "name": target,
                                    "directives": [],
                                    "type": components[position]["type"],
                                    "isList": False,
                                    "isNullable": field["isNullable"],
                                },
                            )
                field["connectionInfo"] = info
            model_names = set(self.model_map)
            model["fields"] = [
                f for f in model["fields"] if not (f["type"] in model_names and "connectionInfo" not in f)
            ]

    def _process_auth(self) -> None:
        for model in self.model_map.values():
            model["directives"] = [d for d in model["directives"] if d["name"] != "auth"] + [
                _auth_directive(d) for d in model["directives"] if d["name"] == "auth"
            ]

    # --- output ----------------------------------------------------------------------------------

    def generate(self) -> dict[str, Any]:
        self._process_keys()
        self._process_connections()
        self._process_auth()
        result: dict[str, Any] = {
            "version": 1,
            "models": {name: self._model(m) for name, m in self.model_map.items()},
            "enums": {
                e["name"]: {"name": e["name"], "values": [e["values"][k] for k in js_keys(e["values"])]}
                for e in self.enum_map.values()
            },
            "nonModels": {name: self._non_model(m) for name, m in self.non_model_map.items()},
        }
        queries = {
            name: self._operation(q)
            for name, q in self.query_map.items()
            if not self._skipped_type(q["type"])
        }
        mutations = {
            name: self._operation(m)
            for name, m in self.mutation_map.items()
            if not self._skipped_type(m["type"])
        }
        subscriptions = {
            name: self._operation(s)
            for name, s in self.subscription_map.items()
            if not self._skipped_type(s["type"])
        }
        inputs = {
            name: {"name": i["name"], "attributes": {p["name"]: self._argument(p) for p in i["inputValues"]}}
            for name, i in self.input_map.items()
        }
        for key, section in (
            ("queries", queries),
            ("mutations", mutations),
            ("subscriptions", subscriptions),
            ("inputs", inputs),
        ):
            if section:
                result[key] = section
        return result

    def _type(self, name: str) -> Any:
        if name in METADATA_SCALARS:
            return name
        if name in self.enum_map:
            return {"enum": self.enum_map[name]["name"]}
        if name in self.non_model_map:
            return {"nonModel": name}
        if name in self.model_map:
            return {"model": name}
        if name in self.input_map:
            return {"input": name}
        if name in self.union_map:
            return {"union": name}
        if name in self.interface_map:
            return {"interface": name}
        raise ModelIntrospectionError(
            f"Unknown type {name} found during model introspection schema generation"
        )

    def _skipped_type(self, name: str) -> bool:
        type_ = self._type(name)
        return isinstance(type_, dict) and ("union" in type_ or "interface" in type_)

    def _non_model(self, model: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for field in model["fields"]:
            if self._skipped_type(field["type"]):
                continue
            meta = {
                "name": field["name"],
                "isArray": field["isList"],
                "type": self._type(field["type"]),
                "isRequired": not field["isNullable"],
                "attributes": [],
            }
            if "isListNullable" in field:
                meta["isArrayNullable"] = field["isListNullable"]
            if "isReadOnly" in field:
                meta["isReadOnly"] = field["isReadOnly"]
            association = self._association(field)
            if association is not None:
                meta["association"] = association
            fields[field["name"]] = meta
        return {"name": model["name"], "fields": fields}

    @staticmethod
    def _association(field: dict[str, Any]) -> dict[str, Any] | None:
        info = field.get("connectionInfo")
        if info is None:
            return None
        association: dict[str, Any] = {"connectionType": info["kind"]}
        if info["kind"] in (HAS_MANY, HAS_ONE):
            names = []
            for associated in info["associatedWithFields"]:
                if associated is None:
                    raise ModelIntrospectionError(
                        f"Cannot read properties of undefined (reading 'name') in {field['name']}"
                    )
                names.append(associated["name"])
            association["associatedWith"] = names
            if info["kind"] == HAS_ONE:
                association["targetNames"] = info.get("targetNames") or []
        else:
            association["targetNames"] = info["targetNames"]
        return association

    def _model(self, model: dict[str, Any]) -> dict[str, Any]:
        key_field = next((f for f in model["fields"] if f.get("primaryKeyInfo")), None)
        if key_field is None:
            raise ModelIntrospectionError(f"No primary key found for model {model['name']}")
        key_info = key_field["primaryKeyInfo"]
        return {
            **self._non_model(model),
            "syncable": True,
            "pluralName": plural(model["name"]),
            "attributes": [{"type": d["name"], "properties": d["arguments"]} for d in model["directives"]],
            "primaryKeyInfo": {
                "isCustomPrimaryKey": key_info["primaryKeyType"] == "CustomId",
                "primaryKeyFieldName": key_field["name"],
                "sortKeyFieldNames": [f["name"] for f in key_info["sortKeyFields"]],
            },
        }

    def _argument(self, param: dict[str, Any]) -> dict[str, Any]:
        argument = {
            "name": param["name"],
            "isArray": param["isList"],
            "type": self._type(param["type"]),
            "isRequired": not param["isNullable"],
        }
        if "isListNullable" in param:
            argument["isArrayNullable"] = param["isListNullable"]
        return argument

    def _operation(self, operation: dict[str, Any]) -> dict[str, Any]:
        meta = self._argument(operation)
        if operation["parameters"]:
            meta["arguments"] = {p["name"]: self._argument(p) for p in operation["parameters"]}
        return meta


def _refs(references: Any) -> str:
    return js_json_stringify(references, 0).replace("\n", "")


def _auth_directive(directive: dict[str, Any]) -> dict[str, Any]:
    rules = directive["arguments"].get("rules", UNDEFINED)
    rules = rules if js_truthy(rules) else []
    if not isinstance(rules, list):
        raise NativeOutputsUnsupportedError("@auth(rules:) that is not a list")
    processed = []
    for rule in rules:
        if not isinstance(rule, dict):
            raise NativeOutputsUnsupportedError("@auth rules that are not objects")
        if rule.get("allow") == "groups" and js_truthy(rule.get("groupField")):
            continue
        operations = next(
            (v for v in (rule.get("operations"), rule.get("mutations")) if js_truthy(v)),
            list(_DEFAULT_OPERATIONS),
        )
        claim = next(
            (v for v in (rule.get("identityClaim"), rule.get("identityField")) if js_truthy(v)), "username"
        )
        if rule.get("allow") == "owner":
            owner_field = rule["ownerField"] if js_truthy(rule.get("ownerField")) else "owner"
            new_rule = {"provider": "userPools", "ownerField": owner_field, **rule}
            new_rule["identityClaim"] = "cognito:username" if claim == "username" else claim
        elif rule.get("allow") == "groups":
            new_rule = {"groupClaim": "cognito:groups", "provider": "userPools", **rule}
            new_rule["groupField"] = (
                UNDEFINED if js_truthy(rule.get("groups")) else (rule.get("groupField") or "groups")
            )
        else:
            new_rule = {**rule}
        new_rule["operations"] = operations
        processed.append(new_rule)
    return {**directive, "arguments": {**directive["arguments"], "rules": processed}}
