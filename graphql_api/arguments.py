"""Cheaper argument conversion: Strawberry converts a resolver's arguments on every call, asking
each argument's annotation for its type; the annotation keeps the resolved type, but checks whether
it is generic each time before answering (a third of a small answer's work went to that). Our
arguments are never generic, so `fast_argument_types` makes their annotations answer from the
kept type at once, exactly as Strawberry would for an argument (no type definition asking)."""

from __future__ import annotations

from typing import Any

from strawberry.annotation import StrawberryAnnotation


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
    for kind in types:
        for field in kind.__strawberry_definition__.fields:
            for argument in field.arguments:
                annotation = argument.type_annotation
                if type(annotation) is not StrawberryAnnotation:
                    continue
                resolved = annotation.resolve()
                if StrawberryAnnotation._is_type_generic(resolved):
                    continue
                annotation.__class__ = _ResolvedAnnotation
                switched += 1
    return switched
