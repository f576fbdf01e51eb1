"""`make demo` (`kops-onboard local demo`) as a user runs it: its own process, the whole story, exit code 0."""

import subprocess
import sys
from pathlib import Path


def test_the_demo_onboards_drains_a_spot_node_and_offboards_to_a_clean_account(template_path: Path) -> None:
    # Given the synthesized app (the demo synthesizes again, reusing the cached Lambda bundle)
    # When the demo runs in its own process
    command = [str(Path(sys.executable).parent / "kops-onboard"), "local", "demo"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    output = finished.stdout
    # Then it succeeded and told each part of the story
    assert finished.returncode == 0, output[-2000:]
    assert "== 3. Onboarding execution" in output and "SUCCEEDED" in output
    assert "cordoned (unschedulable=True)" in output
    assert "event DrainComplete: evicted 4 pods" in output
    assert "account clean" in output and "== done" in output
