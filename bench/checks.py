"""Checks shared by every validated input: one-line errors naming the value and the allowed."""

from __future__ import annotations


class ConfigError(ValueError):
    """A suite file or override that names a bad key or value."""


def check_types(values: object, expected: dict[str, type | tuple[type, ...]]) -> None:
    for name, kind in expected.items():
        value = getattr(values, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{name} = {value!r}; expected {type_name(kind)}")


def type_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def check_choices(name: str, values: list[str], allowed: list[str]) -> None:
    for value in values:
        if value not in allowed:
            raise ConfigError(f"{name}: unknown value {value!r}; allowed: {', '.join(allowed)}")


def check_positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} = {value}; must be > 0")
