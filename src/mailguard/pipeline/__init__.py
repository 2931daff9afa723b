"""The scan-and-quarantine pipeline: scan, reconcile, release, and the per-pass runner."""
