"""The CLI's option types, imported by `kops-onboard --help` itself: nothing heavy here."""

from enum import StrEnum


class Output(StrEnum):
    TEXT = "text"
    JSON = "json"


class SimulateVia(StrEnum):
    """Where `simulate-spot` delivers its event: EventBridge, the Spot handler itself, or auto (see there)."""

    auto = "auto"
    bus = "bus"
    handler = "handler"
