"""CloudFormation models of the local world for AWS AppSync (moto 5.2 skips these types)."""

from __future__ import annotations

MODELS: dict[str, type] = {}

__all__ = ["MODELS"]
