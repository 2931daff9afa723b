"""``mailguard eval``: precision, recall and false positives against a labels file."""

from __future__ import annotations

import argparse


def main(args: argparse.Namespace) -> int:
    from mailguard.commands.classify import detection_settings
    from mailguard.evaluate import main as eval_main

    found = detection_settings(args)
    if found is None:
        return 2
    argv = [args.labels] if args.labels else []
    argv += ["--lang", args.lang]
    if args.root:
        argv += ["--root", args.root]
    for flag in ("leave_source_out", "train_shared", "tune"):
        if getattr(args, flag, False):
            argv.append("--" + flag.replace("_", "-"))
    for opt in ("repo", "corpus", "own_folds", "scores", "save_scores"):
        if getattr(args, opt, None):
            argv += ["--" + opt.replace("_", "-"), getattr(args, opt)]
    from mailguard.detect import Classifier

    return int(eval_main(argv, classifier=Classifier.from_config(found[0])))
