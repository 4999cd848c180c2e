from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from ccp_core.decoding import DecodeError, decoder_for

PLAIN = b"event: message_start\ndata: {}\n\n" * 200


def compressed(encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(PLAIN)
    if encoding == "deflate":
        return zlib.compress(PLAIN)
    if encoding == "br":
        return bytes(brotli.compress(PLAIN))
    if encoding == "zstd":
        return bytes(zstandard.ZstdCompressor().compress(PLAIN))
    return PLAIN


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "identity", None])
@pytest.mark.parametrize("size", [1, 7, 4096])
def test_decodes_incrementally_in_any_chunk_size(encoding: str | None, size: int) -> None:
    data = compressed(encoding or "identity")
    decode = decoder_for(encoding)
    out = b"".join(decode(data[i : i + size]) for i in range(0, len(data), size))
    assert out == PLAIN


def test_zstd_streams_of_several_frames() -> None:
    compressor = zstandard.ZstdCompressor()
    data = compressor.compress(b"first ") + compressor.compress(b"second")
    assert decoder_for("zstd")(data) == b"first second"


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(DecodeError, match="unsupported"):
        decoder_for("compress")


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_corrupt_input_raises_decode_error(encoding: str) -> None:
    with pytest.raises(DecodeError):
        decoder_for(encoding)(b"\x00not compressed at all, not even close" * 4)
