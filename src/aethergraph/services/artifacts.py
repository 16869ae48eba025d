"""``context.artifacts()``: content-addressed files and values with an index of who made them.

Content lives in the storage's blob store under its sha256; the index records kind, name, labels,
metrics and provenance. A caller never names a filesystem location: names and ``suggested_uri`` are
metadata only, references resolve through the index, and bytes are read by the digest the index
holds, so no caller-supplied string can make the store write or read outside its own folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import mimetypes
import os
import re
import stat
import time
import uuid
from collections.abc import Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict, get_args

from aethergraph.errors import StorageError
from aethergraph.services.kv import json_value
from aethergraph.services.memory import metric_values
from aethergraph.storage.records import Artifact

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncIterator

    from aethergraph.services.scope import EventSink, NodeScope
    from aethergraph.storage.protocols import Storage

__all__ = ["ArtifactRef", "ArtifactScope", "ArtifactWriter", "Artifacts"]

ArtifactScope = Literal["run", "session", "graph", "node", "all"]
"""Which artifacts ``list``/``search``/``best`` look at: this run, its session (or the run when
there is none), every run of this graph, this node of this run, or the whole workspace."""
_SCOPES: tuple[str, ...] = get_args(ArtifactScope)
_URI_PREFIX = "artifact://"
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SUFFIX = re.compile(r"(\.[A-Za-z0-9_-]{1,16}){1,3}")
# ``best`` compares the newest this many artifacts of a kind.
_BEST_SCAN = 10_000


class _ScopeFilter(TypedDict, total=False):
    run_id: str
    session_id: str
    graph_id: str
    node_id: str


ArtifactRef = Artifact | str
"""An artifact, its id, or its ``artifact://<id>`` uri."""


class ArtifactWriter:
    """What ``Artifacts.writer()`` yields: a staging ``path`` to fill, then the ``artifact``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.artifact: Artifact | None = None

    def write(self, data: bytes | str) -> None:
        """Append ``data`` (str is written as UTF-8) to the staging file."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"artifact writer takes bytes or str, got {type(data).__name__}")
        with self.path.open("ab") as fh:
            fh.write(data)


def _artifact_id(ref: object) -> str:
    """The id a reference names; ``ValueError`` for anything that is not a plain id or uri."""
    if isinstance(ref, Artifact):
        return ref.id
    if not isinstance(ref, str):
        raise TypeError(
            f"artifact reference must be an Artifact, id or uri, got {type(ref).__name__}"
        )
    raw = ref
    if "://" in ref:
        if not ref.startswith(_URI_PREFIX):
            raise ValueError(f"artifact uri must start with {_URI_PREFIX!r}, got {raw!r}")
        ref = ref[len(_URI_PREFIX) :]
    if not _ID.fullmatch(ref):
        raise ValueError(
            f"malformed artifact reference {raw!r}: expected an id (letters, digits, '_', '-') "
            f"or {_URI_PREFIX}<id>"
        )
    return ref


def _file_size(path: Path, missing: str) -> int:
    """The size of the regular file at ``path``; ``missing`` starts the error when there is none."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{missing} {str(path)!r}") from None
    if not stat.S_ISREG(st.st_mode):
        raise IsADirectoryError(f"{str(path)!r} is not a regular file")
    return st.st_size


def _staged_file(path: Path) -> tuple[int, bool]:
    """The size of what a writer left at ``path``, and whether it is a link to copy through."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise FileNotFoundError(f"artifact writer: nothing was written to {str(path)!r}") from None
    if stat.S_ISLNK(st.st_mode):
        return _file_size(path, "artifact writer: the link points to no file:"), True
    if not stat.S_ISREG(st.st_mode):
        raise IsADirectoryError(f"artifact writer: {str(path)!r} is not a regular file")
    # A hard link shares its inode with a file elsewhere, which could change under the digest.
    return st.st_size, st.st_nlink > 1


