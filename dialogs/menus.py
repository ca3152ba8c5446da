"""What each person is offered: the welcome's, help's and hint's entries by role.

A person's roles come from the directory (``Directory.roles_of``: requester of
municipalities, area contact or deputy of areas, authority administrator of areas) and
from the data: a *named worker* is someone a live grant or an open request names as its
worker. Each role a person has gives one section, in the order of :data:`ROLE_MENU`,
headed by the role and the municipalities or areas it is held in, with that role's
commands; a command shows once, in the first section that has it. Someone with no role
gets no section; the cards then say whom to ask.

A new command for a role is one entry in its row of :data:`ROLE_MENU` (its button text
``menu.button.<command>`` and its help text ``help.cmd.<command>`` in the catalogs).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from access.directory import Directory, Roles
from dialogs.commands import Command

__all__ = ["EVERYONE", "ROLE_MENU", "Menu", "Role", "Section", "menu_for"]


class Role(StrEnum):
    REQUESTER = "requester"
    APPROVER = "approver"
    DEPUTY = "deputy"
    ADMIN = "admin"
    WORKER = "worker"


# role -> the commands offered to it, most used first. One row per role; a new entry
# for a role is one more command in its row.
ROLE_MENU: dict[Role, tuple[Command, ...]] = {
    Role.REQUESTER: (
        Command.NEW,
        Command.CHANGE,
        Command.REVOKE,
        Command.MY_REQUESTS,
        Command.REVIEW,
        Command.MISUSE,
    ),
    Role.APPROVER: (Command.APPROVALS, Command.MISUSE, Command.REVIEW, Command.REPORT),
    Role.DEPUTY: (Command.APPROVALS, Command.MISUSE, Command.REVIEW, Command.REPORT),
    Role.ADMIN: (Command.KEHA, Command.DIRECTORY, Command.REPORT, Command.REVIEW),
    Role.WORKER: (Command.MY_ACCESS,),
}

# Offered to everyone, role or not (help lists them; they have no section of their own).
EVERYONE: tuple[Command, ...] = (
    Command.MY_DATA,
    Command.PRIVACY,
    Command.LANGUAGE,
    Command.HELP,
    Command.CANCEL,
)


@dataclass(frozen=True)
class Section:
    """One role of the person: where they hold it and the commands it adds."""

    role: Role
    places: tuple[str, ...]  # municipality or area names (none for a worker)
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class Menu:
    """Everything one person is offered, one section per role (none: no role)."""

    sections: tuple[Section, ...] = ()

    @property
    def has_role(self) -> bool:
        return bool(self.sections)

    @property
    def roles(self) -> tuple[Role, ...]:
        return tuple(s.role for s in self.sections)

    @property
    def commands(self) -> tuple[Command, ...]:
        """Every command of every section, in order, each once."""
        return tuple(c for s in self.sections for c in s.commands)


def _places(directory: Directory, role: Role, roles: Roles, locale: str) -> tuple[str, ...]:
    if role is Role.REQUESTER:
        found = (directory.municipality(code) for code in roles.requester_for)
        return tuple(sorted(m.name for m in found if m is not None))
    codes = {
        Role.APPROVER: roles.approver_in,
        Role.DEPUTY: roles.deputy_in,
        Role.ADMIN: roles.admin_in,
    }.get(role, frozenset())
    areas = (directory.area(code) for code in codes)
    return tuple(sorted(a.name.get(locale) for a in areas if a is not None))


def _holds(role: Role, roles: Roles, worker: bool) -> bool:
    return {
        Role.REQUESTER: bool(roles.requester_for),
        Role.APPROVER: bool(roles.approver_in),
        Role.DEPUTY: bool(roles.deputy_in),
        Role.ADMIN: bool(roles.admin_in),
        Role.WORKER: worker,
    }[role]


def menu_for(directory: Directory, roles: Roles, *, worker: bool, locale: str) -> Menu:
    """The menu of a person with the directory's ``roles`` (``worker``: a live grant or
    an open request names them); names of areas in ``locale``."""
    shown: set[Command] = set()
    sections: list[Section] = []
    for role, commands in ROLE_MENU.items():
        if not _holds(role, roles, worker):
            continue
        new = tuple(c for c in commands if c not in shown)
        shown.update(new)
        sections.append(Section(role, _places(directory, role, roles, locale), new))
    return Menu(tuple(sections))
