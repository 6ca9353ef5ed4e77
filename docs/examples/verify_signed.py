#!/usr/bin/env python3
"""Checks signed lane results (passage records, decisions, audit checkpoints)
the way docs/mqtt.md tells a consumer in any language to: parse the JSON as
received, take out its `signature` member, write the rest in canonical form
(keys sorted, no whitespace, Python's own number text) and check the Ed25519
signature over those UTF-8 bytes with the lane's public key.

    verify_signed.py --key CNSHA-G07=<base64 public key> record.json [...]

The key is the one the lane announces in its retained `status`
(`signing_key.public_key`); register it out of band as well. One line per file,
`ok (signed by ID)` or `FAILED: why`; exit status 1 if any failed. Needs the
`cryptography` package (scripts/setup installs a pinned wheel into
.cache/python: PYTHONPATH=.cache/python).
"""

import argparse
import base64
import binascii
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(value):
    """The bytes the lane signed: docs/mqtt.md, "Signed results"."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify(raw, keys):
    """Returns the key id that signed `raw` (the bytes as received); raises ValueError."""
    try:
        record = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(record, dict) or "signature" not in record:
        raise ValueError("no signature in the record")
    sig = record.pop("signature")
    if not isinstance(sig, dict) or sig.get("alg") != "ed25519":
        raise ValueError(f"malformed signature: {sig!r}")
    key = keys.get(sig.get("key_id"))
    if key is None:
        raise ValueError(f"signature by unknown key {sig.get('key_id')!r}")
    try:
        value = base64.b64decode(sig.get("value", ""), validate=True)
    except (binascii.Error, TypeError):
        raise ValueError("malformed signature: value is not base64") from None
    try:
        key.verify(value, canonical(record))
    except InvalidSignature:
        raise ValueError("signature does not match: the record was altered or signed by another key") from None
    return sig["key_id"]


def parse_key(arg):
    key_id, sep, b64 = arg.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--key {arg!r}: give ID=PUBLIC_KEY")
    try:
        return key_id, Ed25519PublicKey.from_public_bytes(base64.b64decode(b64, validate=True))
    except (binascii.Error, ValueError):
        raise argparse.ArgumentTypeError(f"--key {key_id}: not an Ed25519 public key") from None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--key", action="append", type=parse_key, required=True, help="ID=BASE64 public key")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    keys = dict(args.key)
    all_ok = True
    for path in args.files:
        try:
            with open(path, "rb") as f:
                print(f"{path}: ok (signed by {verify(f.read(), keys)})")
        except (OSError, ValueError) as e:
            all_ok = False
            print(f"{path}: FAILED: {e}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
