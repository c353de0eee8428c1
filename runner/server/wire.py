"""Dataclasses to JSON values and back, driven by their fields' type hints: a message type is its schema.

`to_wire(value)` turns a dataclass (recursively) into JSON values: enums become their values, paths strings,
tuples lists. `from_wire(hint, data)` checks JSON data against a type hint and builds the value, raising
WireError (saying where and what) when the data does not fit. A dataclass field missing from the data takes
its default, and unknown keys are ignored, so a newer peer may add optional fields.

The encoder and decoder of each type are built once from its hints and cached: the snapshot of thousands of
jobs goes through them.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

Decoder = Callable[[Any, str], Any]
Encoder = Callable[[Any], Any]
_SCALARS: tuple[type, ...] = (str, int, float, bool, type(None))


class WireError(ValueError):
    """Data that does not fit the schema it was read with."""


def to_wire(value: Any) -> Any:
    """The JSON value of `value`: dataclasses become objects of their fields."""
    if type(value) in _SCALARS:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _dataclass_encoder(type(value))(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_wire(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def from_wire(hint: Any, data: Any, where: str = "") -> Any:
    """`data` read as `hint` (a dataclass, enum, scalar, Path, list/tuple/dict of those, a union, or Any)."""
    return decoder_for(hint)(data, where or _name(hint))


@functools.cache
def _dataclass_encoder(cls: type) -> Encoder:
    hints = typing.get_type_hints(cls)
    names = tuple(field.name for field in dataclasses.fields(cls))
    # Fields that hold JSON scalars are copied as they are; only the others go through an encoder.
    converted = tuple((name, to_wire) for name in names if _scalar_types(hints[name]) is None)

    def encode(value: Any) -> dict[str, Any]:
        data = {name: getattr(value, name) for name in names}
        for name, encoder in converted:
            data[name] = encoder(data[name])
        return data

    return encode


def _scalar_types(hint: Any) -> tuple[type, ...] | None:
    """The JSON scalar types a value of this hint may be (int for float too), or None if it may be more."""
    if hint is type(None) or hint in (str, int, bool):
        return (hint,)
    if hint is float:
        return (int, float)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kinds = [_scalar_types(argument) for argument in typing.get_args(hint)]
        if all(kind is not None for kind in kinds):
            return tuple(member for kind in kinds if kind is not None for member in kind)
    return None


@functools.cache
def decoder_for(hint: Any) -> Decoder:
    """The decoder of a type hint, built once."""
    if hint is Any or hint is object:
        return lambda data, where: data
    if hint is type(None) or hint is None:
        return _expect_none
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return _dataclass_decoder(hint)
        if issubclass(hint, enum.Enum):
            return _enum_decoder(hint)
        if hint is Path:
            return lambda data, where: Path(_expect(str, data, where))
        if hint is float:
            return _expect_number
        if hint in (str, int, bool):
            return functools.partial(_expect, hint)
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _union_decoder(arguments)
    if origin is list:
        return _list_decoder(decoder_for(arguments[0]) if arguments else decoder_for(Any))
    if origin is tuple:
        return _tuple_decoder(arguments)
    if origin is dict:
        return _dict_decoder(decoder_for(arguments[1]) if arguments else decoder_for(Any))
    raise TypeError(f"no wire decoder for {hint!r}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def _describe(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def _expect_none(data: Any, where: str) -> None:
    if data is not None:
        raise WireError(f"{where}: expected null, got {_describe(data)}")


def _expect(kind: type, data: Any, where: str) -> Any:
    # bool is an int in Python, not in JSON: refuse true where a number is wanted, and 1 where a bool is.
    if type(data) is not kind:
        raise WireError(f"{where}: expected {_JSON_NAMES[kind]}, got {_describe(data)}")
    return data


def _expect_number(data: Any, where: str) -> float:
    if type(data) not in (int, float):
        raise WireError(f"{where}: expected a number, got {_describe(data)}")
    return float(data)


_JSON_NAMES = {str: "a string", int: "an integer", bool: "true or false"}


def _enum_decoder(cls: type[enum.Enum]) -> Decoder:
    values = {member.value: member for member in cls}
    known = ", ".join(str(value) for value in values)

    def decode(data: Any, where: str) -> enum.Enum:
        try:
            return values[data]
        except (KeyError, TypeError):
            raise WireError(f"{where}: unknown {_describe(data)}; known: {known}") from None

    return decode


def _union_decoder(arguments: tuple[Any, ...]) -> Decoder:
    optional = type(None) in arguments
    decoders = [decoder_for(argument) for argument in arguments if argument is not type(None)]

    def decode(data: Any, where: str) -> Any:
        if data is None and optional:
            return None
        errors = []
        for decoder in decoders:
            try:
                return decoder(data, where)
            except WireError as error:
                errors.append(str(error))
        raise WireError(errors[0] if len(errors) == 1 else f"{where}: fits none of: {'; '.join(errors)}")

    return decode


def _list_decoder(item: Decoder) -> Decoder:
    def decode(data: Any, where: str) -> list[Any]:
        if not isinstance(data, list):
            raise WireError(f"{where}: expected a list, got {_describe(data)}")
        return [item(value, f"{where}[{index}]") for index, value in enumerate(data)]

    return decode


def _tuple_decoder(arguments: tuple[Any, ...]) -> Decoder:
    if len(arguments) == 2 and arguments[1] is Ellipsis:
        as_list = _list_decoder(decoder_for(arguments[0]))
        return lambda data, where: tuple(as_list(data, where))
    items = [decoder_for(argument) for argument in arguments]

    def decode(data: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(data, list) or len(data) != len(items):
            raise WireError(f"{where}: expected a list of {len(items)}, got {_describe(data)}")
        return tuple(
            item(value, f"{where}[{index}]") for index, (item, value) in enumerate(zip(items, data, strict=True))
        )

    return decode


def _dict_decoder(value: Decoder) -> Decoder:
    def decode(data: Any, where: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise WireError(f"{where}: expected an object, got {_describe(data)}")
        return {key: value(item, f"{where}.{key}") for key, item in data.items()}

    return decode


def _dataclass_decoder(cls: type) -> Decoder:
    hints = typing.get_type_hints(cls)
    # Per field: the scalar types it takes (checked inline: most fields are scalars), else its decoder.
    fields = [
        (field.name, _scalar_types(hints[field.name]), decoder_for(hints[field.name]), _has_default(field))
        for field in dataclasses.fields(cls)
        if field.init
    ]

    def decode(data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            raise WireError(f"{where}: expected an object, got {_describe(data)}")
        arguments = {}
        for name, scalars, decoder, optional in fields:
            if name not in data:
                if not optional:
                    raise WireError(f"{where}: {name} is missing")
                continue
            value = data[name]
            if scalars is None:
                arguments[name] = decoder(value, f"{where}.{name}")
            elif type(value) in scalars:
                arguments[name] = value
            else:
                decoder(value, f"{where}.{name}")  # raises, saying what was expected
        try:
            return cls(**arguments)
        except (TypeError, ValueError) as refused:
            raise WireError(f"{where}: {refused}") from None

    return decode


def _has_default(field: dataclasses.Field[Any]) -> bool:
    return field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
