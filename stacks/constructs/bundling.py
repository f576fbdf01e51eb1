"""Docker-free Lambda bundling: pip installs wheels for the Lambda platform at synth time."""

import contextlib
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import ILocalBundling

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_SOURCE = PROJECT_ROOT / "lambdas"
REQUIREMENTS = PROJECT_ROOT / "requirements.txt"
DEPENDENCY_CACHE = PROJECT_ROOT / ".cache" / "lambda-deps"

LAMBDA_PYTHON_VERSION = "3.13"
LAMBDA_PLATFORM = "manylinux2014_x86_64"
# Console scripts are of no use in a function.
PRUNED_PATHS = ("bin",)
_COMPLETE = ".complete"


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Installs requirements.txt for the Lambda platform, copies our code, compiles bytecode."""

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        out = Path(output_dir)
        shutil.copytree(dependencies(), out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_COMPLETE))
        shutil.copytree(
            LAMBDA_SOURCE / "kops_lambda",
            out / "kops_lambda",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        compile_bytecode(out)
        return True


def source_hash() -> str:
    """Content hash of what goes into the bundle: CDK skips bundling when the asset already exists."""
    digest = hashlib.sha256()
    for path in sorted((LAMBDA_SOURCE / "kops_lambda").rglob("*.py")):
        digest.update(str(path.relative_to(LAMBDA_SOURCE)).encode())
        digest.update(path.read_bytes())
    for extra in (REQUIREMENTS.read_bytes(), LAMBDA_PLATFORM.encode(), LAMBDA_PYTHON_VERSION.encode()):
        digest.update(extra)
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


def dependencies() -> Path:
    """Platform wheels installed once per requirements.txt content, then reused from the cache.

    Several synths may run at once (tests in parallel): each installs into its own staging directory
    and the first complete one is renamed into place atomically.
    """
    digest = hashlib.sha256((REQUIREMENTS.read_text() + LAMBDA_PLATFORM + LAMBDA_PYTHON_VERSION).encode()).hexdigest()[
        :16
    ]
    target = DEPENDENCY_CACHE / digest
    if (target / _COMPLETE).is_file():
        return target
    DEPENDENCY_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{digest}.", dir=DEPENDENCY_CACHE))
    try:
        subprocess.run(  # noqa: S603 - fixed argv, no shell
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--no-deps", "-r", str(REQUIREMENTS), "-t", str(staging),
                "--platform", LAMBDA_PLATFORM, "--implementation", "cp",
                "--python-version", LAMBDA_PYTHON_VERSION, "--only-binary=:all:",
            ],
            check=True,
        )  # fmt: skip
        for pruned in PRUNED_PATHS:
            shutil.rmtree(staging / pruned, ignore_errors=True)
        (staging / _COMPLETE).touch()
        with contextlib.suppress(OSError):  # another synth finished first; its copy is identical
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not (target / _COMPLETE).is_file():
        raise RuntimeError(f"Lambda dependencies were not installed into {target}")
    return target


def lambda_python() -> str | None:
    """A local interpreter of the Lambda's Python version, to write bytecode it will load."""
    candidates = [
        *sorted(Path.home().glob(f".pyenv/versions/{LAMBDA_PYTHON_VERSION}.*/bin/python{LAMBDA_PYTHON_VERSION}")),
        shutil.which(f"python{LAMBDA_PYTHON_VERSION}"),
    ]
    for candidate in filter(None, candidates):
        # A pyenv shim exists even when the version it points at is not installed: try it.
        probe = subprocess.run([str(candidate), "-c", "pass"], capture_output=True, check=False)  # noqa: S603
        if probe.returncode == 0:
            return str(candidate)
    return None


def compile_bytecode(out: Path) -> None:
    """Ship .pyc so cold starts skip compilation; needs a matching interpreter, else ship sources only."""
    interpreter = lambda_python()
    if interpreter is None:
        print(f"warning: no python{LAMBDA_PYTHON_VERSION} found; bundle ships without bytecode", file=sys.stderr)
        return
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(out)],
        check=True,
    )
