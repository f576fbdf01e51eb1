"""The envelope every onboarding step receives from the state machine."""

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from kops_lambda.errors import InvalidInput
from kops_lambda.models.base import describe_validation_error
from kops_lambda.models.onboarding import ClusterFacts, OnboardInput
from kops_lambda.workflow import INPUT_KEY, ResultKey

M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: Any) -> M:
    """Validate data against a model; errors list fields and reasons, never the values."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from None


class StepRequest(BaseModel):
    """Payload of each LambdaInvoke: the execution id and the whole execution state so far."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    execution_id: str
    state: dict[str, Any]

    def onboard_input(self) -> OnboardInput:
        return parse_model(OnboardInput, self.state.get(INPUT_KEY))

    def cluster_facts(self) -> ClusterFacts:
        return parse_model(ClusterFacts, self.state.get(ResultKey.CLUSTER))

    def step_result(self, model: type[M], key: str) -> M:
        return parse_model(model, self.state.get(key))
