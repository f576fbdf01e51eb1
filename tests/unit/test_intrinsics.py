"""The local deployer's intrinsic resolution."""

import pytest

from kops_local.intrinsics import Resolver, UnresolvedReference


@pytest.fixture
def resolver() -> Resolver:
    r = Resolver(account="123456789012", region="eu-west-1", stack_name="S")
    r.refs["Table"] = "S-Table"
    r.attributes[("Fn", "Arn")] = "arn:aws:lambda:eu-west-1:123456789012:function:S-Fn"
    return r


def test_ref_getatt_join_sub(resolver: Resolver) -> None:
    value = {
        "a": {"Ref": "Table"},
        "b": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":x:", {"Ref": "AWS::Region"}]]},
        "c": {"Fn::Sub": "${AWS::AccountId}/${Table}/${Fn.Arn}"},
        "d": {"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]},
    }
    assert resolver.resolve(value) == {
        "a": "S-Table",
        "b": "arn:aws:x:eu-west-1",
        "c": "123456789012/S-Table/arn:aws:lambda:eu-west-1:123456789012:function:S-Fn",
        "d": "y",
    }


def test_references_are_found_for_ordering(resolver: Resolver) -> None:
    value = {"x": [{"Ref": "A"}, {"Fn::GetAtt": ["B", "Arn"]}, {"Fn::Sub": "${C.Arn}-${AWS::Region}"}]}
    assert resolver.references(value) == {"A", "B", "C"}


def test_unknown_reference_and_intrinsic_fail_loudly(resolver: Resolver) -> None:
    with pytest.raises(UnresolvedReference):
        resolver.resolve({"Ref": "Missing"})
    with pytest.raises(NotImplementedError):
        resolver.resolve({"Fn::If": ["C", 1, 2]})
