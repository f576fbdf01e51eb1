"""Workflow diagrams (Mermaid) generated from the synthesized state machine definitions.

`make docs` rewrites the README section between the markers; a test fails when it is stale.
"""

import json
import re
import sys
from pathlib import Path
from typing import Any

START_MARKER = "<!-- workflow-diagrams:start (make docs) -->"
END_MARKER = "<!-- workflow-diagrams:end -->"


def definitions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> ASL of every state machine, function ARNs left as placeholders."""
    found = {}
    for logical_id, resource in sorted(template["Resources"].items()):
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        definition = resource["Properties"]["DefinitionString"]
        parts = definition["Fn::Join"][1] if isinstance(definition, dict) else [definition]
        text = "".join(part if isinstance(part, str) else "ARN" for part in parts)
        found[logical_id] = json.loads(text)
    return found


def transitions(states: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(from, to, label) for Next, Choice rules and default, Catch, and the ends."""
    edges: list[tuple[str, str, str]] = []
    for name, state in states.items():
        if "Next" in state:
            edges.append((name, state["Next"], ""))
        for rule in state.get("Choices", []):
            edges.append((name, rule["Next"], "choice"))
        if "Default" in state:
            edges.append((name, state["Default"], "default"))
        for catch in state.get("Catch", []):
            edges.append((name, catch["Next"], "catch " + ",".join(catch["ErrorEquals"])))
        for branch in state.get("Branches", []):
            edges.extend(transitions(branch["States"]))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            edges.extend(transitions(processor["States"]))
    return edges


def mermaid(definition: dict[str, Any]) -> str:
    states: dict[str, Any] = definition["States"]
    lines = ["flowchart TD", f"    start([start]) --> {_id(definition['StartAt'])}"]
    for name, state in states.items():
        shape = {"Task": "[{}]", "Choice": "{{{}}}", "Succeed": "([{}])", "Fail": "([{}])"}.get(state["Type"], "[/{}/]")
        retry = " ↻" if state.get("Retry") else ""
        lines.append(f"    {_id(name)}{shape.format(name + retry)}")
    for source, target, label in transitions(states):
        arrow = f" -. {label} .-> " if label.startswith("catch") else (f" -- {label} --> " if label else " --> ")
        lines.append(f"    {_id(source)}{arrow}{_id(target)}")
    return "\n".join(lines)


def counts(definition: dict[str, Any]) -> tuple[int, int]:
    return len(definition["States"]), len(transitions(definition["States"]))


def section(template: dict[str, Any]) -> str:
    blocks = []
    for logical_id, definition in definitions(template).items():
        title = re.sub(r"StateMachine[0-9A-F]{8}$", "", logical_id)
        states, edges = counts(definition)
        heading = f"**{title}** ({states} states, {edges} transitions; ↻ = retries named errors)"
        blocks.append(f"{heading}\n\n```mermaid\n{mermaid(definition)}\n```")
    return "\n\n".join(blocks)


def render_into(readme: str, template: dict[str, Any]) -> str:
    start, end = readme.index(START_MARKER) + len(START_MARKER), readme.index(END_MARKER)
    return f"{readme[:start]}\n{section(template)}\n{readme[end:]}"


def _id(name: str) -> str:
    return re.sub(r"\W", "_", name)


def main() -> None:
    template_path, readme_path = Path(sys.argv[1]), Path(sys.argv[2])
    template = json.loads(template_path.read_text())
    readme_path.write_text(render_into(readme_path.read_text(), template))


if __name__ == "__main__":
    main()
