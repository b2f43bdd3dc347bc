"""Banks of known media: named collections of PDQ hashes with a label, note and source.

A bank entry says "this image is a known fake / a known original / something else worth
recognising", with a free-text note, a source URL (the published fact-check) and its hashes.
Entries are added from an image (hashed here, the same way the ``perceptual_hash`` detector
hashes what it analyses) or from a raw PDQ hex hash as ThreatExchange and
hasher-matcher-actioner export them, one at a time or imported in bulk.

Everything is a plain function of a :class:`BankStore` (one per database) and raises
:mod:`verifier.errors` exceptions - ``BadRequestError`` for malformed input,
``NotFoundError`` for an unknown bank or entry, ``ConflictError`` for a duplicate - so the CLI
and the API are thin wrappers. Return values are pydantic models that serialise to JSON.

Matching uses one in-memory :class:`~verifier.hashindex.HammingIndex` per bank and process.
It keeps in step with the database across processes (API, workers, CLI) through a per-bank
``generation`` counter: every change bumps it in the same transaction, and before matching a
process compares generations (one small query) and loads only what changed - entries with a
larger id, and removals from the ``hash_bank_removals`` log. Writers first bump the bank's
generation, which locks the bank's row until commit, so a bank's entry ids are assigned in
commit order and "id greater than the last one loaded" never misses a row.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from verifier import hashing
from verifier.db import get_engine, metadata
from verifier.errors import BadRequestError, ConflictError, NotFoundError
from verifier.hashindex import HammingIndex
from verifier.media import MediaKind, load_media
from verifier.settings import Settings

# --- schema ----------------------------------------------------------------------------------

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER = rowid alias

hash_banks = sa.Table(
    "hash_banks",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("threshold", sa.Integer, nullable=False, default=hashing.PDQ_THRESHOLD),
    sa.Column("generation", sa.BigInteger, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Never reuse a deleted bank's id: processes cache indexes by (id, generation).
    sqlite_autoincrement=True,
)

hash_bank_entries = sa.Table(
    "hash_bank_entries",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "bank_id",
        _BigId,
        sa.ForeignKey("hash_banks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("pdq", sa.LargeBinary(32), nullable=False),
    sa.Column("quality", sa.Integer, nullable=True),  # null: added by hash without a quality
    sa.Column("label", sa.String(20), nullable=False),
    sa.Column("evidence_kind", sa.String(20), nullable=False, default="manipulation"),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("source_url", sa.Text, nullable=False, default=""),
    sa.Column("hashes", sa.JSON, nullable=False, default=dict),
    sa.Column("media_sha256", sa.String(64), nullable=True),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("bank_id", "pdq", name="uq_hash_bank_entries_bank_pdq"),
    # "This bank's entries after id N, in id order": incremental index loads and paging.
    sa.Index("ix_hash_bank_entries_bank_id_id", "bank_id", "id"),
    # Ids must never be reused (the indexes load "ids above the last one seen"); without
    # AUTOINCREMENT SQLite hands a deleted highest id out again.
    sqlite_autoincrement=True,
)

hash_bank_removals = sa.Table(
    "hash_bank_removals",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "bank_id",
        _BigId,
        sa.ForeignKey("hash_banks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("entry_id", sa.BigInteger, nullable=False),
    sa.Index("ix_hash_bank_removals_bank_id_id", "bank_id", "id"),
    sqlite_autoincrement=True,
)

# --- values ----------------------------------------------------------------------------------

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_THRESHOLD = 64
MAX_NOTE = 10_000
MAX_URL = 2_000
_URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)


class Label(StrEnum):
    KNOWN_FAKE = "known_fake"
    KNOWN_ORIGINAL = "known_original"
    OTHER = "other"


class FakeKind(StrEnum):
    """For a known fake: whether it was edited (manipulation) or generated (synthesis)."""

    MANIPULATION = "manipulation"
    SYNTHESIS = "synthesis"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BankInfo(_Model):
    id: int
    name: str
    description: str
    threshold: int = Field(description="PDQ match threshold (Hamming distance out of 256).")
    entry_count: int
    labels: dict[str, int] = Field(description="Entry count per label.")
    generation: int = Field(description="Bumped on every change; indexes reload when it moves.")
    created_at: datetime


class Entry(_Model):
    id: int
    bank: str
    label: Label
    evidence_kind: FakeKind = Field(
        description="For a known fake: manipulation (edited) or synthesis (generated)."
    )
    note: str
    source_url: str
    pdq: str = Field(description="PDQ hash, 64 hex digits (Meta / ThreatExchange bit order).")
    quality: int | None = Field(description="PDQ quality 0-100; null when added by hash.")
    hashes: dict[str, str] = Field(description="Other hashes of the image (pHash, dHash...).")
    media_sha256: str | None
    added_at: datetime
    warnings: list[str] = Field(default_factory=list)


class EntryPage(_Model):
    entries: list[Entry]
    next_after: int | None = Field(description="Pass as after_id for the next page; null at end.")


class ImportResult(_Model):
    bank: str
    added: int
    duplicates: int = Field(description="Hashes already in the bank (or repeated in the input).")
    entry_ids: list[int] = Field(description="Ids of the added entries (the first 1,000).")


class Match(_Model):
    bank: str
    bank_id: int
    entry_id: int
    label: Label
    evidence_kind: FakeKind
    note: str
    source_url: str
    distance: int = Field(description="Hamming distance between the PDQ hashes (of 256 bits).")
    threshold: int = Field(description="The bank's match threshold.")
    transform: str = Field(
        description="Which rotation/flip of the analysed image matched (see verifier.hashing)."
    )
    entry_pdq: str
    entry_quality: int | None
    reliable: bool = Field(
        description="False when either hash has PDQ quality below 50: a collision between "
        "featureless images, not evidence of the same picture."
    )


class MatchResult(_Model):
    pdq: str
    quality: int | None = Field(description="PDQ quality; null when matched by a raw hash.")
    hashes: dict[str, str]
    banks_searched: list[str]
    matches: list[Match]


# --- validation ------------------------------------------------------------------------------


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise BadRequestError(
            f"Bank name {str(name)[:80]!r} is not valid: use 1-64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit.",
            detail={"name": str(name)[:80]},
        )
    return name


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise BadRequestError("The threshold must be an integer.")
    if not 0 <= threshold <= MAX_THRESHOLD:
        raise BadRequestError(
            f"The threshold {threshold} is out of range: use 0-{MAX_THRESHOLD} bits "
            f"(Meta recommends {hashing.PDQ_THRESHOLD}).",
            detail={"threshold": threshold},
        )
    return threshold


def _check_label(label: str | Label) -> Label:
    try:
        return Label(label)
    except ValueError:
        raise BadRequestError(
            f"Unknown label {str(label)[:40]!r}: use one of {', '.join(x.value for x in Label)}.",
            detail={"label": str(label)[:40]},
        ) from None


def _check_kind(kind: str | FakeKind) -> FakeKind:
    try:
        return FakeKind(kind)
    except ValueError:
        raise BadRequestError(
            f"Unknown evidence kind {str(kind)[:40]!r}: use manipulation or synthesis.",
            detail={"evidence_kind": str(kind)[:40]},
        ) from None


def _check_text(note: str, source_url: str) -> tuple[str, str]:
    note = (note or "").strip()
    source_url = (source_url or "").strip()
    if len(note) > MAX_NOTE:
        raise BadRequestError(f"The note is {len(note):,} characters; the limit is {MAX_NOTE:,}.")
    if source_url and (len(source_url) > MAX_URL or not _URL_RE.match(source_url)):
        raise BadRequestError(
            f"The source URL {source_url[:80]!r} is not an http(s) URL.",
            detail={"source_url": source_url[:80]},
        )
    return note, source_url


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


# --- in-memory indexes, one per bank and process ---------------------------------------------


@dataclass
class _BankIndex:
    index: HammingIndex = field(default_factory=HammingIndex)
    generation: int = -1
    max_entry_id: int = 0  # highest entry id loaded (ids are never reused)
    max_removal_id: int = 0


class _IndexCache:
    """Per-process indexes of every bank of one database, refreshed by generation."""

    def __init__(self) -> None:
        self.banks: dict[int, _BankIndex] = {}
        self.lock = threading.Lock()


# Keyed by engine (one per database per process, see verifier.db), not by URL: two engines on
# one URL - tests, or PostgreSQL schemas chosen by connect options - must not share indexes.
_caches: weakref.WeakKeyDictionary[sa.Engine, _IndexCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()

_LOAD_CHUNK = 200_000


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = sa.make_url(url).database
    return Path(path) if path and path != ":memory:" else None


class BankStore:
    """Bank operations on one database. Cheap to build; indexes are shared per process."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with _caches_lock:
            cache = _caches.get(engine)
            if cache is None:
                cache = _caches[engine] = _IndexCache()
            self._cache = cache

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = True) -> BankStore | None:
        """The store for ``settings``' database, creating tables when ``create``.

        With ``create=False`` nothing is created: ``None`` when the SQLite file does not exist
        (so ``verifier analyze`` leaves no files behind just by looking for banks).
        """
        url = settings.resolved_database_url
        if not create:
            path = _sqlite_path(url)
            if path is not None and not path.exists():
                return None
            store = cls(get_engine(settings))
            if not sa.inspect(store.engine).has_table(hash_banks.name):
                return None
            return store
        from verifier.db import create_all

        return cls(create_all(settings))

    # -- banks --------------------------------------------------------------------------------

    def create_bank(
        self, name: str, *, description: str = "", threshold: int = hashing.PDQ_THRESHOLD
    ) -> BankInfo:
        _check_name(name)
        _check_threshold(threshold)
        description = (description or "").strip()
        if len(description) > MAX_NOTE:
            raise BadRequestError(f"The description is longer than {MAX_NOTE:,} characters.")
        with self.engine.begin() as conn:
            if conn.execute(sa.select(hash_banks.c.id).where(hash_banks.c.name == name)).first():
                raise ConflictError(f"A bank named {name!r} already exists.", detail={"name": name})
            try:
                conn.execute(
                    hash_banks.insert().values(
                        name=name,
                        description=description,
                        threshold=threshold,
                        generation=0,
                        created_at=_now(),
                    )
                )
            except sa.exc.IntegrityError:  # a concurrent create won the race
                raise ConflictError(
                    f"A bank named {name!r} already exists.", detail={"name": name}
                ) from None
        return self.get_bank(name)

    def update_bank(
        self, name: str, *, description: str | None = None, threshold: int | None = None
    ) -> BankInfo:
        values: dict[str, Any] = {}
        if threshold is not None:
            values["threshold"] = _check_threshold(threshold)
        if description is not None:
            values["description"] = description.strip()
        with self.engine.begin() as conn:
            bank_id = self._bank_id(conn, name)
            if values:
                conn.execute(
                    hash_banks.update()
                    .where(hash_banks.c.id == bank_id)
                    .values(generation=hash_banks.c.generation + 1, **values)
                )
        return self.get_bank(name)

    def list_banks(self) -> list[BankInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(hash_banks).order_by(hash_banks.c.name)).all()
            counts = self._label_counts(conn, None)
        return [self._bank_info(row, counts.get(row.id, {})) for row in rows]

    def get_bank(self, name: str) -> BankInfo:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(hash_banks).where(hash_banks.c.name == name)).first()
            if row is None:
                raise _no_bank(name)
            counts = self._label_counts(conn, row.id)
        return self._bank_info(row, counts.get(row.id, {}))

    def delete_bank(self, name: str) -> BankInfo:
        """Delete a bank and all its entries; returns what it was."""
        info = self.get_bank(name)
        with self.engine.begin() as conn:
            bank_id = self._bank_id(conn, name, lock=True)
            conn.execute(hash_bank_removals.delete().where(hash_bank_removals.c.bank_id == bank_id))
            conn.execute(hash_bank_entries.delete().where(hash_bank_entries.c.bank_id == bank_id))
            conn.execute(hash_banks.delete().where(hash_banks.c.id == bank_id))
        with self._cache.lock:
            self._cache.banks.pop(info.id, None)
        return info

    @staticmethod
    def _label_counts(conn: sa.Connection, bank_id: int | None) -> dict[int, dict[str, int]]:
        query = sa.select(
            hash_bank_entries.c.bank_id, hash_bank_entries.c.label, sa.func.count()
        ).group_by(hash_bank_entries.c.bank_id, hash_bank_entries.c.label)
        if bank_id is not None:
            query = query.where(hash_bank_entries.c.bank_id == bank_id)
        counts: dict[int, dict[str, int]] = {}
        for bid, label, count in conn.execute(query):
            counts.setdefault(bid, {})[label] = count
        return counts

    @staticmethod
    def _bank_info(row: Any, labels: dict[str, int]) -> BankInfo:
        return BankInfo(
            id=row.id,
            name=row.name,
            description=row.description,
            threshold=row.threshold,
            entry_count=sum(labels.values()),
            labels=labels,
            generation=row.generation,
            created_at=_aware(row.created_at),
        )

    @staticmethod
    def _bank_id(conn: sa.Connection, name: str, *, lock: bool = False) -> int:
        """The bank's id; with ``lock``, bump its generation first, which serialises writers."""
        if lock:
            result = conn.execute(
                hash_banks.update()
                .where(hash_banks.c.name == name)
                .values(generation=hash_banks.c.generation + 1)
            )
            if result.rowcount == 0:
                raise _no_bank(name)
        bank_id = conn.execute(sa.select(hash_banks.c.id).where(hash_banks.c.name == name)).scalar()
        if bank_id is None:
            raise _no_bank(name)
        return int(bank_id)

    # -- entries ------------------------------------------------------------------------------

    def add_hash(
        self,
        bank: str,
        pdq_hex: str,
        *,
        label: str | Label = Label.KNOWN_FAKE,
        evidence_kind: str | FakeKind = FakeKind.MANIPULATION,
        note: str = "",
        source_url: str = "",
        quality: int | None = None,
    ) -> Entry:
        """Add one entry by its raw PDQ hash (hex, as ThreatExchange / HMA export it)."""
        digest = hashing.parse_pdq_hex(pdq_hex)
        if quality is not None and not (isinstance(quality, int) and 0 <= quality <= 100):
            raise BadRequestError("The PDQ quality must be an integer from 0 to 100.")
        return self._add_one(
            bank,
            digest,
            quality=quality,
            label=label,
            evidence_kind=evidence_kind,
            note=note,
            source_url=source_url,
            hashes={},
            media_sha256=None,
        )

    def add_image(
        self,
        bank: str,
        data: bytes,
        settings: Settings,
        *,
        label: str | Label = Label.KNOWN_FAKE,
        evidence_kind: str | FakeKind = FakeKind.MANIPULATION,
        note: str = "",
        source_url: str = "",
    ) -> Entry:
        """Add one entry from image bytes: hashed exactly as the detector hashes an analysis."""
        media = load_media(data, settings)
        if media.kind is not MediaKind.IMAGE:
            raise BadRequestError("Only images can be added to a bank (this is a video).")
        hashes = hashing.hash_media(media)
        return self._add_one(
            bank,
            hashes.pdq.hash,
            quality=hashes.pdq.quality,
            label=label,
            evidence_kind=evidence_kind,
            note=note,
            source_url=source_url,
            hashes=hashes.others,
            media_sha256=media.sha256,
        )

    def _add_one(
        self,
        bank: str,
        digest: bytes,
        *,
        quality: int | None,
        label: str | Label,
        evidence_kind: str | FakeKind,
        note: str,
        source_url: str,
        hashes: dict[str, str],
        media_sha256: str | None,
    ) -> Entry:
        label = _check_label(label)
        kind = _check_kind(evidence_kind)
        note, source_url = _check_text(note, source_url)
        with self.engine.begin() as conn:
            bank_id = self._bank_id(conn, bank, lock=True)
            existing = conn.execute(
                sa.select(hash_bank_entries.c.id).where(
                    hash_bank_entries.c.bank_id == bank_id, hash_bank_entries.c.pdq == digest
                )
            ).scalar()
            if existing is not None:
                raise ConflictError(
                    f"Bank {bank!r} already holds this PDQ hash (entry {existing}).",
                    detail={"bank": bank, "entry_id": int(existing), "pdq": digest.hex()},
                )
            entry_id = conn.execute(
                hash_bank_entries.insert().values(
                    bank_id=bank_id,
                    pdq=digest,
                    quality=quality,
                    label=label.value,
                    evidence_kind=kind.value,
                    note=note,
                    source_url=source_url,
                    hashes=hashes,
                    media_sha256=media_sha256,
                    added_at=_now(),
                )
            ).inserted_primary_key[0]
        entry = self.get_entry(bank, int(entry_id))
        if not hashing.hash_reliable(digest, quality):
            why = (
                f"PDQ quality {quality} is below {hashing.PDQ_MIN_QUALITY}"
                if quality is not None
                else "The hash has far from half its bits set (a flat image's hash)"
            )
            entry.warnings.append(
                f"{why}: too flat or featureless for reliable matching; matches with this "
                "entry will be reported but never counted as evidence."
            )
        return entry

    def import_hashes(
        self,
        bank: str,
        text: str,
        *,
        label: str | Label = Label.KNOWN_FAKE,
        evidence_kind: str | FakeKind = FakeKind.MANIPULATION,
        note: str = "",
        source_url: str = "",
    ) -> ImportResult:
        """Add many hashes from text: nothing is added unless every line is valid.

        Accepted: one PDQ hex hash per line (optionally ``pdq`` before it and anything after
        it, as ThreatExchange / hasher-matcher-actioner exports write), ``#`` comments and
        blank lines; or CSV with a header naming the hash column (``pdq``, ``hash``,
        ``signal``, ``signal_value`` or ``pdq_hash``) and optionally ``label``,
        ``evidence_kind``, ``note``, ``source_url``, ``quality`` and ``signal_type`` columns,
        which override the defaults given here. Hashes already in the bank, or repeated in the
        input, are counted as duplicates and skipped.
        """
        default_label = _check_label(label)
        default_kind = _check_kind(evidence_kind)
        default_note, default_url = _check_text(note, source_url)
        records = list(_parse_import(text, default_label, default_kind, default_note, default_url))
        return self.add_records(bank, records)

    def add_records(self, bank: str, records: Sequence[NewEntry]) -> ImportResult:
        """Insert parsed records in one transaction, skipping duplicates.

        The database skips hashes the bank already holds (``ON CONFLICT DO NOTHING`` on the
        unique (bank, hash) index) and returns the new ids, so an import costs one batched
        insert per chunk whatever the bank's size.
        """
        added_ids: list[int] = []
        unique: dict[bytes, NewEntry] = {}
        for r in records:
            unique.setdefault(r.pdq, r)
        now = _now()
        rows = [
            {
                "bank_id": 0,
                "pdq": r.pdq,
                "quality": r.quality,
                "label": r.label.value,
                "evidence_kind": r.evidence_kind.value,
                "note": r.note,
                "source_url": r.source_url,
                "hashes": {},
                "media_sha256": None,
                "added_at": now,
            }
            for r in unique.values()
        ]
        with self.engine.begin() as conn:
            bank_id = self._bank_id(conn, bank, lock=True)
            for row in rows:
                row["bank_id"] = bank_id
            for start in range(0, len(rows), 5_000):
                added_ids += _insert_new(conn, rows[start : start + 5_000])
        return ImportResult(
            bank=bank,
            added=len(added_ids),
            duplicates=len(records) - len(added_ids),
            entry_ids=sorted(added_ids)[:1000],
        )

    def get_entry(self, bank: str, entry_id: int) -> Entry:
        with self.engine.connect() as conn:
            bank_id = self._bank_id(conn, bank)
            row = conn.execute(
                sa.select(hash_bank_entries).where(
                    hash_bank_entries.c.id == entry_id, hash_bank_entries.c.bank_id == bank_id
                )
            ).first()
        if row is None:
            raise NotFoundError(
                f"Bank {bank!r} has no entry {entry_id}.",
                detail={"bank": bank, "entry_id": entry_id},
            )
        return _entry(row, bank)

    def list_entries(
        self,
        bank: str,
        *,
        label: str | Label | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> EntryPage:
        if not 1 <= limit <= 1000:
            raise BadRequestError("limit must be from 1 to 1000.")
        with self.engine.connect() as conn:
            bank_id = self._bank_id(conn, bank)
            query = (
                sa.select(hash_bank_entries)
                .where(hash_bank_entries.c.bank_id == bank_id, hash_bank_entries.c.id > after_id)
                .order_by(hash_bank_entries.c.id)
                .limit(limit + 1)
            )
            if label is not None:
                query = query.where(hash_bank_entries.c.label == _check_label(label).value)
            rows = conn.execute(query).all()
        entries = [_entry(row, bank) for row in rows[:limit]]
        more = len(rows) > limit
        return EntryPage(entries=entries, next_after=entries[-1].id if more else None)

    def delete_entry(self, bank: str, entry_id: int) -> Entry:
        entry = self.get_entry(bank, entry_id)
        with self.engine.begin() as conn:
            bank_id = self._bank_id(conn, bank, lock=True)
            deleted = conn.execute(
                hash_bank_entries.delete().where(
                    hash_bank_entries.c.id == entry_id, hash_bank_entries.c.bank_id == bank_id
                )
            ).rowcount
            if not deleted:  # removed by someone else meanwhile
                raise NotFoundError(f"Bank {bank!r} has no entry {entry_id}.")
            conn.execute(hash_bank_removals.insert().values(bank_id=bank_id, entry_id=entry_id))
        return entry

    # -- matching -----------------------------------------------------------------------------

    def refresh(self) -> list[tuple[int, str, int]]:
        """Bring this process's indexes in step with the database; returns (id, name, threshold)
        of every bank."""
        cache = self._cache
        with self.engine.connect() as conn:
            banks = conn.execute(
                sa.select(
                    hash_banks.c.id,
                    hash_banks.c.name,
                    hash_banks.c.threshold,
                    hash_banks.c.generation,
                )
            ).all()
            with cache.lock:
                for gone in set(cache.banks) - {b.id for b in banks}:
                    del cache.banks[gone]
                for b in banks:
                    state = cache.banks.setdefault(b.id, _BankIndex())
                    if state.generation != b.generation:
                        self._load_changes(conn, b.id, state)
                        state.generation = b.generation
        return [(b.id, b.name, b.threshold) for b in banks]

    @staticmethod
    def _load_changes(conn: sa.Connection, bank_id: int, state: _BankIndex) -> None:
        last = state.max_entry_id
        while True:
            rows = conn.execute(
                sa.select(hash_bank_entries.c.id, hash_bank_entries.c.pdq)
                .where(hash_bank_entries.c.bank_id == bank_id, hash_bank_entries.c.id > last)
                .order_by(hash_bank_entries.c.id)
                .limit(_LOAD_CHUNK)
            ).all()
            if not rows:
                break
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            state.index.add(ids, b"".join(bytes(r[1]) for r in rows))
            last = state.max_entry_id = int(ids[-1])
        removals = conn.execute(
            sa.select(hash_bank_removals.c.id, hash_bank_removals.c.entry_id)
            .where(
                hash_bank_removals.c.bank_id == bank_id,
                hash_bank_removals.c.id > state.max_removal_id,
            )
            .order_by(hash_bank_removals.c.id)
        ).all()
        if removals:
            state.index.remove([r[1] for r in removals])
            state.max_removal_id = int(removals[-1][0])

    def match(
        self,
        pdq_hashes: Sequence[bytes],
        *,
        quality: int | None = None,
        banks: Iterable[str] | None = None,
    ) -> tuple[list[str], list[Match]]:
        """Entries within each bank's threshold of any of ``pdq_hashes`` (the 8 rotations/flips
        of one image, in ``hashing.DIHEDRAL`` order, or just one hash).

        Each entry is reported once, with its smallest distance and the transform that gave it.
        Returns the names of the banks searched and the matches, nearest first.
        """
        if not pdq_hashes:
            return [], []
        all_banks = self.refresh()
        wanted = set(banks) if banks is not None else None
        if wanted is not None:
            unknown = wanted - {name for _, name, _ in all_banks}
            if unknown:
                raise _no_bank(sorted(unknown)[0])
        searched: list[str] = []
        best: dict[int, tuple[int, int, str, int, int]] = {}  # entry -> dist, q, bank, id, thr
        for bank_id, name, threshold in all_banks:
            if wanted is not None and name not in wanted:
                continue
            searched.append(name)
            state = self._cache.banks.get(bank_id)
            if state is None:
                continue
            qi, ids, dist = state.index.search(list(pdq_hashes), threshold)
            for q, entry_id, d in zip(qi.tolist(), ids.tolist(), dist.tolist(), strict=True):
                if entry_id not in best or (d, q) < best[entry_id][:2]:
                    best[entry_id] = (d, q, name, bank_id, threshold)
        if not best:
            return searched, []
        with self.engine.connect() as conn:
            rows = {
                row.id: row
                for i in range(0, len(best), 500)
                for row in conn.execute(
                    sa.select(hash_bank_entries).where(
                        hash_bank_entries.c.id.in_(list(best)[i : i + 500])
                    )
                )
            }
        matches = []
        for entry_id, (d, q, name, bank_id, threshold) in best.items():
            row = rows.get(entry_id)
            if row is None:  # deleted since the index was refreshed
                continue
            reliable = hashing.hash_reliable(pdq_hashes[q], quality) and hashing.hash_reliable(
                bytes(row.pdq), row.quality
            )
            matches.append(
                Match(
                    bank=name,
                    bank_id=bank_id,
                    entry_id=entry_id,
                    label=Label(row.label),
                    evidence_kind=FakeKind(row.evidence_kind),
                    note=row.note,
                    source_url=row.source_url,
                    distance=d,
                    threshold=threshold,
                    transform=hashing.DIHEDRAL[q] if len(pdq_hashes) == 8 else "original",
                    entry_pdq=bytes(row.pdq).hex(),
                    entry_quality=row.quality,
                    reliable=reliable,
                )
            )
        matches.sort(key=lambda m: (m.distance, m.bank, m.entry_id))
        return searched, matches

    def match_image(
        self, data: bytes, settings: Settings, *, banks: Iterable[str] | None = None
    ) -> MatchResult:
        media = load_media(data, settings)
        if media.kind is not MediaKind.IMAGE:
            raise BadRequestError("Only images can be matched (this is a video).")
        hashes = hashing.hash_media(media)
        searched, matches = self.match(hashes.pdq.dihedral, quality=hashes.pdq.quality, banks=banks)
        return MatchResult(
            pdq=hashes.pdq.hex,
            quality=hashes.pdq.quality,
            hashes=hashes.as_dict(),
            banks_searched=searched,
            matches=matches,
        )

    def match_hex(self, pdq_hex: str, *, banks: Iterable[str] | None = None) -> MatchResult:
        digest = hashing.parse_pdq_hex(pdq_hex)
        searched, matches = self.match([digest], banks=banks)
        return MatchResult(
            pdq=digest.hex(),
            quality=None,
            hashes={"pdq": digest.hex()},
            banks_searched=searched,
            matches=matches,
        )


def _insert_new(conn: sa.Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert entry rows whose hash the bank does not hold yet; returns the new ids."""
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = (
            insert(hash_bank_entries)
            .on_conflict_do_nothing(index_elements=["bank_id", "pdq"])
            .returning(hash_bank_entries.c.id)
        )
        return [int(i) for i in conn.execute(stmt, rows).scalars()]
    ids = []  # other databases: one row at a time, checking first
    for row in rows:
        exists = conn.execute(
            sa.select(hash_bank_entries.c.id).where(
                hash_bank_entries.c.bank_id == row["bank_id"],
                hash_bank_entries.c.pdq == row["pdq"],
            )
        ).first()
        if exists is None:
            ids.append(int(conn.execute(hash_bank_entries.insert(), row).inserted_primary_key[0]))
    return ids


def _no_bank(name: str) -> NotFoundError:
    return NotFoundError(f"There is no bank named {str(name)[:80]!r}.", detail={"bank": name})


def _entry(row: Any, bank: str) -> Entry:
    return Entry(
        id=row.id,
        bank=bank,
        label=Label(row.label),
        evidence_kind=FakeKind(row.evidence_kind),
        note=row.note,
        source_url=row.source_url,
        pdq=bytes(row.pdq).hex(),
        quality=row.quality,
        hashes=dict(row.hashes or {}),
        media_sha256=row.media_sha256,
        added_at=_aware(row.added_at),
    )


# --- import parsing --------------------------------------------------------------------------


@dataclass(frozen=True)
class NewEntry:
    """One entry to add in bulk with :meth:`BankStore.add_records` (values already checked:
    build it with ``hashing.parse_pdq_hex`` and the ``Label`` / ``FakeKind`` enums)."""

    pdq: bytes
    quality: int | None
    label: Label
    evidence_kind: FakeKind
    note: str
    source_url: str


_HASH_COLUMNS = ("pdq", "pdq_hash", "hash", "signal", "signal_value")
_HEX64 = re.compile(r"^(?:0x)?[0-9a-fA-F]{64}$")
MAX_IMPORT_PROBLEMS = 20


def _parse_import(
    text: str, label: Label, kind: FakeKind, note: str, url: str
) -> Iterable[NewEntry]:
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is None:
        raise BadRequestError("The import is empty: no hashes found.")
    header = [c.strip().lower() for c in next(csv.reader([first]))]
    if any(c in _HASH_COLUMNS for c in header) and not any(_HEX64.match(c) for c in header):
        return _parse_csv(text, label, kind, note, url)
    return _parse_lines(lines, label, kind, note, url)


def _parse_lines(
    lines: list[str], label: Label, kind: FakeKind, note: str, url: str
) -> list[NewEntry]:
    records, problems = [], []
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        tokens = [t for t in re.split(r"[\s,;]+", stripped) if t]
        if tokens and tokens[0].lower() == "pdq":
            tokens = tokens[1:]
        token = tokens[0] if tokens else ""
        try:
            digest = hashing.parse_pdq_hex(token)
        except BadRequestError as exc:
            problems.append(f"line {number}: {exc.message}")
            continue
        records.append(NewEntry(digest, None, label, kind, note, url))
    _raise_problems(problems)
    return records


def _parse_csv(text: str, label: Label, kind: FakeKind, note: str, url: str) -> list[NewEntry]:
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    reader = csv.DictReader(io.StringIO(body))
    fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
    hash_col = next(fields[c] for c in _HASH_COLUMNS if c in fields)
    records, problems = [], []
    for number, row in enumerate(reader, 2):

        def get(name: str, row: dict[str, Any] = row) -> str:
            key = fields.get(name)
            return (row.get(key) or "").strip() if key else ""

        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        signal_type = get("signal_type").lower()
        if signal_type and signal_type not in ("pdq", "pdq_hash", "photo_pdq"):
            problems.append(f"row {number}: signal type {signal_type!r} is not PDQ")
            continue
        try:
            digest = hashing.parse_pdq_hex(get(hash_col.strip().lower()))
            row_label = _check_label(get("label") or label)
            row_kind = _check_kind(get("evidence_kind") or kind)
            row_note, row_url = _check_text(get("note") or note, get("source_url") or url)
            q_text = get("quality")
            quality = int(q_text) if q_text else None
            if quality is not None and not 0 <= quality <= 100:
                raise BadRequestError("quality must be from 0 to 100")
        except BadRequestError as exc:
            problems.append(f"row {number}: {exc.message}")
            continue
        except ValueError:
            problems.append(f"row {number}: quality {get('quality')!r} is not an integer")
            continue
        records.append(NewEntry(digest, quality, row_label, row_kind, row_note, row_url))
    _raise_problems(problems)
    if not records:
        raise BadRequestError("The import is empty: no hashes found.")
    return records


def _raise_problems(problems: list[str]) -> None:
    if problems:
        shown = problems[:MAX_IMPORT_PROBLEMS]
        more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
        raise BadRequestError(
            f"{len(problems)} invalid line(s); nothing was imported. First: {shown[0]}{more}",
            detail={"problems": shown, "count": len(problems)},
        )
