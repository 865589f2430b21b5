"""Choosing the container platform by the ``PORTICO_PLATFORM`` setting (``ecs`` in AWS, ``local`` locally)."""

from __future__ import annotations

from functools import cache

from portico.errors import ConfigurationError
from portico.hosting.platform import Platform
from portico.settings import get_settings


@cache
def get_platform() -> Platform:
    """The adapter named by the ``platform`` setting (imported lazily: each pulls in its own clients).

    Raises:
        ConfigurationError: an unknown platform name.
    """
    name = get_settings().platform
    if name == "local":
        from portico.hosting.local import LocalPlatform

        return LocalPlatform()
    if name == "ecs":
        from portico.hosting.ecs import EcsPlatform  # type: ignore[import-not-found,unused-ignore]

        return EcsPlatform()  # type: ignore[no-any-return,unused-ignore]
    raise ConfigurationError(f"unknown container platform {name!r}")
