"""What an import turns into: a pairless method, the settings the files imply, and the networks to load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pairless.errors import PairlessError
from pairless.interop.mapping import KeyNames
from pairless.interop.reading import SourceFile, StateDict


@dataclass
class NetworkSource:
    network: str
    """The pairless network it fills, e.g. `G_AB`."""
    state: StateDict
    names: KeyNames
    source: str
    """Where the state comes from, for messages: a file, or a file and its entry."""


@dataclass
class ImportPlan:
    source_format: str
    """The implementation the files come from (a `--from` name)."""
    method: str
    settings: dict[str, Any]
    """Config overrides (`section.field`) the files imply: architecture and channels."""
    networks: list[NetworkSource]
    notes: list[str] = field(default_factory=list)

    def add_settings(self, found: dict[str, Any], source: str) -> None:
        """Settings one network implies; every network of one model must imply the same."""
        for key, value in found.items():
            if self.settings.setdefault(key, value) != value:
                name = key.rsplit(".", 1)[-1]
                setting = f"--{name.replace('_', '-')}" if "." in key else name
                raise PairlessError(f"{source} implies {setting} {value}, another network {self.settings[key]}: "
                                    f"these are not the networks of one model (pairless builds them with one "
                                    f"{setting}); import them separately")


def files_by_role(files: list[SourceFile], roles: dict[str, str], source_format: str) -> list[tuple[str, SourceFile]]:
    """(pairless network, file) for files named as the original code names them (`roles`: the original's
    network name -> pairless's); an unnamed single file is the generator `roles["G"]` stands for."""
    if len(files) == 1 and files[0].role is None and "G" in roles:
        return [(roles["G"], files[0])]
    found: dict[str, SourceFile] = {}
    pairs = []
    for file in files:
        if file.role not in roles:
            known = ", ".join(f"*_net_{role}.pth" for role in roles)
            raise PairlessError(f"{file.path}: not a network file of a {source_format} checkpoint "
                                f"(expected names like {known}, as the original code saves them)")
        network = roles[file.role]
        if network in found:
            raise PairlessError(f"{found[network].path} and {file.path} both hold network {file.role}; give one")
        found[network] = file
        pairs.append((network, file))
    return pairs
