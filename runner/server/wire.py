"""Dataclasses to JSON values and back, driven by their fields' type hints: a message type is its schema.

`to_wire(value)` turns a dataclass (recursively) into JSON values: enums become their values, paths strings,
tuples lists. `from_wire(hint, data)` checks JSON data against a type hint and builds the value, raising
WireError (saying where and what) when the data does not fit. A dataclass field missing from the data takes
its default, and unknown keys are ignored, so a newer peer may add optional fields. A field typed Any is
carried as it is, both ways: it must hold JSON values. A field marked
`metadata={"wire": False}` does not travel; a class with a `__wire_decode__(data, where)` classmethod is read
by it (a client's view that is built from a summary rather than from the same fields).

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
_MISSING = object()


class WireError(ValueError):
    """Data that does not fit the schema it was read with."""


def to_wire(value: Any) -> Any:
    """The JSON value of `value`: dataclasses become objects of their fields."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {str(key): to_wire(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [to_wire(item) for item in value]
    if hasattr(kind, "__dataclass_fields__"):
        return _dataclass_encoder(kind)(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(key): to_wire(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(item) for item in value]
    return value


def encode_fields(cls: type, value: Any) -> dict[str, Any]:
    """The fields of dataclass `cls`, read from `value` (any object with those attributes), as JSON."""
    data: dict[str, Any] = _dataclass_encoder(cls)(value)
    return data


def from_wire(hint: Any, data: Any, where: str = "") -> Any:
    """`data` read as `hint` (a dataclass, enum, scalar, Path, list/tuple/dict of those, a union, or Any)."""
    return decoder_for(hint)(data, where or _name(hint))


@functools.cache
def _dataclass_encoder(cls: type) -> Encoder:
    """`{"field": value.field, ...}` compiled for the class; only fields that are not JSON scalars go through
    an encoder (the way dataclasses writes its own __init__: a snapshot of thousands of jobs goes through)."""
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {}
    items = []
    for index, field in enumerate(_wire_fields(cls)):
        encoder = _encoder_for(hints[field.name])
        if encoder is None:
            items.append(f"{field.name!r}: value.{field.name}")
        else:
            namespace[f"_encode{index}"] = encoder
            items.append(f"{field.name!r}: _encode{index}(value.{field.name})")
    return typing.cast(
        Encoder, _compile("encode", ["def encode(value):", f"    return {{{', '.join(items)}}}"], namespace)
    )


def _wire_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields that travel: those a dataclass did not mark `metadata={"wire": False}` (a client's own state)."""
    return [field for field in dataclasses.fields(cls) if field.init and field.metadata.get("wire", True)]


def _compile(name: str, lines: list[str], namespace: dict[str, Any]) -> Any:
    exec("\n".join(lines), namespace)  # our own source, built from the field names
    return namespace[name]


def _encoder_for(hint: Any) -> Encoder | None:
    """The encoder of a field's values, specialised for its hint; None when they are JSON as they are (scalars,
    and Any: a field typed Any must hold JSON already, as a job's result is made JSON-safe by the server)."""
    if hint is Any or _scalar_types(hint) is not None:
        return None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_encoder(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_value
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        others = [argument for argument in arguments if argument is not type(None)]
        if len(others) == 1 and (encoder := _encoder_for(others[0])) is not None:
            inner = encoder
            return lambda value: None if value is None else inner(value)
    if origin is list and arguments:
        item = _encoder_for(arguments[0])
        if item is None:
            return list
        inner_item = item
        return lambda values: [inner_item(value) for value in values]
    return to_wire


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else to_wire(value)


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
        return _pass_through
    if hint is type(None) or hint is None:
        return _expect_none
    if isinstance(hint, type):
        if hasattr(hint, "__wire_decode__"):
            return typing.cast(Decoder, hint.__wire_decode__)
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


def _pass_through(data: Any, where: str) -> Any:
    return data


def _list_decoder(item: Decoder) -> Decoder:
    def decode(data: Any, where: str) -> list[Any]:
        if not isinstance(data, list):
            raise WireError(f"{where}: expected a list, got {_describe(data)}")
        if item is _pass_through:
            return list(data)
        try:
            return [item(value, where) for value in data]
        except WireError:  # say which item: decode again, naming each (only the error path pays for the names)
            for index, value in enumerate(data):
                item(value, f"{where}[{index}]")
            raise

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
        if value is _pass_through:
            return dict(data)
        try:
            return {key: value(item, where) for key, item in data.items()}
        except WireError:  # as for lists: name the entry on the error path only
            for key, item in data.items():
                value(item, f"{where}.{key}")
            raise

    return decode


def _dataclass_decoder(cls: type) -> Decoder:
    """A decoder compiled for the class: each field read, checked inline when it is a scalar (most are) or
    through its type's decoder, defaulted when missing, then one call of the class."""
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {"_cls": cls, "_missing": _MISSING, "WireError": WireError, "_describe": _describe}
    lines = [
        "def decode(data, where):",
        "    if type(data) is not dict:",
        "        raise WireError(where + ': expected an object, got ' + _describe(data))",
    ]
    arguments = []
    for index, field in enumerate(_wire_fields(cls)):
        name, hint, value = field.name, hints[field.name], f"v{index}"
        lines.append(f"    {value} = data.get({name!r}, _missing)")
        lines.append(f"    if {value} is _missing:")
        if field.default is not dataclasses.MISSING:
            namespace[f"_default{index}"] = field.default
            lines.append(f"        {value} = _default{index}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory{index}"] = field.default_factory
            lines.append(f"        {value} = _factory{index}()")
        else:
            lines.append(f"        raise WireError(where + {': ' + name + ' is missing'!r})")
        namespace[f"_decode{index}"] = decoder_for(hint)
        scalars = _scalar_types(hint)
        if scalars is not None:
            namespace[f"_scalars{index}"] = scalars
            lines.append(f"    elif type({value}) not in _scalars{index}:")
            lines.append(f"        _decode{index}({value}, where + {'.' + name!r})  # raises, saying why")
        elif hint is not Any and hint is not object:
            lines.append("    else:")
            lines.append(f"        {value} = _decode{index}({value}, where + {'.' + name!r})")
        arguments.append(f"{name}={value}")
    lines += [
        "    try:",
        f"        return _cls({', '.join(arguments)})",
        "    except (TypeError, ValueError) as refused:",
        "        raise WireError(where + ': ' + str(refused)) from None",
    ]
    return typing.cast(Decoder, _compile("decode", lines, namespace))
