"""Plural model names as the pluralize package makes them."""

from __future__ import annotations

from airflow_amplify.outputs.pluralize import plural


def test_plural_names_follow_the_pluralize_package():
    assert [plural(w) for w in ("Todo", "Category", "Person", "Media", "Address", "TODO", "Item2")] == [
        "Todos", "Categories", "People", "Media", "Addresses", "TODOS", "Item2s",
    ]  # fmt: skip
