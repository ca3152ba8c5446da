"""The access lifecycle, by aggregate, on one command runner.

:class:`AccessService` builds the :class:`access.runner.CommandRunner` (unit of work,
clock, ids, the directory in force) and the services that use it:

* ``requests`` (:class:`access.requests.RequestService`): submit, cancel, return,
  resubmit, approve, reject, revoke by the municipality, revoke for misuse;
* ``handoff`` (:class:`access.handoff.HandoffService`): the KEHA hand-off - batch,
  sent, confirm a row;
* ``jobs`` (:class:`access.jobs.JobService`): scheduled expiry and ending of grants;
* ``queries`` (:class:`access.queries.QueryService`): one request, lists, my data,
  the audit chain;
* ``agreements`` (:class:`access.agreements.AgreementService`): an agreement dissolved
  for breach removes every right of the municipality at once;
* ``acknowledgements`` (:class:`access.acknowledgements.Acknowledgements`): the
  worker's acknowledgement of the data-protection terms.

Every command authorises the actor, checks the transition and the rules, and writes
its state, audit row(s), outbox rows and idempotency key in ONE unit of work, committed
once (:meth:`access.runner.CommandRunner.run`). Time comes from the injected
:class:`Clock`, ids from the :class:`IdSource`.
"""

from __future__ import annotations

from collections.abc import Callable

from access.acknowledgements import Acknowledgements
from access.agreements import AgreementService
from access.directory import Directory, Roles
from access.handoff import HandoffService
from access.jobs import JobService
from access.ports import Clock, IdSource, UnitOfWork, UnitOfWorkFactory
from access.queries import QueryService
from access.requests import RequestService
from access.runner import CommandRunner

__all__ = ["AccessService"]


class AccessService:
    """The access lifecycle. Construct once per process; it holds no state of its own."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        directory: Directory | Callable[[], Directory],
        clock: Clock | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self.runner: CommandRunner[UnitOfWork] = CommandRunner(uow_factory, directory, clock, ids)
        self.requests = RequestService(self.runner)
        self.handoff = HandoffService(self.runner)
        self.jobs = JobService(self.runner)
        self.queries = QueryService(self.runner)
        self.acknowledgements = Acknowledgements(self.runner)
        self.agreements = AgreementService(self.runner)

    @property
    def directory(self) -> Directory:
        """The current directory (a callable directory is asked on every use)."""
        return self.runner.directory

    @property
    def clock(self) -> Clock:
        return self.runner.clock

    @property
    def ids(self) -> IdSource:
        return self.runner.ids

    @property
    def uow_factory(self) -> UnitOfWorkFactory:
        return self.runner.uow_factory

    def roles_of(self, actor: str) -> Roles:
        return self.runner.roles_of(actor)
