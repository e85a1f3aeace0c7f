"""One Frontend per deployment format, registered by format.

A frontend reads its format into the DeploymentModel the audit rules look at, and writes the
edits the findings carry (model/edits.py) back into the user's own file: `parse(text, source)
-> (model, handle)`, `apply(handle, service, edits)` (what it could not change, one line each),
`dump(handle) -> text`. Compose, Kubernetes and Podman/Docker files are ruamel round-trip trees
edited through deploy/yamledit.py; shell scripts are edited word by word in place
(deploy/shellwords.py), devcontainer.json element by element (deploy/devcontainer.py). Modules are imported only for the format asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from tpdoctor.deploy.model import DeploymentModel, Format, Service
from tpdoctor.model.edits import Edit

H = TypeVar("H")


class Frontend(Protocol[H]):
    def parse(self, text: str, source: str) -> tuple[DeploymentModel, H]: ...

    def apply(self, handle: H, service: Service, edits: Sequence[Edit]) -> list[str]:
        """Write `edits` (folded: once each, in order) into `service`'s part of the file; returns
        one line per edit, or per command, left as written."""
        ...

    def dump(self, handle: H) -> str: ...

    def notices(self, handle: H) -> list[str]:
        """What the parse could not read or would not edit (a flag from a variable...)."""
        ...


FRONTENDS: dict[Format, str] = {
    "compose": "tpdoctor.deploy.compose",
    "kubernetes": "tpdoctor.deploy.kubernetes",
    "docker": "tpdoctor.deploy.dockerrun",
    "podman": "tpdoctor.deploy.dockerrun",
    "devcontainer": "tpdoctor.deploy.devcontainer",
}


def frontend(fmt: Format) -> Frontend[Any]:
    """The frontend of a format: the FRONTEND object of its module."""
    fe: Frontend[Any] = importlib.import_module(FRONTENDS[fmt]).FRONTEND
    return fe


def unsupported(service: Service, edit: Edit) -> str:
    return f"{type(edit).__name__} has no {service.format} spelling: {edit.why or edit}"
