"""Run config checked against the deployment's settings when a run's resources start, before any asset of
the run computes: each value within the constraint `ClioSettings` declares for it, and no privacy setting
weaker than the deployment's (`clio_dagster.core.privacy.floor_refusals`)."""

from functools import lru_cache
from typing import Annotated

import dagster as dg
from pydantic import TypeAdapter, ValidationError

from clio_dagster.core.privacy import PrivacyFloors, floor_refusals
from clio_dagster.settings import ClioSettings


def setting_default(name: str) -> object:
    """The default `ClioSettings` declares for a setting: a resource's field default is this, never a copy
    (Dagster falls back to it for fields a run's config leaves out)."""
    return ClioSettings.model_fields[name].get_default(call_default_factory=True)


@lru_cache(maxsize=None)
def _settings_field(name: str) -> TypeAdapter | None:
    field = ClioSettings.model_fields.get(name)
    if field is None:
        return None
    return TypeAdapter(Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)


def settings_violations(resource: dg.ConfigurableResource) -> list[str]:
    """Fields of a resource that break the constraint `ClioSettings` declares for the setting of that name (a
    run config can set any value Dagster's schema types allow; the settings say which are valid)."""
    reasons = []
    for name in type(resource).model_fields:
        adapter = _settings_field(name)
        if adapter is None:
            continue
        try:
            adapter.validate_python(getattr(resource, name))
        except ValidationError as exc:
            reasons.append(f"{name}={getattr(resource, name)!r}: {exc.errors()[0]['msg']}")
    return reasons


def _refuse(resource: dg.ConfigurableResource, reasons: list[str]) -> None:
    if reasons:
        raise dg.Failure(
            description=f"Run refused: its config for resource {type(resource).__name__} breaks this deployment's "
                        "settings: " + "; ".join(reasons) + ".",
            allow_retries=False,
        )


def refuse_invalid_run(resource: dg.ConfigurableResource) -> None:
    _refuse(resource, settings_violations(resource))


def refuse_weaker_run(resource: dg.ConfigurableResource, floors: PrivacyFloors) -> None:
    """Also refuses a privacy threshold below the deployment's floor, or a loosening switch it left off."""
    values = {name: getattr(resource, name) for name in type(resource).model_fields if name != "floors"}
    _refuse(resource, settings_violations(resource) + floor_refusals(floors, values))


class DeploymentGuardedResource(dg.ConfigurableResource):
    """A resource whose run config is checked against the deployment's settings when it starts: its values
    within their settings' constraints, and none weaker than the deployment's privacy floors."""

    # Not run config: the deployment's own values, fixed when the code location loads.
    floors: dg.ResourceDependency[PrivacyFloors]

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        refuse_weaker_run(self, self.floors)
