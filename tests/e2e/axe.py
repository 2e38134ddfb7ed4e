"""axe-core, the accessibility engine, fetched from the npm registry without npm.

The pinned tarball is downloaded once into ~/.cache/answerable/ (or $XDG_CACHE_HOME)
and checked against the registry's sha512 integrity, pinned here, every time it is
read: a cached copy that changed is refused like a bad download. axe.min.js comes out
of the tarball in memory; nothing is installed.

To move to a newer axe-core, take `dist.integrity` from
https://registry.npmjs.org/axe-core/<version> and change both constants.
"""

import base64
import hashlib
import io
import os
import tarfile
import urllib.request
from functools import cache
from pathlib import Path

AXE_VERSION = "4.14.1"
AXE_INTEGRITY = (
    "sha512-"
    "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
TARBALL_URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
DOWNLOAD_TIMEOUT = 60

# The impacts that fail a page. "moderate" and "minor" findings are reported by axe
# too, but do not stop anyone from using it.
BLOCKING_IMPACTS = ("serious", "critical")


class AxeUnavailable(RuntimeError):
    """The tarball could not be fetched, or it is not the one pinned here."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "answerable"


def _integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _download() -> bytes:
    # A fixed https URL on the npm registry, never one built from input.
    request = urllib.request.Request(TARBALL_URL, headers={"User-Agent": "answerable-tests"})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:  # noqa: S310
            return response.read()
    except OSError as error:
        raise AxeUnavailable(f"Could not download {TARBALL_URL}: {error}") from error


def _tarball() -> bytes:
    path = _cache_dir() / f"axe-core-{AXE_VERSION}.tgz"
    if path.exists():
        data = path.read_bytes()
        if _integrity_of(data) == AXE_INTEGRITY:
            return data
        path.unlink()  # damaged or replaced: fetch it again
    data = _download()
    if _integrity_of(data) != AXE_INTEGRITY:
        raise AxeUnavailable(
            f"{TARBALL_URL} does not match the pinned integrity {AXE_INTEGRITY}; refusing it."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return data


@cache
def axe_source() -> str:
    """The text of axe.min.js from the pinned, verified tarball."""
    with tarfile.open(fileobj=io.BytesIO(_tarball()), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        if member is None:
            raise AxeUnavailable("The axe-core tarball has no package/axe.min.js.")
        return member.read().decode()


def axe_violations(page, *, impacts=BLOCKING_IMPACTS) -> list[str]:
    """Runs axe on the page as it is now and describes every violation of the given
    impacts, one line per rule and element. An empty list is a pass.

    The script is evaluated through the DevTools protocol, so the page keeps its own
    Content-Security-Policy (which would refuse an injected <script>)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source() + "\n;undefined")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
            }));
        }"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {node['target']}: {node['summary']}"
        for v in result
        if v["impact"] in impacts
        for node in v["nodes"]
    ]
