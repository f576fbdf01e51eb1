"""What every command shares: output format, exit codes, failing cleanly."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any, NoReturn

import typer
from botocore.exceptions import BotoCoreError, ClientError

from kops_onboard.commands.options import Output
from kops_onboard.deployment import NotDeployed


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    AWS = 4


def emit(output: Output, document: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(document, default=str) if output is Output.JSON else text)


def fail(output: Output, code: Exit, message: str, **extra: Any) -> NoReturn:
    if output is Output.JSON:
        typer.echo(json.dumps({"status": "error", "message": message, **extra}, default=str))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(int(code))


@contextmanager
def aws_errors(output: Output) -> Iterator[None]:
    """Lookups that find nothing exit 3; AWS refusing or unreachable exits 4."""
    try:
        yield
    except NotDeployed as exc:
        fail(output, Exit.NOT_FOUND, str(exc))
    except (ClientError, BotoCoreError) as exc:
        fail(output, Exit.AWS, f"AWS call failed: {exc}")
