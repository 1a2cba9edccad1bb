"""Helpers shared by the config dataclasses (networks, training, stage settings)."""

from __future__ import annotations

from dataclasses import fields

from .errors import BadInput


def check_known_fields(cls, d: dict) -> None:
    """ValueError naming ``cls`` and every key of ``d`` that is not one of its fields."""
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise BadInput(f"unknown {cls.__name__} fields: {sorted(unknown)}")
