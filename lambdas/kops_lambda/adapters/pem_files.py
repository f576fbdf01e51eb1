"""PEM material (CAs, client certificates and keys) as the files urllib3 insists on: files of our own, never a
path a stored document names."""

import functools
import hashlib
import os
import tempfile
from pathlib import Path


@functools.cache
def _material_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="kops-onboard-kube-"))  # mode 0700, this process's own


def pem_file(content: bytes) -> str:
    """A file holding `content` (mode 0600), one per distinct content, reused for the process's life."""
    path = _material_dir() / hashlib.sha256(content).hexdigest()
    if not path.exists():
        descriptor, staging = tempfile.mkstemp(dir=_material_dir())
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.replace(staging, path)  # atomic: threads building clients at once never read half a file
    return str(path)
