"""Registries: strategies, datasets and model providers by name, built-in and plugins alike.

    @codeloop.strategy("greedy", settings=GreedySettings)   # or a plain factory
    def make_greedy(**settings): ...

    @codeloop.dataset("mine")            # loader(dataset_file, **options) -> list[Task]
    @codeloop.provider("myllm")          # factory(rest, **options) -> Backend

Installed packages register through entry points (groups ``codeloop.strategies``,
``codeloop.datasets``, ``codeloop.providers``); they are read the first time a name is
missing or the registry is listed, not at import.  The built-ins register through the same
registries: their modules are imported on first use, so this module imports nothing of
codeloop (and never the scorer or the runs).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar

__all__ = [
    "DATASETS",
    "PROVIDERS",
    "STRATEGIES",
    "PluginError",
    "Registry",
    "dataset",
    "provider",
    "settings_of",
    "strategy",
]

F = TypeVar("F", bound=Callable[..., Any])


class PluginError(ValueError):
    """A plugin could not be loaded or resolved; the message names it."""


class Registry(MutableMapping[str, Callable[..., Any]]):
    """Name -> factory.  A mapping, so `registry[name] = factory` and `del` work too."""

    def __init__(self, kind: str, group: str, builtins: str) -> None:
        self.kind = kind  # "strategy", "dataset", "provider"
        self.group = group  # entry-point group
        self._builtins = builtins  # module whose import registers the built-ins
        self._factories: dict[str, Callable[..., Any]] = {}
        self._settings: dict[str, type] = {}
        self._origin: dict[str, str] = {}  # name -> "built-in" or the distribution
        self._builtins_loaded = False
        self._plugins_loaded = False

    # -- registration
    def register(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        settings: type | None = None,
        origin: str = "built-in",
    ) -> None:
        self._factories[name] = factory
        self._origin[name] = origin
        if settings is not None:
            self._settings[name] = settings

    def decorator(self, name: str, *, settings: type | None = None) -> Callable[[F], F]:
        def register(factory: F) -> F:
            self.register(name, factory, settings=settings, origin=factory.__module__)
            return factory

        return register

    # -- loading
    def _load_builtins(self) -> None:
        if not self._builtins_loaded:
            self._builtins_loaded = True
            importlib.import_module(self._builtins)

    def load_plugins(self) -> None:
        """Read the entry points of the group (once); PluginError names a broken one."""
        self._load_builtins()
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        # imported here: importlib.metadata brings threading, which the sandbox's zygote
        # (it imports codeloop, hence this module) must not have imported
        from importlib.metadata import entry_points

        for point in entry_points(group=self.group):
            if point.name in self._factories:
                continue
            package = point.dist.name if point.dist is not None else point.value
            try:
                loaded = point.load()
            except Exception as exc:
                raise PluginError(
                    f"{self.kind} plugin {point.name!r} from package {package!r} "
                    f"({point.value}) failed to load: {type(exc).__name__}: {exc}"
                ) from exc
            if not callable(loaded):
                raise PluginError(
                    f"{self.kind} plugin {point.name!r} from package {package!r}: "
                    f"{point.value} is not callable"
                )
            self.register(
                point.name, loaded, settings=getattr(loaded, "settings", None), origin=package
            )

    # -- mapping
    def __getitem__(self, name: str) -> Callable[..., Any]:
        self._load_builtins()
        if name not in self._factories:
            self.load_plugins()
        return self._factories[name]

    def __setitem__(self, name: str, factory: Callable[..., Any]) -> None:
        self._load_builtins()
        self.register(name, factory, origin="registered")

    def __delitem__(self, name: str) -> None:
        self._load_builtins()
        del self._factories[name]
        self._settings.pop(name, None)
        self._origin.pop(name, None)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        if name not in self._factories:
            self.load_plugins()
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        self.load_plugins()
        return iter(list(self._factories))

    def __len__(self) -> int:
        self.load_plugins()
        return len(self._factories)

    def origin(self, name: str) -> str:
        self[name]
        return self._origin.get(name, "registered")

    def settings(self, name: str) -> list[tuple[str, Any]]:
        """The settings `name` takes with their defaults (see `settings_of`)."""
        return settings_of(self[name], self._settings.get(name))


def settings_of(factory: Callable[..., Any], settings: type | None = None) -> list[tuple[str, Any]]:
    """(name, default) of each setting: from a settings dataclass when there is one (the
    factory's `settings` attribute or the one it was registered with), else from the
    factory's keyword parameters (`inspect.Parameter.empty` when it has no default)."""
    cls = settings if settings is not None else getattr(factory, "settings", None)
    if cls is not None and dataclasses.is_dataclass(cls):
        found = []
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default: Any = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = inspect.Parameter.empty
            found.append((f.name, default))
        return found
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        (p.name, p.default)
        for p in parameters
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def resolve_factory(spec: str) -> Callable[..., Any]:
    """`pkg.module:attribute` -> that attribute; PluginError when either is missing."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise PluginError(f"{spec!r}: expected MODULE:FACTORY, e.g. mypkg.strategies:make_mine")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"{spec!r}: cannot import module {module_name!r}: {exc}") from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PluginError(
                f"{spec!r}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not callable(target):
        raise PluginError(f"{spec!r}: {attribute!r} is not callable")
    return target


STRATEGIES = Registry("strategy", "codeloop.strategies", "codeloop.strategies")
DATASETS = Registry("dataset", "codeloop.datasets", "codeloop.tasks")
PROVIDERS = Registry("provider", "codeloop.providers", "codeloop.models.registry")


def strategy(name: str, *, settings: type | None = None) -> Callable[[F], F]:
    """Register a strategy factory: `factory(**settings) -> async solve(ctx) -> Solution`."""
    return STRATEGIES.decorator(name, settings=settings)


def dataset(name: str) -> Callable[[F], F]:
    """Register a dataset loader: `loader(dataset_file: str | None, **options) -> list[Task]`."""
    return DATASETS.decorator(name)


def provider(prefix: str) -> Callable[[F], F]:
    """Register a model provider: `factory(rest: str, **options) -> Backend` for
    model strings `prefix:rest`."""
    return PROVIDERS.decorator(prefix)
