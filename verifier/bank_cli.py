"""``verifier bank ...``: create, fill, inspect and match banks of known media from a shell.

A thin layer over :class:`verifier.banks.BankStore`; every refusal (malformed hash, unknown
bank, duplicate entry) is one ``verifier: ...`` line on stderr and exit status 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from verifier.banks import BankStore, FakeKind, Label
from verifier.errors import BadRequestError, ConfigError, VerifierError
from verifier.hashing import DIHEDRAL_PHRASES, PDQ_THRESHOLD
from verifier.settings import Settings

EXIT_OK, EXIT_REFUSED = 0, 3


def add_parser(sub: Any) -> None:
    """Register ``bank`` and its subcommands on the main parser's subparsers."""
    bank = sub.add_parser("bank", help="manage banks of known fakes and originals (PDQ hashes)")
    cmds = bank.add_subparsers(dest="bank_command", required=True, metavar="SUBCOMMAND")

    create = cmds.add_parser("create", help="create an empty bank")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument(
        "--threshold",
        type=int,
        default=PDQ_THRESHOLD,
        help=f"PDQ match threshold in bits (default {PDQ_THRESHOLD}, Meta's)",
    )

    def entry_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--label", choices=[x.value for x in Label], default=Label.KNOWN_FAKE.value)
        p.add_argument(
            "--kind",
            choices=[x.value for x in FakeKind],
            default=FakeKind.MANIPULATION.value,
            help="for a known fake: manipulation (edited) or synthesis (generated)",
        )
        p.add_argument("--note", default="", help="free text, e.g. what the fact-check found")
        p.add_argument("--source-url", default="", help="e.g. the published fact-check")

    add = cmds.add_parser("add", help="add images (hashed here) or raw PDQ hashes to a bank")
    add.add_argument("name")
    add.add_argument("files", nargs="*", type=Path, metavar="FILE")
    add.add_argument("--hash", action="append", default=[], metavar="HEX", help="PDQ hex hash")
    add.add_argument("--quality", type=int, default=None, help="PDQ quality of --hash values")
    entry_options(add)

    imp = cmds.add_parser(
        "import",
        help="import many PDQ hashes: one hex per line (ThreatExchange/HMA) or CSV with a header",
    )
    imp.add_argument("name")
    imp.add_argument("file", metavar="FILE", help="file to read, or - for standard input")
    entry_options(imp)

    cmds.add_parser("list", help="list banks").add_argument("--json", action="store_true")

    show = cmds.add_parser("show", help="show a bank, its entries, or one entry")
    show.add_argument("name")
    show.add_argument("--entry", type=int, metavar="ID", help="show one entry")
    show.add_argument("--label", choices=[x.value for x in Label])
    show.add_argument("--limit", type=int, default=50)
    show.add_argument("--after", type=int, default=0, metavar="ID", help="entries after this id")
    show.add_argument("--json", action="store_true")

    delete = cmds.add_parser("delete", help="delete a bank (with all entries) or one entry")
    delete.add_argument("name")
    delete.add_argument("--entry", type=int, metavar="ID", help="delete only this entry")

    match = cmds.add_parser("match", help="match images or PDQ hashes against the banks")
    match.add_argument("files", nargs="*", type=Path, metavar="FILE")
    match.add_argument("--hash", action="append", default=[], metavar="HEX")
    match.add_argument("--bank", action="append", default=None, metavar="NAME")
    match.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        store = BankStore.from_settings(settings)
        assert store is not None
        return _COMMANDS[args.bank_command](store, args, settings)
    except ConfigError:
        raise
    except VerifierError as exc:
        print(f"verifier: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED


def _dump(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _create(store: BankStore, args: argparse.Namespace, _s: Settings) -> int:
    info = store.create_bank(args.name, description=args.description, threshold=args.threshold)
    print(f"created bank {info.name!r} (threshold {info.threshold})")
    return EXIT_OK


def _entry_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "label": args.label,
        "evidence_kind": args.kind,
        "note": args.note,
        "source_url": args.source_url,
    }


def _add(store: BankStore, args: argparse.Namespace, settings: Settings) -> int:
    if not args.files and not args.hash:
        raise BadRequestError("Give image files and/or --hash HEX to add.")
    store.get_bank(args.name)  # a clear "no such bank" before reading any file
    refused = 0
    for value in args.hash:
        try:
            entry = store.add_hash(args.name, value, quality=args.quality, **_entry_kwargs(args))
        except VerifierError as exc:
            refused += 1
            print(f"verifier: {value[:70]}: {exc.message}", file=sys.stderr)
            continue
        print(f"added entry {entry.id}: pdq {entry.pdq}")
    for path in args.files:
        try:
            data = _read(path)
            entry = store.add_image(args.name, data, settings, **_entry_kwargs(args))
        except VerifierError as exc:
            refused += 1
            print(f"verifier: {path}: {exc.message}", file=sys.stderr)
            continue
        print(f"added entry {entry.id}: {path} pdq {entry.pdq} quality {entry.quality}")
        for warning in entry.warnings:
            print(f"verifier: warning: {path}: {warning}", file=sys.stderr)
    return EXIT_REFUSED if refused else EXIT_OK


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadRequestError(f"cannot read it: {exc.strerror or exc}") from None


def _import(store: BankStore, args: argparse.Namespace, _s: Settings) -> int:
    if args.file == "-":
        text = sys.stdin.read()
    else:
        raw = _read(Path(args.file))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequestError(f"{args.file} is not UTF-8 text.") from None
    result = store.import_hashes(args.name, text, **_entry_kwargs(args))
    print(
        f"imported into {result.bank!r}: {result.added} added, "
        f"{result.duplicates} duplicate(s) skipped"
    )
    return EXIT_OK


def _list(store: BankStore, args: argparse.Namespace, _s: Settings) -> int:
    banks = store.list_banks()
    if args.json:
        _dump(banks)
        return EXIT_OK
    if not banks:
        print("no banks")
    for b in banks:
        labels = ", ".join(f"{k} {v}" for k, v in sorted(b.labels.items())) or "empty"
        print(f"{b.name:<24} {b.entry_count:>10,} entries  threshold {b.threshold:<3} {labels}")
    return EXIT_OK


def _show(store: BankStore, args: argparse.Namespace, _s: Settings) -> int:
    if args.entry is not None:
        entry = store.get_entry(args.name, args.entry)
        if args.json:
            _dump(entry)
        else:
            for key, value in entry.model_dump(mode="json", exclude={"warnings"}).items():
                print(f"{key}: {value}")
        return EXIT_OK
    info = store.get_bank(args.name)
    page = store.list_entries(args.name, label=args.label, after_id=args.after, limit=args.limit)
    if args.json:
        _dump({"bank": info.model_dump(mode="json"), **page.model_dump(mode="json")})
        return EXIT_OK
    print(f"bank {info.name!r}: {info.entry_count:,} entries, threshold {info.threshold}")
    if info.description:
        print(f"  {info.description}")
    for e in page.entries:
        extra = f" q{e.quality}" if e.quality is not None else ""
        print(f"  {e.id:>8}  {e.label.value:<14} {e.pdq}{extra}  {e.note[:60]}")
    if page.next_after is not None:
        print(f"  ... more: --after {page.next_after}")
    return EXIT_OK


def _delete(store: BankStore, args: argparse.Namespace, _s: Settings) -> int:
    if args.entry is not None:
        entry = store.delete_entry(args.name, args.entry)
        print(f"deleted entry {entry.id} from bank {args.name!r}")
    else:
        info = store.delete_bank(args.name)
        print(f"deleted bank {info.name!r} and its {info.entry_count:,} entries")
    return EXIT_OK


def _match(store: BankStore, args: argparse.Namespace, settings: Settings) -> int:
    if not args.files and not args.hash:
        raise BadRequestError("Give image files and/or --hash HEX to match.")
    results: list[dict[str, Any]] = []
    refused = 0
    inputs: list[tuple[str, Any]] = [(h, None) for h in args.hash] + [
        (str(p), p) for p in args.files
    ]
    for label, path in inputs:
        try:
            if path is None:
                result = store.match_hex(label, banks=args.bank)
            else:
                result = store.match_image(_read(path), settings, banks=args.bank)
        except VerifierError as exc:
            refused += 1
            print(f"verifier: {label[:70]}: {exc.message}", file=sys.stderr)
            results.append({"input": label, "error": exc.to_dict()})
            continue
        results.append({"input": label, **result.model_dump(mode="json")})
        if args.json:
            continue
        quality = f" quality {result.quality}" if result.quality is not None else ""
        print(f"{label}: pdq {result.pdq}{quality}")
        if not result.banks_searched:
            print("  no banks")
        elif not result.matches:
            print(f"  no match in {len(result.banks_searched)} bank(s)")
        for m in result.matches:
            how = "" if m.transform == "original" else f", {DIHEDRAL_PHRASES[m.transform]}"
            flag = "" if m.reliable else " (low quality: not evidence)"
            print(
                f"  {m.label.value} {m.bank}/{m.entry_id} distance {m.distance}{how}{flag}"
                + (f"  {m.note[:60]}" if m.note else "")
                + (f"  {m.source_url}" if m.source_url else "")
            )
    if args.json:
        _dump(results if len(results) > 1 else results[0])
    return EXIT_REFUSED if refused else EXIT_OK


_COMMANDS = {
    "create": _create,
    "add": _add,
    "import": _import,
    "list": _list,
    "show": _show,
    "delete": _delete,
    "match": _match,
}
