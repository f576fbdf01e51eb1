"""Contracts without AWS: the offboarding input, the cleanup request, the text surgery on mapping lists,
and the local Lambda fault plan the e2e tests inject failures with."""

import pytest
import yaml

from kops_lambda.errors import InvalidInput
from kops_lambda.logic.rollback.identity_mapping import _cut_item_text
from kops_lambda.logic.rollback.steps import access_key, offboard_input
from kops_lambda.models.rollback import CleanupRequest
from kops_local.aws.lambda_faults import LambdaFault, LambdaFaultPlan


@pytest.mark.parametrize("days", [0, 7, 30])
def test_recovery_window_is_zero_or_seven_to_thirty_days(days: int) -> None:
    request = CleanupRequest(execution_id="x", action="offboard", state={"input": {"cluster_name": "a.k8s.local"}})
    assert offboard_input(request).secret_recovery_days == 7
    request = CleanupRequest(
        execution_id="x",
        action="offboard",
        state={"input": {"cluster_name": "a.k8s.local", "secret_recovery_days": days}},
    )
    assert offboard_input(request).secret_recovery_days == days


@pytest.mark.parametrize("payload", [{"secret_recovery_days": 3}, {"secret_recovery_days": 31}, {"extra": True}, {}])
def test_bad_offboarding_input_is_invalid_input_naming_the_field(payload: dict[str, object]) -> None:
    state = {"input": {"cluster_name": "a.k8s.local", **payload} if payload else {}}
    with pytest.raises(InvalidInput, match="invalid input"):
        offboard_input(CleanupRequest(execution_id="x", action="offboard", state=state))


def test_a_step_refuses_an_action_it_does_not_do() -> None:
    request = CleanupRequest(execution_id="x", action="find", state={})
    with pytest.raises(InvalidInput, match="not find"):
        access_key(request, client=lambda *_: None, table=None)


EKS_USERS = """\
# people
- userarn: arn:aws:iam::1:user/a
  username: a
  groups: [viewers]
# ours below
- userarn: arn:aws:iam::1:user/ours
  username: ours
  groups:
  - x
- userarn: arn:aws:iam::1:user/b
  username: b
  groups:
  - y
# trailing comment
"""


def test_cutting_an_item_keeps_every_other_byte() -> None:
    cut = _cut_item_text(EKS_USERS, (), [1])
    assert cut == EKS_USERS.replace("- userarn: arn:aws:iam::1:user/ours\n  username: ours\n  groups:\n  - x\n", "")
    last = _cut_item_text(EKS_USERS, (), [2])
    assert last is not None and last.endswith("  - x\n# trailing comment\n")
    assert [e["username"] for e in yaml.safe_load(last)] == ["a", "ours"]


def test_a_flow_sequence_is_not_cut_by_text() -> None:
    assert _cut_item_text("[{userarn: a}, {userarn: b}]", (), [0]) is None


def test_faults_match_by_function_and_event_and_are_consumed() -> None:
    plan = LambdaFaultPlan()
    plan.add(LambdaFault("CleanupIam", "AwsThrottled", "m", 2, event_matches={"action": "rollback"}))
    assert plan.take("KopsOnboard-CleanupIamEntitiesFunction", {"action": "offboard"}) is None
    assert plan.take("KopsOnboard-OnboardingCreateIamEntities", {"action": "rollback"}) is None
    assert plan.take("KopsOnboard-CleanupIamEntitiesFunction", {"action": "rollback"}) is not None
    assert plan.take("KopsOnboard-CleanupIamEntitiesFunction", {"action": "rollback"}) is not None
    assert plan.take("KopsOnboard-CleanupIamEntitiesFunction", {"action": "rollback"}) is None
    with pytest.raises(ValueError, match="at least one"):
        plan.add(LambdaFault("x", "E", "m", 0))
