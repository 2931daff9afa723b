"""The digest: tell the user, calmly and in their language, what was quarantined and what to do.

Rendering (:func:`render_digest`) is pure: items in, subject/text/HTML out.
:func:`build_message` wraps the result in a MIME message marked with
``X-Mailguard-Digest: 1`` so that the scanner never scans its own digest, and
:func:`deliver_imap` / :func:`deliver_smtp` put it in front of the user.
"""

from mailguard.digest.deliver import DeliveryError, deliver_digest, deliver_imap, deliver_smtp
from mailguard.digest.message import DIGEST_HEADER, build_message
from mailguard.digest.model import DigestItem, DigestReason, RenderedDigest
from mailguard.digest.render import render_digest

__all__ = [
    "DIGEST_HEADER",
    "DeliveryError",
    "DigestItem",
    "DigestReason",
    "RenderedDigest",
    "build_message",
    "deliver_digest",
    "deliver_imap",
    "deliver_smtp",
    "render_digest",
]
