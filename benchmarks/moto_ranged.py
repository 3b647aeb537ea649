"""moto's S3 server, with ranged GETs served from the requested bytes only.

Stock moto (5.x) reads a whole object for every GET and slices the asked range out of it, so each ranged
request costs as much as reading the whole object (and holds a copy of it), which no real S3 does: over stock
moto, a read in 16 MiB requests of a 3 GiB object copies 3 GiB for every request. This launcher changes that
one path, in moto's own process, and then runs moto's server with the same arguments:

    python benchmarks/moto_ranged.py -H 127.0.0.1 -p PORT

benchmarks/remote.py measures against both servers and says which is which.
"""

from __future__ import annotations

import contextvars
import re

from moto.s3 import models, responses
from moto.server import main

_SERVING_A_RANGE = contextvars.ContextVar("serving_a_range", default=False)
_SINGLE_RANGE = re.compile(r"bytes=\d*-\d*")


class _StoredValue:
    """An object's bytes as moto's range handler uses them (its length, and a slice), read from moto's buffer
    on demand instead of copied whole."""

    def __init__(self, key: models.FakeKey):
        self._key = key

    def __len__(self) -> int:
        return self._key.size

    def __getitem__(self, window: slice) -> bytes:
        start, stop, _ = window.indices(self._key.size)
        with self._key.lock:
            self._key._value_buffer.seek(start)
            return self._key._value_buffer.read(max(0, stop - start))


_stock_value = models.FakeKey.value
_stock_key_response = responses.S3Response.key_response


def _value(key: models.FakeKey):
    return _StoredValue(key) if _SERVING_A_RANGE.get() else _stock_value.fget(key)


def _key_response(self, request, full_url, headers):
    ranged = request.method == "GET" and _SINGLE_RANGE.fullmatch(request.headers.get("range") or "") is not None
    token = _SERVING_A_RANGE.set(ranged)
    try:
        return _stock_key_response(self, request, full_url, headers)
    finally:
        _SERVING_A_RANGE.reset(token)


models.FakeKey.value = property(_value, _stock_value.fset)
responses.S3Response.key_response = _key_response

if __name__ == "__main__":
    main()
