"""A table of things by name (the base algorithms, the objectives): one way to add one and one
error for a name it does not hold."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class Named(Protocol):
    name: str


T = TypeVar("T", bound=Named)


class Registry(dict, Generic[T]):
    """``name -> item``; :meth:`register` adds (or replaces) one, :meth:`lookup` names the choices on a miss."""

    def __init__(self, config_key: str) -> None:
        super().__init__()
        self.config_key = config_key  # how users spell the choice: "algorithm", "loss.objective"

    def register(self, item: T) -> T:
        self[item.name] = item
        return item

    def lookup(self, name: str) -> T:
        if name not in self:
            raise ValueError(f"{self.config_key}={name!r}; expected one of {tuple(self)}.")
        return self[name]
