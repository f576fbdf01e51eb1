"""Reversible replacement of one attribute on a class or module (how the local runtime hooks into moto)."""

from __future__ import annotations

from typing import Any

_MISSING = object()  # not applied
_ABSENT = object()  # applied, and the owner had no such attribute before (restore removes it)


class AttributePatch:
    """Swap `owner.name` for `replacement` on `apply()` and put the original back on `restore()`; an attribute
    the owner lacked (an API call moto does not implement) is added, and removed again."""

    def __init__(self, owner: object, name: str, replacement: Any) -> None:
        self._owner = owner
        self._name = name
        self._replacement = replacement
        self._original: Any = _MISSING

    def apply(self) -> None:
        if self._original is not _MISSING:
            return
        # Read from __dict__ when possible so a class gets back its own function, not a bound one.
        namespace = getattr(self._owner, "__dict__", {})
        self._original = namespace.get(self._name, getattr(self._owner, self._name, _ABSENT))
        setattr(self._owner, self._name, self._replacement)

    def restore(self) -> None:
        if self._original is _MISSING:
            return
        if self._original is _ABSENT:
            delattr(self._owner, self._name)
        else:
            setattr(self._owner, self._name, self._original)
        self._original = _MISSING


class PatchSet:
    """Patches applied together and restored in reverse order."""

    def __init__(self, patches: list[AttributePatch]) -> None:
        self._patches = patches

    def apply(self) -> None:
        for patch in self._patches:
            patch.apply()

    def restore(self) -> None:
        for patch in reversed(self._patches):
            patch.restore()
