"""The scan-and-quarantine pipeline.

``decide`` (what to do with a message; reads only) -> ``act`` (the only writer;
live or dry-run) driven by the folder loop in ``scan``; ``poll`` runs one
account's pass with its error isolation; ``connection``/``pool`` provide the
logged-in clients; ``reconcile`` repairs a crash; ``release`` undoes a
quarantine; ``digest_dispatch`` sends digests and alerts. Wired together by
:mod:`mailguard.app`.
"""