def _plain_file_digest(path: Path) -> str:
    """The sha256 of the regular file at ``path``; a link there is an error, never followed."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise StorageError(
            f"artifact content at {str(path)!r} cannot be opened as a plain file ({exc}); "
            "a link was stored in place of the bytes: delete it and save the artifact again"
        ) from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise StorageError(f"artifact content at {str(path)!r} is not a regular file")
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _ranked(found: list[Artifact], metric: str, mode: str) -> list[Artifact]:
    """The artifacts that have ``metric``, best first; ``found`` is newest first, as are ties."""
    _check_metric(metric, mode)
    sign = -1.0 if mode == "max" else 1.0
    # sorted() is stable, so equal scores keep newest first.
    return sorted((a for a in found if metric in a.metrics), key=lambda a: sign * a.metrics[metric])


def _check_metric(metric: object, mode: object) -> None:
    if mode not in ("max", "min"):
        raise ValueError(f"artifact metric mode must be 'max' or 'min', got {mode!r}")
    if not isinstance(metric, str):
        raise TypeError(f"artifact metric must be a str, got {type(metric).__name__}")
    if not metric:
        raise ValueError("artifact metric must be a non-empty str")


def _checked_suffix(suffix: object, what: str) -> str:
    if not isinstance(suffix, str) or (suffix and not _SUFFIX.fullmatch(suffix)):
        raise ValueError(f"{what} suffix must look like '.png' or '.tar.gz', got {suffix!r}")
    return suffix


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"artifact {what}= must be True or False, got {value!r}")
    return value


def _labels(labels: Mapping[str, Any] | None) -> dict[str, Any]:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise TypeError(f"artifact labels must be a dict, got {type(labels).__name__}")
    for key in labels:
        if not isinstance(key, str) or not key:
            raise TypeError(f"artifact label keys must be non-empty str, got {key!r}")
    out: dict[str, Any] = {k: json_value(v, f"artifact label {k!r}") for k, v in labels.items()}
    return out


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"artifact limit must be an int >= 1, got {limit!r}")
    return limit


def _optional_str(value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"artifact {what} must be a str, got {type(value).__name__}")
    return value


class Artifacts:
    """The artifact store as seen by one node: saves are stamped with its run, graph and node."""

    def __init__(self, scope: NodeScope, store: Storage, events: EventSink | None = None) -> None:
        self._scope = scope
        self._store = store
        self._events = events
        # Digests of the artifacts this node saved or looked up: what sync ``to_local_path`` knows.
        self._known: dict[str, str] = {}

    # -- saving ----------------------------------------------------------------------------
    async def save_text(
        self,
        text: str,
        *,
        kind: str = "text",
        name: str | None = None,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        suggested_uri: str | None = None,
        mime: str = "text/plain",
        pin: bool = False,
    ) -> Artifact:
        """Store ``text`` as UTF-8; ``pin=True`` pins it at once (see ``pin``)."""
        if not isinstance(text, str):
            raise TypeError(f"save_text() takes a str, got {type(text).__name__}")
        return await self.save_bytes(
            text.encode("utf-8"),
            kind=kind,
            name=name,
            labels=labels,
            metrics=metrics,
            suggested_uri=suggested_uri,
            mime=mime,
            pin=pin,
        )

    async def save_json(
        self,
        obj: Any,
        *,
        kind: str = "json",
        name: str | None = None,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        suggested_uri: str | None = None,
        mime: str = "application/json",
        pin: bool = False,
    ) -> Artifact:
        """Store the JSON value ``obj`` as UTF-8 JSON text."""
        value = json_value(obj, "save_json() value")
        return await self.save_bytes(
            json.dumps(value, ensure_ascii=False).encode("utf-8"),
            kind=kind,
            name=name,
            labels=labels,
            metrics=metrics,
            suggested_uri=suggested_uri,
            mime=mime,
            pin=pin,
        )

    async def save_bytes(
        self,
        data: bytes,
        *,
        kind: str = "bytes",
        name: str | None = None,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        suggested_uri: str | None = None,
        mime: str | None = "application/octet-stream",
        pin: bool = False,
    ) -> Artifact:
        """Store ``data``."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"save_bytes() takes bytes, got {type(data).__name__}")
        blob = bytes(data)
        meta = self._meta(kind, name, labels, metrics, suggested_uri, mime, pin)
        sha = await self._store.put_bytes(blob)
        return await self._index(sha, len(blob), meta)

    async def save_file(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str = "file",
        name: str | None = None,
        mime: str | None = None,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        suggested_uri: str | None = None,
        pin: bool = False,
    ) -> Artifact:
        """Store a copy of the file at ``path`` (left in place); ``name`` defaults to its name."""
        source = Path(path)
        if mime is None:
            mime = mimetypes.guess_type(source.name)[0]
        meta = self._meta(
            kind, source.name if name is None else name, labels, metrics, suggested_uri, mime, pin
        )
        size = await asyncio.to_thread(_file_size, source, "save_file(): no file at")
        sha = await self._store.put_file(source, move=False)
        return await self._index(sha, size, meta)

    async def save(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str = "file",
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        suggested_uri: str | None = None,
        pin: bool = False,
        name: str | None = None,
        mime: str | None = None,
    ) -> Artifact:
        """Store a copy of the file at ``path``: the published API's name for ``save_file``."""
        return await self.save_file(
            path,
            kind=kind,
            name=name,
            mime=mime,
            labels=labels,
            metrics=metrics,
            suggested_uri=suggested_uri,
            pin=pin,
        )

    async def tmp_path(self, suffix: str = "") -> str:
        """A fresh staging path in the workspace to write a file to, then ``save()``."""
        return str(self._store.staging_path(_checked_suffix(suffix, "tmp_path()")))

    @asynccontextmanager
    async def writer(
        self,
        *,
        kind: str = "file",
        name: str | None = None,
        suffix: str = "",
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        mime: str | None = None,
        pin: bool = False,
    ) -> AsyncIterator[ArtifactWriter]:
        """Yield a writer whose ``path`` the caller fills; store it on success, discard on error.

        ``suffix`` (e.g. ``".png"``) is for libraries that choose a format by file extension.
        What is stored is always the bytes: a link left at ``path`` (symbolic or hard) is
        copied through, never moved into the store, and the stored blob's digest is checked.
        """
        _checked_suffix(suffix, "artifact writer")
        if mime is None:
            mime = mimetypes.guess_type(f"artifact{suffix}")[0]
        meta = self._meta(kind, name, labels, metrics, None, mime, pin)
        out = ArtifactWriter(self._store.staging_path(suffix))
        try:
            yield out
            size, linked = await asyncio.to_thread(_staged_file, out.path)
            sha = await self._store.put_file(out.path, move=not linked)
            await self._verify(sha)
            out.artifact = await self._index(sha, size, meta)
        finally:
            out.path.unlink(missing_ok=True)

    async def _verify(self, sha256: str) -> None:
        """Check that the blob stored under ``sha256`` is a plain file with that digest."""
        path = await self._store.local_path(sha256)
        found = await asyncio.to_thread(_plain_file_digest, path)
        if found != sha256:
            raise StorageError(
                f"artifact content stored at {str(path)!r} has sha256 {found}, not {sha256}: "
                f"the blob in {self._store.location} is damaged or was replaced; delete that "
                "file and save the artifact again"
            )

    def _meta(
        self,
        kind: str,
        name: str | None,
        labels: Mapping[str, Any] | None,
        metrics: Mapping[str, Any] | None,
        suggested_uri: str | None,
        mime: str | None,
        pin: bool = False,
    ) -> dict[str, Any]:
        """Validated index fields, checked before any content is stored."""
        if not isinstance(kind, str):
            raise TypeError(f"artifact kind must be a str, got {type(kind).__name__}")
        if not kind:
            raise ValueError("artifact kind must be a non-empty str")
        return {
            "kind": kind,
            "name": _optional_str(name, "name"),
            "mime": _optional_str(mime, "mime"),
            "labels": _labels(labels),
            "metrics": metric_values(metrics, "artifact metrics"),
            "suggested_uri": _optional_str(suggested_uri, "suggested_uri"),
            "pinned": _flag(pin, "pin"),
        }

    async def _index(self, sha256: str, size: int, meta: dict[str, Any]) -> Artifact:
        s = self._scope
        artifact_id = uuid.uuid4().hex
        artifact = Artifact(
            id=artifact_id,
            uri=f"{_URI_PREFIX}{artifact_id}",
            sha256=sha256,
            size=size,
            created_at=time.time(),
            run_id=s.run_id,
            graph_id=s.graph_id,
            node_id=s.node_id,
            session_id=s.session_id,
            **meta,
        )
        await self._store.add_artifact(artifact)
        self._known[artifact.id] = sha256
        if self._events is not None:
            self._events.publish(
                "artifact",
                {
                    "artifact_id": artifact.id,
                    "kind": artifact.kind,
                    "name": artifact.name,
                    "uri": artifact.uri,
                    "node_id": s.node_id,
                },
                artifact.created_at,
            )
        await self._store.flush()
        return artifact

    # -- loading ---------------------------------------------------------------------------
    async def get(self, ref: ArtifactRef) -> Artifact:
        """The index entry for ``ref``; ``KeyError`` when there is none."""
        artifact_id = _artifact_id(ref)
        artifact = await self._store.get_artifact(artifact_id)
        if artifact is None:
            raise KeyError(f"no artifact {artifact_id!r} in {self._store.location}")
        self._known[artifact.id] = artifact.sha256
        return artifact

    async def _sha(self, ref: ArtifactRef) -> str:
        # Always the digest from the index: a caller-built Artifact's sha256 is never trusted.
        artifact = await self.get(ref)
        if not _SHA256.fullmatch(artifact.sha256):
            raise StorageError(f"artifact {artifact.id!r} has a malformed sha256 in the index")
        return artifact.sha256

    async def load_bytes(self, ref: ArtifactRef) -> bytes:
        """The artifact's content."""
        sha = await self._sha(ref)
        try:
            return await self._store.read_bytes(sha)
        except KeyError as err:
            raise StorageError(
                f"artifact content {sha} is missing from {self._store.location}"
            ) from err

    async def load_text(self, ref: ArtifactRef, encoding: str = "utf-8") -> str:
        """The artifact's content decoded as text."""
        return (await self.load_bytes(ref)).decode(encoding)

    async def load_json(self, ref: ArtifactRef) -> Any:
        """The artifact's content parsed as JSON."""
        return json.loads(await self.load_bytes(ref))

    async def as_local_file(self, ref: ArtifactRef) -> str:
        """A local path holding the content; treat it as read-only, it may be shared."""
        sha = await self._sha(ref)
        try:
            return str(await self._store.local_path(sha))
        except KeyError as err:
            raise StorageError(
                f"artifact content {sha} is missing from {self._store.location}"
            ) from err

    def to_local_path(self, uri_or_id: ArtifactRef) -> str:
        """A local path for an artifact this node saved or looked up, without awaiting.

        A ``file://`` uri gives its path. For any other artifact, ``await as_local_file(ref)``.
        """
        if isinstance(uri_or_id, str) and uri_or_id.startswith("file://"):
            return uri_or_id[len("file://") :]
        artifact_id = _artifact_id(uri_or_id)
        sha = self._known.get(artifact_id)
        if sha is None or not _SHA256.fullmatch(sha):
            raise LookupError(
                f"to_local_path({uri_or_id!r}): artifact {artifact_id!r} was not saved or looked "
                "up by this node, and finding it needs the index; use "
                "'await context.artifacts().as_local_file(ref)' instead"
            )
        # A local blob store answers without suspending; one that must fetch cannot here.
        pending = self._store.local_path(sha)
        try:
            pending.send(None)
        except StopIteration as done:
            return str(done.value)
        except KeyError as err:
            raise StorageError(
                f"artifact content {sha} is missing from {self._store.location}"
            ) from err
        pending.close()
        raise LookupError(
            f"to_local_path({uri_or_id!r}): {self._store.location} has to fetch the content "
            "first; use 'await context.artifacts().as_local_file(ref)' instead"
        )

    # -- finding ---------------------------------------------------------------------------
    def _scope_filter(self, scope: str) -> _ScopeFilter:
        s = self._scope
        if scope == "run":
            return {"run_id": s.run_id}
        if scope == "session":
            return {"session_id": s.session_id} if s.session_id else {"run_id": s.run_id}
        if scope == "graph":
            return {"graph_id": s.graph_id}
        if scope == "node":
            return {"run_id": s.run_id, "node_id": s.node_id}
        if scope == "all":
            return {}
        raise ValueError(f"unknown artifact scope {scope!r}; use one of {', '.join(_SCOPES)}")

    async def list(
        self, *, scope: ArtifactScope = "run", kind: str | None = None, limit: int = 100
    ) -> builtins.list[Artifact]:
        """Artifacts in ``scope`` (optionally of ``kind``), newest first."""
        return await self._store.query_artifacts(
            **self._scope_filter(scope), kind=kind, limit=_limit(limit)
        )

    async def search(
        self,
        *,
        kind: str | None = None,
        labels: Mapping[str, Any] | None = None,
        name: str | None = None,
        metric: str | None = None,
        mode: Literal["max", "min"] = "max",
        scope: ArtifactScope = "all",
        limit: int = 100,
    ) -> builtins.list[Artifact]:
        """Artifacts matching ``kind``, ``name`` and every label given, newest first.

        With ``metric``, only artifacts that have it, best first (highest for ``mode="max"``,
        lowest for ``"min"``; ties newest first).
        """
        if metric is None:
            return await self._store.query_artifacts(
                **self._scope_filter(scope),
                kind=kind,
                name=name,
                labels=_labels(labels) or None,
                limit=_limit(limit),
            )
        found = await self._store.query_artifacts(
            **self._scope_filter(scope),
            kind=kind,
            name=name,
            labels=_labels(labels) or None,
            limit=_BEST_SCAN,
        )
        return _ranked(found, metric, mode)[: _limit(limit)]

    async def best(
        self,
        *,
        kind: str,
        metric: str,
        mode: Literal["max", "min"] = "max",
        scope: ArtifactScope = "all",
        labels: Mapping[str, Any] | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> Artifact | None:
        """The artifact of ``kind`` with the highest (or lowest) ``metric``; ties go to newest.

        ``filters`` (the published API's name) are labels to match, as ``labels`` are.
        """
        wanted = {**_labels(filters), **_labels(labels)}
        _check_metric(metric, mode)
        found = await self._store.query_artifacts(
            **self._scope_filter(scope), kind=kind, labels=wanted or None, limit=_BEST_SCAN
        )
        ranked = _ranked(found, metric, mode)
        return ranked[0] if ranked else None

    async def pin(self, ref: ArtifactRef, pinned: bool = True) -> Artifact:
        """Pin (or unpin) an artifact so cleanup keeps it; the updated index entry."""
        artifact_id = _artifact_id(ref)
        if not await self._store.set_pinned(artifact_id, bool(pinned)):
            raise KeyError(f"no artifact {artifact_id!r} in {self._store.location}")
        await self._store.flush()
        return await self.get(artifact_id)
