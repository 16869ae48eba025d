"""Seed section 3B: a Storage service wrapping an object store, used from the upload_report graph.

The "object store" is a folder, ``bucket/`` inside the workspace (``./aethergraph_data`` by
default, or ``AETHERGRAPH_WORKSPACE``): ``put`` copies the file there and returns its ``file://``
URI, ``get`` copies it back. Swap ``_upload``/``_download`` for S3, GCS or MinIO calls and nothing
else changes. The copies run in a worker thread (``run_blocking``), so the event loop stays free.

The tutorial uploads ``/tmp/report.pdf``; this program writes its stand-in report inside the
workspace instead (``report.pdf``), so that it writes nothing outside the workspace.

Run it: ``python examples/storage_wrapper.py``
"""

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import aethergraph.runtime
from aethergraph import Service, graph_fn, register_context_service, run


def report_path() -> Path:
    """The stand-in report, inside the workspace."""
    return Path(aethergraph.runtime.workspace()) / "report.pdf"


class Storage(Service):
    """A bucket in a local folder, addressed by keys such as ``reports/2025-01-01.pdf``."""

    async def put(self, local_path: str, key: str) -> str:
        # upload to S3/GCS/MinIO/etc. and return a URI
        uri = await self._upload(local_path, key)
        self.ctx().logger().info("storage.put", extra={"uri": uri})
        return uri

    async def get(self, uri: str, dest: str) -> None:
        await self._download(uri, dest)

    def _bucket(self) -> Path:
        return Path(aethergraph.runtime.workspace()) / "bucket"

    async def _upload(self, local_path: str, key: str) -> str:
        return await self.run_blocking(self._copy_in, local_path, key)

    async def _download(self, uri: str, dest: str) -> None:
        await self.run_blocking(self._copy_out, uri, dest)

    def _copy_in(self, local_path: str, key: str) -> str:
        bucket = self._bucket().resolve()
        target = (bucket / key).resolve()
        if not target.is_relative_to(bucket) or target == bucket:
            raise ValueError(f"storage key {key!r} points outside the bucket {bucket}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_path, target)
        return target.as_uri()

    def _copy_out(self, uri: str, dest: str) -> None:
        source = Path(unquote(urlparse(uri).path)).resolve()
        if urlparse(uri).scheme != "file" or not source.is_relative_to(self._bucket().resolve()):
            raise ValueError(f"{uri} is not in the bucket {self._bucket()}")
        shutil.copyfile(source, dest)


# Register once
register_context_service("storage", Storage())


# Use anywhere
@graph_fn(name="upload_report", outputs=["uri"])
async def upload_report(*, context):
    uri = await context.storage().put(str(report_path()), key="reports/2025-01-01.pdf")
    return {"uri": uri}


@graph_fn(name="archive_report", outputs=["bucket_uri", "artifact_uri"])
async def archive_report(path: str, *, context):
    """Keep the report twice: in the bucket, and in the workspace's content-addressed store."""
    bucket_uri = await context.storage().put(path, key="reports/archive/report.pdf")
    artifact = await context.artifacts().save_file(path, kind="report")
    await context.memory().write_result(
        topic="report.archived",
        outputs={"bucket_uri": bucket_uri, "artifact_uri": artifact.uri},
    )
    return {"bucket_uri": bucket_uri, "artifact_uri": artifact.uri}


@graph_fn(name="fetch_report", outputs=["dest"])
async def fetch_report(uri: str, dest: str, *, context):
    await context.storage().get(uri, dest)
    return {"dest": dest}


def main() -> None:
    report = report_path()
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_bytes(b"%PDF-1.4\n% a stand-in report for the storage example\n%%EOF\n")
    print(f"wrote {report} ({report.stat().st_size} bytes)")

    uri = run(upload_report)["uri"]
    print(f"upload_report -> {uri}")

    both = run(archive_report, {"path": str(report)})
    print(f"archive_report -> bucket:   {both['bucket_uri']}")
    print(f"                  artifact: {both['artifact_uri']}")

    dest = Path(aethergraph.runtime.workspace()) / "downloaded-report.pdf"
    run(fetch_report, {"uri": uri, "dest": str(dest)})
    same = dest.read_bytes() == report.read_bytes()
    print(f"fetch_report -> {dest} ({dest.stat().st_size} bytes, same as the original: {same})")


if __name__ == "__main__":
    main()
