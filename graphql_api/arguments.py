"""Cheaper argument conversion: Strawberry converts a resolver's arguments on every call, asking
each argument's annotation for its type; the annotation keeps the resolved type, but checks whether
it is generic each time before answering (a third of a small answer's work went to that). Our
arguments are never generic, so `fast_argument_types` makes their annotations answer from the
kept type at once, exactly as Strawberry would for an argument (no type definition asking). It also
writes each argument's GraphQL name down once: Strawberry camel-cases the Python name again for
every argument of every call otherwise (the same name the schema was built with). And an argument
whose value Strawberry hands over unchanged (a scalar, an enum, a list of them: what graphql-core
coerced already) skips Strawberry's conversion, which asks a dozen isinstance questions of its type on
every call to find that out (`_convert_arguments`); input objects and the rest go through it as before."""

from __future__ import annotations

from typing import Any, Mapping

from strawberry.annotation import StrawberryAnnotation
from strawberry.relay.types import GlobalID
from strawberry.schema import schema_converter
from strawberry.schema.name_converter import NameConverter
from strawberry.types import arguments as strawberry_arguments
from strawberry.types.arguments import StrawberryArgument, _is_leaf_type, _is_optional_leaf_type
from strawberry.types.base import StrawberryList, StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import has_enum_definition


class _ResolvedAnnotation(StrawberryAnnotation):
    __slots__ = ()

    def resolve(self, *, type_definition: Any = None) -> Any:
        resolved = self.__resolve_cache__
        if resolved is not None and type_definition is None:
            return resolved  # what StrawberryAnnotation.resolve returns then, without the generic check
        return super().resolve(type_definition=type_definition)


def fast_argument_types(*types: Any) -> int:
    """Switch the argument annotations of the fields of `types` (Strawberry types) to the fast path;
    returns how many. Only annotations whose type is resolved already and not generic are switched."""
    switched = 0
    names = NameConverter()  # StrawberryConfig's default (auto_camel_case), the schema's
    for kind in types:
        for field in kind.__strawberry_definition__.fields:
            for argument in field.arguments:
                if argument.graphql_name is None:
                    argument.graphql_name = names.from_argument(argument)
                annotation = argument.type_annotation
                if type(annotation) is not StrawberryAnnotation:
                    continue
                resolved = annotation.resolve()
                if StrawberryAnnotation._is_type_generic(resolved):
                    continue
                annotation.__class__ = _ResolvedAnnotation
                switched += 1
    return switched


def _unchanged(argument: StrawberryArgument, scalar_registry: Mapping[object, Any]) -> bool:
    """Whether Strawberry's convert_argument returns any value of this argument as it is: an optional or
    required leaf (scalar or enum, not a GlobalID) or a list of (optional) leaves; not Maybe."""
    kind = argument.type
    if isinstance(kind, StrawberryMaybe):
        return False
    if isinstance(kind, StrawberryOptional):
        kind = kind.of_type
    if isinstance(kind, StrawberryList):
        return _is_leaf_type(kind.of_type, scalar_registry, skip_classes=(GlobalID,)) or _is_optional_leaf_type(
            kind.of_type, scalar_registry, skip_classes=(GlobalID,))
    return kind is not GlobalID and (_is_leaf_type(kind, scalar_registry) or has_enum_definition(kind))


_UNCHANGED: dict[tuple[int, int], tuple[StrawberryArgument, bool]] = {}


def _convert_arguments(value: dict[str, Any], arguments: list[StrawberryArgument],
                       scalar_registry: Mapping[object, Any], config: Any) -> dict[str, Any]:
    """strawberry.types.arguments.convert_arguments, answering at once for arguments passed unchanged."""
    kwargs: dict[str, Any] = {}
    for argument in arguments:
        name = argument.graphql_name or config.name_converter.from_argument(argument)
        if name not in value:
            continue
        key = (id(argument), id(scalar_registry))
        known = _UNCHANGED.get(key)
        if known is None or known[0] is not argument:  # kept with its argument: the id is not reused
            known = _UNCHANGED[key] = (argument, _unchanged(argument, scalar_registry))
        current = value[name]
        kwargs[argument.python_name] = current if known[1] else strawberry_arguments.convert_argument(
            value=current, type_=argument.type, config=config, scalar_registry=scalar_registry)
    return kwargs


schema_converter.convert_arguments = _convert_arguments  # what the resolvers' get_arguments calls
