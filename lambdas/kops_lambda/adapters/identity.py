"""Who and where we run: account and partition, from STS once per container."""

from dataclasses import dataclass
from functools import lru_cache

from kops_lambda.adapters.aws import client
from kops_lambda.adapters.aws_errors import translated_aws_errors


@dataclass(frozen=True)
class CallerIdentity:
    account: str
    partition: str


@lru_cache(maxsize=1)
def caller_identity() -> CallerIdentity:
    with translated_aws_errors("get caller identity"):
        arn = client("sts").get_caller_identity()["Arn"]
    _, partition, _, _, account, _ = arn.split(":", 5)
    return CallerIdentity(account=account, partition=partition)
