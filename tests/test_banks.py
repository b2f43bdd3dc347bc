"""Banks of known media on SQLite and PostgreSQL: CRUD, imports, matching, cross-process sync."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from hash_factory import jpeg, near_copies, png, scene
from media_factory import VIDEO_HEADERS
from PIL import Image

from verifier import hashing
from verifier.banks import BankStore, FakeKind, Label
from verifier.db import dispose_all, metadata
from verifier.errors import BadRequestError, ConflictError, NotFoundError, UnsupportedMediaError
from verifier.settings import Settings

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
H0 = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"


def _flip(hex_hash: str, bits: int) -> str:
    return f"{int(hex_hash, 16) ^ ((1 << bits) - 1):064x}"


def _postgres_available() -> bool:
    try:
        import psycopg

        psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=2).close()
    except Exception:  # noqa: BLE001 - any failure means: no PostgreSQL here, skip
        return False
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request, tmp_path) -> Iterator[Callable[[], BankStore]]:
    """A factory of stores on one fresh database; each call is a new engine, as another
    process would have (its own in-memory indexes)."""
    engines: list[sa.Engine] = []
    if request.param == "sqlite":
        settings = Settings.from_env({}, data_dir=tmp_path / "data")
        first = BankStore.from_settings(settings)
        assert first is not None
        url = settings.resolved_database_url

        def make() -> BankStore:
            if not engines:
                engines.append(first.engine)
                return first
            engine = sa.create_engine(url)
            engines.append(engine)
            return BankStore(engine)

        yield make
        for engine in engines:
            engine.dispose()
        dispose_all()
        return
    if not _postgres_available():
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    schema = f"verifier_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def make_pg() -> BankStore:
        engine = sa.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
        if not engines:
            metadata.create_all(engine)
        engines.append(engine)
        return BankStore(engine)

    try:
        yield make_pg
    finally:
        for engine in engines:
            engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(make_store) -> BankStore:
    return make_store()


def test_bank_lifecycle(store):
    info = store.create_bank("fakes", description="debunked", threshold=20)
    assert (info.name, info.description, info.threshold, info.entry_count) == (
        "fakes",
        "debunked",
        20,
        0,
    )
    store.create_bank("originals")
    assert [b.name for b in store.list_banks()] == ["fakes", "originals"]
    with pytest.raises(ConflictError) as exc:
        store.create_bank("fakes")
    assert exc.value.http_status == 409
    assert store.update_bank("fakes", threshold=31).threshold == 31
    assert store.delete_bank("fakes").name == "fakes"
    assert [b.name for b in store.list_banks()] == ["originals"]
    with pytest.raises(NotFoundError):
        store.get_bank("fakes")
    store.create_bank("fakes")  # the name is free again
    info.model_dump_json()


@pytest.mark.parametrize("name", ["", "has space", "-leading", "x" * 65, "naïve"])
def test_bad_bank_names_are_refused(store, name):
    with pytest.raises(BadRequestError):
        store.create_bank(name)


@pytest.mark.parametrize("threshold", [-1, 65, True, 3.5])
def test_bad_thresholds_are_refused(store, threshold):
    with pytest.raises(BadRequestError):
        store.create_bank("b", threshold=threshold)


def test_unknown_bank_is_404_everywhere(store):
    for call in (
        lambda: store.get_bank("nope"),
        lambda: store.delete_bank("nope"),
        lambda: store.add_hash("nope", H0),
        lambda: store.import_hashes("nope", H0),
        lambda: store.list_entries("nope"),
        lambda: store.get_entry("nope", 1),
        lambda: store.match_hex(H0, banks=["nope"]),
    ):
        with pytest.raises(NotFoundError) as exc:
            call()
        assert exc.value.http_status == 404


def test_entries_add_show_list_delete(store):
    store.create_bank("b")
    e = store.add_hash(
        "b",
        H0.upper(),
        label="known_original",
        note=" the original ",
        source_url="https://example.org/check/1",
        quality=90,
    )
    assert (e.pdq, e.label, e.note, e.quality) == (H0, Label.KNOWN_ORIGINAL, "the original", 90)
    assert e.added_at.tzinfo is not None
    assert store.get_entry("b", e.id) == e
    with pytest.raises(ConflictError) as exc:
        store.add_hash("b", H0)
    assert exc.value.detail["entry_id"] == e.id
    more = [store.add_hash("b", _flip(H0, k), label="other").id for k in range(1, 6)]
    page = store.list_entries("b", limit=4)
    assert [x.id for x in page.entries] == [e.id, *more[:3]]
    rest = store.list_entries("b", after_id=page.next_after, limit=4)
    assert [x.id for x in rest.entries] == more[3:] and rest.next_after is None
    assert len(store.list_entries("b", label="other").entries) == 5
    assert store.get_bank("b").labels == {"known_original": 1, "other": 5}
    assert store.delete_entry("b", e.id).id == e.id
    with pytest.raises(NotFoundError):
        store.delete_entry("b", e.id)
    with pytest.raises(NotFoundError):
        store.get_entry("b", 10_000)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"pdq_hex": "abc"}, "64"),
        ({"pdq_hex": "z" * 64}, "hexadecimal"),
        ({"pdq_hex": H0, "label": "fake"}, "label"),
        ({"pdq_hex": H0, "evidence_kind": "edited"}, "evidence kind"),
        ({"pdq_hex": H0, "source_url": "javascript:alert(1)"}, "URL"),
        ({"pdq_hex": H0, "quality": 101}, "quality"),
    ],
)
def test_bad_entries_are_refused(store, kwargs, words):
    store.create_bank("b")
    with pytest.raises(BadRequestError, match=words) as exc:
        store.add_hash("b", **kwargs)
    assert exc.value.http_status == 400
    assert store.get_bank("b").entry_count == 0


def test_add_image_hashes_like_the_detector(store, settings):
    store.create_bank("b")
    e = store.add_image("b", jpeg(scene(1)), settings, note="scene one")
    expected = hashing.hash_image(scene(1))  # same reduction as media.reduced for this size
    assert e.quality is not None and e.quality >= hashing.PDQ_MIN_QUALITY
    assert hashing.hamming(bytes.fromhex(e.pdq), expected.pdq.hash) <= 4
    assert set(e.hashes) == {"phash", "dhash", "ahash", "whash", "colorhash"}
    assert e.media_sha256 and not e.warnings
    with pytest.raises(ConflictError):
        store.add_image("b", jpeg(scene(1)), settings)
    with pytest.raises(BadRequestError, match="video"):
        store.add_image("b", VIDEO_HEADERS["mp4"], settings)
    with pytest.raises(UnsupportedMediaError):
        store.add_image("b", b"not an image", settings)
    flat = store.add_image("b", png(Image.new("RGB", (100, 80), (7, 7, 7))), settings)
    assert flat.quality is not None and flat.quality < 50 and flat.warnings
    assert store.add_hash("b", "0" * 64).warnings  # a flat image's hash, given raw


def test_import_plain_lines_and_duplicates(store):
    store.create_bank("b")
    store.add_hash("b", H0)
    text = "\n".join(
        [
            "# exported from hasher-matcher-actioner",
            H0,  # already in the bank
            f"pdq {_flip(H0, 1)} some-id",
            f"{_flip(H0, 2)},2024-01-01",
            "",
            _flip(H0, 1),  # repeated in the input
        ]
    )
    result = store.import_hashes("b", text, note="batch", source_url="https://example.org/x")
    assert (result.added, result.duplicates) == (2, 2)
    entries = store.list_entries("b").entries
    assert [e.note for e in entries] == ["", "batch", "batch"]
    assert [e.id for e in entries[1:]] == result.entry_ids


def test_import_csv_with_columns(store):
    store.create_bank("b")
    text = (
        "signal_type,signal_value,label,note,quality,evidence_kind\n"
        f"pdq,{H0},known_original,orig,100,\n"
        f"pdq,{_flip(H0, 3)},,generated copy,80,synthesis\n"
    )
    result = store.import_hashes("b", text, label="known_fake")
    assert result.added == 2
    a, b = store.list_entries("b").entries
    assert (a.label, a.note, a.quality) == (Label.KNOWN_ORIGINAL, "orig", 100)
    assert (b.label, b.evidence_kind, b.quality) == (Label.KNOWN_FAKE, FakeKind.SYNTHESIS, 80)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        (f"{H0}\nnot-a-hash\n{H0[:-1]}\n", "2 invalid line"),
        (f"hash,label\n{H0},bogus\n", "row 2"),
        (f"signal_type,signal\nvideo_md5,{H0}\n", "not PDQ"),
        (f"pdq,quality\n{H0},high\n", "not an integer"),
    ],
)
def test_bad_imports_add_nothing(store, text, words):
    store.create_bank("b")
    with pytest.raises(BadRequestError, match=words):
        store.import_hashes("b", text)
    assert store.get_bank("b").entry_count == 0


def test_match_near_copies_rotations_and_thresholds(store, settings):
    store.create_bank("fakes")
    store.create_bank("strict", threshold=0)
    entry = store.add_image(
        "fakes", jpeg(scene(1)), settings, note="n", source_url="https://example.org/f"
    )
    store.add_image("strict", jpeg(scene(1)), settings)
    for name, copy in near_copies(scene(1)).items():
        result = store.match_image(jpeg(copy), settings)
        assert result.banks_searched == ["fakes", "strict"]
        found = {m.bank: m for m in result.matches}
        assert found["fakes"].entry_id == entry.id, name
        assert found["fakes"].distance <= 31 and found["fakes"].reliable
        assert found["fakes"].source_url == "https://example.org/f"
        if found["fakes"].distance > 0:
            assert "strict" not in found, name
    mirrored = store.match_image(
        jpeg(scene(1).transpose(Image.Transpose.FLIP_LEFT_RIGHT)), settings
    )
    best = next(m for m in mirrored.matches if m.bank == "fakes")
    assert best.transform == "flip_left_right"
    assert store.match_image(jpeg(scene(2)), settings).matches == []
    only = store.match_image(jpeg(scene(1)), settings, banks=["strict"])
    assert only.banks_searched == ["strict"]
    result = store.match_hex(entry.pdq)
    assert [m.distance for m in result.matches if m.bank == "fakes"] == [0]


def test_low_quality_matches_are_flagged_unreliable(store, settings):
    store.create_bank("b")
    # Flat images have PDQ quality 0 and hash to a few float-rounding bits, so two different
    # flat images can collide exactly.
    store.add_image("b", png(Image.new("RGB", (90, 90), (20, 20, 20))), settings)
    result = store.match_image(png(Image.new("RGB", (120, 60), (20, 20, 20))), settings)
    assert result.quality < 50
    assert result.matches and not any(m.reliable for m in result.matches)
    raw = store.match_hex(result.pdq)
    assert raw.matches and not raw.matches[0].reliable  # degenerate hash, no quality given


def test_indexes_follow_changes_made_by_other_processes(make_store):
    api, worker = make_store(), make_store()
    assert api._cache is not worker._cache
    api.create_bank("b")
    assert worker.match_hex(H0).matches == []
    first = api.add_hash("b", H0)
    assert [m.entry_id for m in worker.match_hex(H0).matches] == [first.id]
    api.import_hashes("b", "\n".join(_flip(H0, k) for k in range(1, 40)))
    assert len(worker.match_hex(H0).matches) == 32  # H0 and its flips of 1..31 bits
    api.delete_entry("b", first.id)
    after = worker.match_hex(H0).matches
    assert len(after) == 31 and first.id not in {m.entry_id for m in after}
    api.update_bank("b", threshold=5)
    assert {m.distance for m in worker.match_hex(H0).matches} == {1, 2, 3, 4, 5}
    api.delete_bank("b")
    assert worker.match_hex(H0).matches == []
    assert worker.match_hex(H0).banks_searched == []


def test_a_deleted_highest_id_is_never_reused(make_store):
    api, worker = make_store(), make_store()
    api.create_bank("b")
    api.add_hash("b", H0)
    last = api.add_hash("b", _flip(H0, 100))
    assert worker.match_hex(_flip(H0, 100)).matches[0].entry_id == last.id  # worker loads
    api.delete_entry("b", last.id)
    again = api.add_hash("b", _flip(H0, 120))
    assert again.id > last.id
    assert [m.entry_id for m in worker.match_hex(_flip(H0, 120)).matches] == [again.id]
