"""The PostgreSQL schema: tables and indexes in one schema (namespace) per workspace, migrations.

JSON payloads are kept as text, exactly as given, like the SQLite backend does; tags are a
``text[]`` and the words of a memory event a ``tsvector`` made from ``records.words`` with
``array_to_tsvector``, so no text search configuration decides what a word is. Each table with a
``seq`` numbers rows in the order they were first stored; upserts keep it.

Any change here bumps ``SCHEMA_VERSION``, kept in ``aethergraph_meta``, and teaches ``migrate`` to
bring older databases up to date.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aethergraph.errors import StorageError

if TYPE_CHECKING:
    import asyncpg

__all__ = ["SCHEMA_VERSION", "migrate"]

SCHEMA_VERSION = 2

_DDL = (
    "CREATE TABLE IF NOT EXISTS aethergraph_meta (version integer NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id text PRIMARY KEY, seq bigserial NOT NULL, graph_id text NOT NULL,
        status text NOT NULL, kind text NOT NULL, inputs text NOT NULL, outputs text, error text,
        created_at double precision NOT NULL, started_at double precision,
        finished_at double precision, parent_run_id text, session_id text, owner text,
        graph_digest text)""",
    "CREATE INDEX IF NOT EXISTS runs_created_at ON runs (created_at, seq)",
    "CREATE INDEX IF NOT EXISTS runs_status ON runs (status, created_at, seq)",
    "CREATE INDEX IF NOT EXISTS runs_session_id ON runs (session_id, created_at, seq)",
    "CREATE INDEX IF NOT EXISTS runs_parent_run_id ON runs (parent_run_id, created_at, seq)",
    """CREATE TABLE IF NOT EXISTS nodes (
        seq bigserial NOT NULL, run_id text NOT NULL, node_id text NOT NULL, tool text NOT NULL,
        status text NOT NULL, inputs text NOT NULL, outputs text, error text,
        attempts integer NOT NULL, started_at double precision, finished_at double precision,
        PRIMARY KEY (run_id, node_id))""",
    """CREATE TABLE IF NOT EXISTS run_events (
        run_id text NOT NULL, seq bigint NOT NULL, ts double precision NOT NULL,
        type text NOT NULL, data text NOT NULL, PRIMARY KEY (run_id, seq))""",
    """CREATE TABLE IF NOT EXISTS owners (
        owner text PRIMARY KEY, heartbeat_at double precision NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS run_signals (
        seq bigserial PRIMARY KEY, run_id text NOT NULL, signal text NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS run_signals_run_id ON run_signals (run_id)",
    """CREATE TABLE IF NOT EXISTS events (
        seq bigserial PRIMARY KEY, id text NOT NULL, ts double precision NOT NULL,
        kind text NOT NULL, scope_id text NOT NULL, topic text, data text, text text,
        tags text[] NOT NULL, metrics text NOT NULL, inputs text, outputs text, run_id text,
        graph_id text, node_id text, session_id text, words tsvector NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS events_scope_id ON events (scope_id)",
    "CREATE INDEX IF NOT EXISTS events_run_id ON events (run_id)",
    "CREATE INDEX IF NOT EXISTS events_tags ON events USING gin (tags)",
    "CREATE INDEX IF NOT EXISTS events_words ON events USING gin (words)",
    """CREATE TABLE IF NOT EXISTS logs (
        seq bigserial PRIMARY KEY, run_id text NOT NULL, ts double precision NOT NULL,
        level text NOT NULL, message text NOT NULL, node_id text, graph_id text,
        extra text NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS logs_run_id ON logs (run_id, seq)",
    """CREATE TABLE IF NOT EXISTS kv (
        key text COLLATE "C" PRIMARY KEY, value text NOT NULL, expires_at double precision)""",
    """CREATE TABLE IF NOT EXISTS blobs (sha256 text PRIMARY KEY, data bytea NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS artifacts (
        seq bigserial NOT NULL, id text PRIMARY KEY, uri text NOT NULL, sha256 text NOT NULL,
        size bigint NOT NULL, kind text NOT NULL, created_at double precision NOT NULL,
        name text, mime text, labels text NOT NULL, metrics text NOT NULL, suggested_uri text,
        pinned boolean NOT NULL, run_id text, graph_id text, node_id text, session_id text)""",
    "CREATE INDEX IF NOT EXISTS artifacts_created_at ON artifacts (created_at, seq)",
    "CREATE INDEX IF NOT EXISTS artifacts_run_id ON artifacts (run_id)",
    "CREATE INDEX IF NOT EXISTS artifacts_session_id ON artifacts (session_id)",
    """CREATE TABLE IF NOT EXISTS waits (
        seq bigserial NOT NULL, wait_id text PRIMARY KEY, run_id text NOT NULL,
        node_id text NOT NULL, kind text NOT NULL, prompt text NOT NULL, status text NOT NULL,
        options text, channel text NOT NULL, created_at double precision NOT NULL,
        deadline double precision, reply text)""",
    "CREATE INDEX IF NOT EXISTS waits_run_id ON waits (run_id)",
    # v2: the artifact root the database is used with (one row; see blobs.agree_on_root).
    """CREATE TABLE IF NOT EXISTS artifact_root (
        one boolean PRIMARY KEY DEFAULT true CHECK (one), id text NOT NULL, path text NOT NULL,
        since double precision NOT NULL)""",
)


async def migrate(conn: asyncpg.Connection, schema: str) -> None:
    """Create ``schema`` and bring its tables to ``SCHEMA_VERSION``; refuse a newer version."""
    async with conn.transaction():
        # Processes opening the same workspace take turns.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"aethergraph:{schema}")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET LOCAL search_path TO "{schema}"')
        await conn.execute(_DDL[0])
        version = await conn.fetchval("SELECT max(version) FROM aethergraph_meta") or 0
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"the PostgreSQL schema {schema!r} has version {version}, newer than this "
                f"aethergraph knows ({SCHEMA_VERSION}); upgrade aethergraph to open it"
            )
        if version == SCHEMA_VERSION:
            return
        for statement in _DDL[1:]:
            await conn.execute(statement)
        await conn.execute("DELETE FROM aethergraph_meta")
        await conn.execute("INSERT INTO aethergraph_meta (version) VALUES ($1)", SCHEMA_VERSION)
