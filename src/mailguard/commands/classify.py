"""``mailguard classify``: explain verdicts for files on disk, no IMAP needed.

A config is optional here: people try this first, before they have one. When
one is given (or found) its detection thresholds are used.
"""

from __future__ import annotations

import argparse
import json
import sys

from mailguard.commands.common import load_or_report, setup_logging_for
from mailguard.config import DetectionConfig, find_config_path


def detection_settings(args: argparse.Namespace) -> tuple[DetectionConfig, str] | None:
    """Thresholds and default language: from the config if there is one, else defaults."""
    explicit = getattr(args, "config", None)
    if explicit or find_config_path(None).exists():
        settings = load_or_report(args)
        if settings is None:
            return None
        return settings.detection, settings.accounts[0].language
    setup_logging_for(args, None)
    return DetectionConfig(), "en"


def main(args: argparse.Namespace) -> int:
    from mailguard.evaluate import classify_paths, format_verdict_line, verdict_to_json

    found = detection_settings(args)
    if found is None:
        return 2
    detection, default_lang = found
    from mailguard.detect import Classifier

    lang = args.lang or default_lang
    classifier = Classifier.from_config(detection)
    for path, result in classify_paths(args.paths, lang=lang, classifier=classifier):
        verdict, error = (None, result) if isinstance(result, str) else (result, None)
        if args.json:
            print(json.dumps(verdict_to_json(path, verdict, lang, error), ensure_ascii=False))
        elif verdict is None:
            print(f"{path}: clean (not read: {error})")
        else:
            print(format_verdict_line(path, verdict, lang))
        sys.stdout.flush()
    return 0
