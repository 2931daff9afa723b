"""``mailguard quarantine list``: what is held, why, and where it came from."""

from __future__ import annotations

import argparse
import json

from mailguard.commands.common import load_or_report, pick_accounts
from mailguard.pipeline.release import COPY_ONLY
from mailguard.pipeline.verdict_record import top_descriptions
from mailguard.state.mailapp import UserActionEntry

_MOVE_WORDS = {
    "released_by_move": "released by you (moved to {folder})",
    "reported_by_move": "reported by you (moved to {folder})",
    "deleted_by_user": "deleted by you",
}


def _move_line(move: UserActionEntry) -> str:
    when = move.at.astimezone().strftime("%Y-%m-%d %H:%M")
    text = _MOVE_WORDS[move.action].format(folder=move.detail.get("folder") or "?")
    return f"{text} on {when}"


def _move_json(move: UserActionEntry | None) -> dict[str, object] | None:
    if move is None:
        return None
    return {"action": str(move.action), "at": move.at.isoformat(), **move.detail}


def main(args: argparse.Namespace) -> int:
    settings = load_or_report(args)
    if settings is None:
        return 2
    if args.account:
        pick_accounts(settings, args.account)
    from mailguard.app import App
    from mailguard.vocabulary import Status

    langs = {a.name: a.language for a in settings.accounts}
    with App(settings) as app:
        statuses = (
            (Status.QUARANTINED, Status.RELEASED, Status.DELETED)
            if args.all
            else (Status.QUARANTINED,)
        )
        records = app.store.list_quarantine(account=args.account, status=statuses)
        # What the user did in the mail app (released, reported or deleted by moving), and when.
        moves = app.store.user_actions(args.account)
    records.sort(key=lambda r: r.id)
    for rec in records:
        lang = langs.get(rec.account, "en")
        if args.json:
            print(
                json.dumps(
                    {
                        "id": rec.id,
                        "account": rec.account,
                        "status": str(rec.status),
                        "date": rec.date.isoformat() if rec.date else None,
                        "quarantined_at": rec.quarantined_at.isoformat()
                        if rec.quarantined_at
                        else None,
                        "from": rec.from_addr,
                        "from_name": rec.from_name,
                        "subject": rec.subject,
                        "verdict": str(rec.verdict),
                        "category": str(rec.category) if rec.category else None,
                        "score": rec.score,
                        "reasons": top_descriptions(rec.reasons, lang),
                        "original_folder": rec.original_folder,
                        "quarantine_folder": rec.quarantine_folder,
                        "by_user": _move_json(moves.get(rec.id)),
                        # copy-only server: the quarantine holds a copy, the original stayed
                        "copy_only": rec.move_method == COPY_ONLY,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            when = rec.date.strftime("%Y-%m-%d %H:%M") if rec.date else "?"
            sender = f"{rec.from_name} <{rec.from_addr}>" if rec.from_name else rec.from_addr
            flag = "" if rec.status == Status.QUARANTINED else f" [{rec.status}]"
            print(f"#{rec.id}{flag}  {rec.account}  {when}  from {rec.folder_label()}")
            move = moves.get(rec.id)
            if move is not None:
                print(f"    {_move_line(move)}")
            if rec.move_method == COPY_ONLY and rec.status == Status.QUARANTINED:
                print(f"    copied; the original is still in {rec.original_folder}")
            print(f"    From:    {sender}")
            print(f"    Subject: {rec.subject}")
            print(
                f"    {rec.category or '-'}, score {rec.score:.1f}: "
                + "; ".join(top_descriptions(rec.reasons, lang))
            )
    if not records and not args.json:
        print("quarantine is empty")
    return 0
