"""Database access: SQLAlchemy Core over one URL (SQLite by default, PostgreSQL supported).

Tables are declared in the modules that own them (``verifier.storage`` for reports,
``verifier.banks`` for hash banks) on the shared :data:`metadata`, and created with
:func:`create_all`. One engine per process.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, MetaData, create_engine, event

from verifier.settings import Settings

metadata = MetaData()

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(settings: Settings) -> Engine:
    """The process's engine for ``settings``' database (created once, then shared)."""
    url = settings.resolved_database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _make_engine(url, settings)
            _engines[url] = engine
        return engine


def _make_engine(url: str, settings: Settings) -> Engine:
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_all(settings: Settings) -> Engine:
    """Create every declared table that does not exist yet; returns the engine."""
    # importing these modules declares their tables on `metadata`
    import verifier.banks
    import verifier.storage  # noqa: F401

    engine = get_engine(settings)
    metadata.create_all(engine)
    return engine


def dispose_all() -> None:
    """Close pooled connections (call after fork, and in tests)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
