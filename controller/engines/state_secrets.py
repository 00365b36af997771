"""Secret values in the simulator's state files, encrypted at rest as Pulumi does.

A Pulumi checkpoint marks a secret with the signature key beside its value; Pulumi's own
backends keep the value as `ciphertext`, never `plaintext`. The simulator used to write
`plaintext`, so a stack's secret outputs (a database password, a client secret) sat in a
readable JSON file. Now every secret is sealed with AES-GCM (from `cryptography`, which
PyJWT's RSA support already installs) under a key of the state folder
(`.cloud/sim/.secrets-key`, 0600, made once); a state imported with `plaintext` secrets
is sealed as it is written. A state that still holds `plaintext` (written before) reads
as before, and is sealed on its next write.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controller.adapters.private_files import PRIVATE_FILE, private_dir

SIGNATURE = "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"
KEY_FILE = ".secrets-key"
PREFIX = "cloud-sim-v1:"
_CONTEXT = b"cloud simulated state"


class StateSecretError(ValueError):
    """A sealed value this folder's key cannot open (another key, or damaged)."""


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SIGNATURE) == SECRET_SIGNATURE


class StateSecrets:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cipher: AESGCM | None = None

    def seal(self, value: Any) -> Any:
        """A copy of a state document with every `plaintext` secret as `ciphertext`."""
        if is_secret(value) and "plaintext" in value:
            return {SIGNATURE: SECRET_SIGNATURE, "ciphertext": self._encrypt(value["plaintext"])}
        if isinstance(value, Mapping):
            return {key: self.seal(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.seal(item) for item in value]
        return value

    def reveal(self, value: Mapping[str, Any]) -> Any:
        """The value of one secret (sealed here, or plaintext from before)."""
        if "plaintext" in value:
            return json.loads(value["plaintext"])
        sealed = str(value.get("ciphertext", ""))
        if not sealed.startswith(PREFIX):
            raise StateSecretError("the secret was not sealed by this simulator")
        try:
            raw = base64.b64decode(sealed.removeprefix(PREFIX), validate=True)
            plaintext = self._key().decrypt(raw[:12], raw[12:], _CONTEXT)
        except (InvalidTag, ValueError):
            raise StateSecretError(
                f"the secret cannot be opened with {self.folder / KEY_FILE}"
            ) from None
        return json.loads(plaintext)

    def _encrypt(self, plaintext: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._key().encrypt(nonce, plaintext.encode("utf-8"), _CONTEXT)
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def _key(self) -> AESGCM:
        if self._cipher is None:
            self._cipher = AESGCM(_load_or_create_key(self.folder / KEY_FILE))
        return self._cipher


def _load_or_create_key(path: Path) -> bytes:
    """The folder's key, made once: written to a private temporary file, then linked into
    place, so two processes starting at once agree on one key."""
    if not path.exists():
        private_dir(path.parent)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(AESGCM.generate_key(bit_length=256))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            temporary.unlink(missing_ok=True)
    key = path.read_bytes()
    if len(key) != 32:
        raise StateSecretError(f"{path} is not a 256-bit key; delete it to make a new one")
    return key
