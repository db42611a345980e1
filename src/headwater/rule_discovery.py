"""Rules in a discovery run (spec §10.2): fold the run's cases, name the actors, emit.

`RuleFolder` joins `discover.Collector` as a consumer of cases. It keeps a
`core.rules.RuleBuilder` per entity type and step field of the organisation-wide
processes (the per-source narrowings have no rules of their own), dropping the
action-step builder once a step field is seen, as the collector does. At the end, the
step field each process chose picks its builder.
"""

from __future__ import annotations

from collections.abc import Sequence

from headwater.core.knowledge import DiscoverParameters, ProcessRow
from headwater.core.process import Case
from headwater.core.rules import Rule, RuleBuilder
from headwater.store.base import Store

#: the organisation-wide scope of `discover.Collector`
ALL_SOURCES = ""


class RuleFolder:
    def __init__(self) -> None:
        self.builders: dict[tuple[str, str | None], RuleBuilder] = {}

    def add(self, scope: str, entity_type: str, step_field: str | None, case: Case) -> None:
        if scope != ALL_SOURCES:
            return
        if step_field is not None:
            self.builders.pop((entity_type, None), None)
        builder = self.builders.get((entity_type, step_field))
        if builder is None:
            builder = self.builders[(entity_type, step_field)] = RuleBuilder()
        builder.add(case)

    def rules(
        self,
        store: Store,
        org_id: str,
        processes: Sequence[ProcessRow],
        parameters: DiscoverParameters,
    ) -> list[Rule]:
        """The rules of every organisation-wide process in `processes`."""
        found: list[Rule] = []
        for process in processes:
            if process.scope != ALL_SOURCES:
                continue
            builder = self.builders.get((process.entity_type, process.step_field))
            if builder is None:
                continue
            args = (org_id, process.process_id, process.entity_type, parameters.minSupport,
                    parameters.minConfidence)  # fmt: skip
            rules = builder.rules(*args)
            actors = sorted({r.condition["actorId"] for r in rules if r.type == "actor"})
            if actors:  # name them: the thresholds do not depend on names
                rules = builder.rules(*args, _actor_names(store, org_id, actors))
            found += rules
        return found


def _actor_names(store: Store, org_id: str, actor_ids: Sequence[str]) -> dict[str, str]:
    """How descriptions name actors: email, else name, else id."""
    names = {}
    for actor_id in actor_ids:
        actor = store.get_actor(org_id, actor_id)
        if actor is not None:
            names[actor_id] = actor.email or actor.name or actor_id
    return names
