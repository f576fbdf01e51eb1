"""The matrix and the escalation chains, decided by PMapper on the policies as onboarding wrote them."""

from pathlib import Path

import pytest

from tests.iam import matrix
from tests.iam.conftest import Evaluation

README = Path(__file__).resolve().parents[2] / "README.md"
OURS = ("A", "B", "spot", "node-A", "handler", "plan", "drift")


@pytest.mark.parametrize("row", matrix.ROWS, ids=[row.name for row in matrix.ROWS])
def test_row(evaluation: Evaluation, row: matrix.Row) -> None:
    # Given the account as onboarding left it, when PMapper decides the row's request, then it is as expected
    decided = matrix.ALLOW if evaluation.ours[row.name] else matrix.DENY
    assert decided == row.expected, f"{row.principal} {row.action} {matrix.fill(row.resource, evaluation.facts)}"


@pytest.mark.parametrize("row", [r for r in matrix.ROWS if r.vendor], ids=[r.name for r in matrix.ROWS if r.vendor])
def test_vendor_column(evaluation: Evaluation, row: matrix.Row) -> None:
    # The README's side-by-side says what the vendor's policy decides: PMapper must agree
    decided = matrix.ALLOW if evaluation.vendor[row.name] else matrix.DENY
    assert decided == row.vendor


@pytest.mark.parametrize("chain", matrix.CHAINS, ids=[chain.name for chain in matrix.CHAINS])
def test_every_escalation_chain_is_blocked(evaluation: Evaluation, chain: matrix.Chain) -> None:
    # A chain works only if every step is allowed: at least one must be denied, as PMapper decides it
    assert not all(evaluation.ours[step] for step in chain.steps), chain.steps


def test_pmapper_finds_no_path_from_our_principals_to_anyone_else(evaluation: Evaluation) -> None:
    # PMapper's own edge search (IAM, STS, EC2, Lambda, Auto Scaling) between the account's principals:
    # none of ours is an admin, and none reaches a principal beyond the Spot role and A's own boundary role
    ours = {evaluation.principals[name] for name in OURS}
    assert not ours & set(evaluation.admins)
    allowed_targets = {evaluation.principals["spot"], evaluation.principals["node-A"]}
    escapes = [edge for edge in evaluation.edges if edge[0] in ours and edge[1] not in allowed_targets]
    assert escapes == []


def test_pmapper_finds_the_vendors_paths_into_our_stack(evaluation: Evaluation) -> None:
    # The same search on the vendor's public policy (PassRole on role/*, CreateFunction on *) finds a path from
    # its user to every function role of our stack: the search can see what the previous test says is absent
    vendor = evaluation.principals["vendor-A"]
    reached = {edge[1] for edge in evaluation.edges if edge[0] == vendor}
    assert evaluation.principals["stack"] in reached


def test_every_capability_the_seed_names_has_an_allowed_row() -> None:
    allowed = " ".join(r.name for r in matrix.ROWS if r.expected == matrix.ALLOW)
    for capability in ("worker", "ASG", "security group", "key pair", "tags", "node role", "profile", "Spot"):
        assert capability in allowed, capability


def test_the_readme_shows_the_matrix_as_the_tests_define_it() -> None:
    assert matrix.render() in README.read_text()
