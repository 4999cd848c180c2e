"""Incremental decoders for the copy of a response we parse (gzip, deflate, br, zstd).

The client gets the upstream bytes untouched; only the tee's copy is decompressed, chunk by chunk,
so a compressed stream still yields usage and TTFT as it goes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import brotli

Decoder = Callable[[bytes], bytes]


class DecodeError(ValueError):
    """The copy could not be decoded; the tee stops watching, the stream carries on."""


def _zlib_decoder(wbits: int) -> Decoder:
    state = zlib.decompressobj(wbits)

    def decode(chunk: bytes) -> bytes:
        try:
            return state.decompress(chunk)
        except zlib.error as exc:
            raise DecodeError(str(exc)) from None

    return decode


def _brotli_decoder() -> Decoder:
    state = brotli.Decompressor()

    def decode(chunk: bytes) -> bytes:
        try:
            return bytes(state.process(chunk))
        except brotli.error as exc:
            raise DecodeError(str(exc)) from None

    return decode


def _zstd_decoder() -> Decoder:
    # Imported on the first zstd response: most runs never see one, and it costs ~0.5 MB of RSS.
    import zstandard

    state = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)

    def decode(chunk: bytes) -> bytes:
        try:
            return bytes(state.decompress(chunk))
        except zstandard.ZstdError as exc:
            raise DecodeError(str(exc)) from None

    return decode


def _identity(chunk: bytes) -> bytes:
    return chunk


def decoder_for(content_encoding: str | None) -> Decoder:
    """A fresh decoder for one response; raises DecodeError for an encoding we cannot read."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return _identity
    if encoding in ("gzip", "x-gzip"):
        return _zlib_decoder(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        # RFC 9110 "deflate" is zlib-wrapped; 32 + MAX_WBITS auto-detects zlib and gzip headers.
        return _zlib_decoder(32 + zlib.MAX_WBITS)
    if encoding == "br":
        return _brotli_decoder()
    if encoding == "zstd":
        return _zstd_decoder()
    raise DecodeError(f"unsupported content-encoding {encoding!r}")
