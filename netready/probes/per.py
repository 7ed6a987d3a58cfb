"""Aligned PER (ITU-T X.691) bit writing and reading: just what the H.225 codec needs.

`PerWriter` appends bits, octet-aligned octet strings, unconstrained length determinants
(up to 16383), open types and the normally-small length of an extension bitmap.
`PerReader` reads them back and raises ValueError (only) when the data ends early or
uses a form it does not support (fragmented lengths, bitmaps longer than 64).
"""

from __future__ import annotations


class PerWriter:
    """Appends bits most significant first; `align` pads with zero bits to an octet."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.nbits = 0

    def bits(self, value: int, count: int) -> None:
        for shift in range(count - 1, -1, -1):
            if self.nbits % 8 == 0:
                self.out.append(0)
            if (value >> shift) & 1:
                self.out[-1] |= 0x80 >> (self.nbits % 8)
            self.nbits += 1

    def align(self) -> None:
        self.nbits = len(self.out) * 8

    def octets(self, data: bytes) -> None:
        self.align()
        self.out += data
        self.nbits = len(self.out) * 8

    def length(self, n: int) -> None:
        """An unconstrained length determinant (aligned; up to 16383)."""
        if n < 0x80:
            self.octets(bytes([n]))
        elif n < 0x4000:
            self.octets(bytes([0x80 | n >> 8, n & 0xFF]))
        else:
            raise ValueError(f"length {n} needs fragmentation")

    def open_type(self, content: bytes) -> None:
        self.length(len(content))
        self.octets(content)

    def small_length(self, n: int) -> None:
        """A normally small length (1-64): the size of an extension bitmap."""
        self.bits(0, 1)
        self.bits(n - 1, 6)

    def done(self) -> bytes:
        """The encoding; an empty one is one zero octet, as X.691 wants for open types."""
        return bytes(self.out) or b"\x00"


class PerReader:
    """Reads bits most significant first; every overrun is a ValueError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0  # in bits

    def bits(self, count: int) -> int:
        if self.pos + count > len(self.data) * 8:
            raise ValueError("PER data ends early")
        value = 0
        for _ in range(count):
            byte = self.data[self.pos >> 3]
            value = value << 1 | (byte >> (7 - (self.pos & 7))) & 1
            self.pos += 1
        return value

    def bit(self) -> bool:
        return bool(self.bits(1))

    def align(self) -> None:
        self.pos = (self.pos + 7) & ~7

    def octets(self, count: int) -> bytes:
        self.align()
        start = self.pos >> 3
        if start + count > len(self.data):
            raise ValueError("PER data ends early")
        self.pos += count * 8
        return self.data[start : start + count]

    def length(self) -> int:
        first = self.octets(1)[0]
        if first < 0x80:
            return first
        if first < 0xC0:
            return (first & 0x3F) << 8 | self.octets(1)[0]
        raise ValueError("fragmented PER length")

    def open_type(self) -> bytes:
        return self.octets(self.length())

    def small_length(self) -> int:
        if self.bit():
            raise ValueError("extension bitmap longer than 64")
        return self.bits(6) + 1

    def skip_extensions(self) -> None:
        """Skip a SEQUENCE's extension additions (bitmap, then open types)."""
        present = [self.bit() for _ in range(self.small_length())]
        self.align()
        for flag in present:
            if flag:
                self.open_type()
