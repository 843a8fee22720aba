"""The `shm://` transport: the protocol's messages through a file in /dev/shm that server and client map.

For a server on the same machine as its client (one rlts spawned for itself), a vector step then costs
two writes into shared memory and two futex wake-ups instead of a trip through two ZeroMQ stacks. The
messages are the same multipart messages as over ZeroMQ (a JSON header, then raw arrays), so the server
handles them with the same code. PROTOCOL.md ("The shm transport") describes the layout; the client is
src/envs/remote/shm.ts.

The file: a 4 KiB header, then a request area and a reply area. The header holds, for each direction, a
sequence number (an int32, also the futex word the reader sleeps on) and where that direction's area is
(byte offset and capacity, uint32). A writer that needs more room than its area has appends a larger
area at the end of the file and names it in the header before it publishes the message; the reader maps
the file again when the area lies beyond its mapping. A message in an area: uint32 frame count, then a
(uint32 offset, uint32 length) pair per frame, offsets from the area's start, each frame 8-byte aligned.

Ordering: each side writes the message, then the sequence number, then wakes the other. x86-64 keeps
stores in order and loads in order, which is all this needs (Python has no memory fence), so the
transport is refused on other machines.
"""

import ctypes
import mmap
import os
import platform
import struct
import sys
import time

MAGIC = 0x48534C52  # "RLSH", little-endian
LAYOUT_VERSION = 1
HEADER_BYTES = 4096
# Byte offsets in the header. Each direction's words sit on a cache line of their own.
MAGIC_AT, VERSION_AT = 0, 4
REQUEST_SEQ_AT, REQUEST_AREA_AT, REQUEST_CAPACITY_AT = 64, 68, 72
REPLY_SEQ_AT, REPLY_AREA_AT, REPLY_CAPACITY_AT = 128, 132, 136
MAX_FILE_BYTES = 2**32 - 1
PAGE = mmap.PAGESIZE

# How long the server spins on the request word before it sleeps: a training client sends the next step
# within microseconds, and a process that sleeps between steps wakes on a cold core (as for ZeroMQ).
SPIN_S = 0.002
# Looks at the word between two looks at the clock (and a sched_yield, which would cost more than the look
# at every turn: a system call, after which the next step ran measurably slower).
SPINS_PER_CHECK = 256

SYS_FUTEX = 202  # x86-64
FUTEX_WAIT, FUTEX_WAKE = 0, 1


class ShmError(ValueError):
    """A message or file layout the shm transport cannot read."""


def shm_supported():
    """The reason this machine cannot use the shm transport, or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"the shm transport needs Linux (futexes), this is {sys.platform}"
    if platform.machine() not in ("x86_64", "AMD64"):
        return f"the shm transport needs x86-64 (its ordering of stores), this is {platform.machine()}"
    return None


def round_up(n, to):
    return (n + to - 1) // to * to


class _Futex:
    """FUTEX_WAIT and FUTEX_WAKE on an int32 of a shared mapping (not FUTEX_PRIVATE: two processes).

    ctypes releases the GIL for the call, and a signal interrupts the wait (EINTR), so SIGTERM's handler
    runs as soon as the call returns."""

    def __init__(self):
        libc = ctypes.CDLL(None, use_errno=True)
        self.syscall = libc.syscall
        self.syscall.restype = ctypes.c_long
        self.syscall.argtypes = [
            ctypes.c_long,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
        ]
        self.timespec = (ctypes.c_long * 2)()

    def wait(self, address, expected, timeout_s):
        """Sleeps while the word at `address` holds `expected`, for at most `timeout_s`."""
        self.timespec[0] = int(timeout_s)
        self.timespec[1] = int((timeout_s - int(timeout_s)) * 1e9)
        self.syscall(SYS_FUTEX, address, FUTEX_WAIT, expected, ctypes.addressof(self.timespec), None, 0)

    def wake(self, address):
        self.syscall(SYS_FUTEX, address, FUTEX_WAKE, 1, None, None, 0)


class SharedMemoryTransport:
    """The server's end: creates the file, answers one request at a time, removes the file.

    The file is removed as soon as the first request arrives (the client has mapped it by then), and on
    every way out, so nothing outlives the two processes."""

    def __init__(self, path, request_bytes, reply_bytes):
        reason = shm_supported()
        if reason is not None:
            raise OSError(reason)
        self.path = path
        self.futex = _Futex()
        self.seen = 0
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        self.linked = True
        try:
            request_capacity = round_up(request_bytes, PAGE)
            reply_capacity = round_up(reply_bytes, PAGE)
            size = HEADER_BYTES + request_capacity + reply_capacity
            self.resize(size)
            self.map(size)
            struct.pack_into("<II", self.mm, MAGIC_AT, MAGIC, LAYOUT_VERSION)
            struct.pack_into("<iII", self.mm, REQUEST_SEQ_AT, 0, HEADER_BYTES, request_capacity)
            struct.pack_into("<iII", self.mm, REPLY_SEQ_AT, 0, HEADER_BYTES + request_capacity, reply_capacity)
        except BaseException:
            # A failed setup (a full /dev/shm, a signal) leaves neither the file nor its descriptor.
            self.close()
            raise

    @property
    def endpoint(self):
        return f"shm://{self.path}"

    def map(self, size):
        """Maps the whole file (again, after it grew); the old mapping goes when nothing refers to it."""
        self.mm = mmap.mmap(self.fd, size)
        self.words = memoryview(self.mm).cast("i")
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.mm))

    def ensure_mapped(self, end):
        if end > len(self.mm):
            size = os.fstat(self.fd).st_size
            if end > size:
                raise ShmError(f"shm transport: an area ends at byte {end}, beyond the file's {size} bytes")
            self.map(size)

    def receive(self, timeout_ms):
        """The next request's frames (bytes), or None when none came within `timeout_ms`."""
        word = REQUEST_SEQ_AT // 4
        if self.words[word] == self.seen:
            deadline = time.perf_counter() + SPIN_S
            spins = 0
            while self.words[word] == self.seen:
                spins += 1
                if spins % SPINS_PER_CHECK == 0:
                    if time.perf_counter() >= deadline:
                        break
                    # Hot, but not greedy: another runnable process on this core (the client) goes first.
                    os.sched_yield()
            end = time.monotonic() + timeout_ms / 1000
            while self.words[word] == self.seen:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return None
                self.futex.wait(self.base + REQUEST_SEQ_AT, self.seen, remaining)
        self.seen = self.words[word]
        if self.linked:
            # The client wrote this request into the file, so it has mapped it: the name can go.
            self.unlink()
        offset, capacity = struct.unpack_from("<II", self.mm, REQUEST_AREA_AT)
        self.ensure_mapped(offset + capacity)
        return read_message(self.mm, offset, capacity)

    def send(self, frames):
        """Writes the reply into the reply area (growing it when it is too small) and wakes the client."""
        views = [memoryview(frame).cast("B") for frame in frames]
        offsets, needed = message_layout(views)
        area, capacity = struct.unpack_from("<II", self.mm, REPLY_AREA_AT)
        if needed > capacity:
            area, capacity = self.grow(needed)
            struct.pack_into("<II", self.mm, REPLY_AREA_AT, area, capacity)
        write_message(self.mm, area, views, offsets)
        self.words[REPLY_SEQ_AT // 4] = self.seen
        self.futex.wake(self.base + REPLY_SEQ_AT)

    def grow(self, needed):
        """A new area of at least twice `needed` bytes at the end of the file; returns (offset, capacity)."""
        offset = round_up(os.fstat(self.fd).st_size, PAGE)
        capacity = round_up(2 * needed, PAGE)
        if offset + capacity > MAX_FILE_BYTES:
            raise ShmError(f"shm transport: a message of {needed} bytes does not fit in the 4 GiB file")
        self.resize(offset + capacity)
        self.map(offset + capacity)
        return offset, capacity

    def resize(self, size):
        """The file at `size` bytes, its pages allocated now: on a full /dev/shm this is one ENOSPC error,
        where a bare ftruncate (tmpfs reserves nothing) would end the first process to touch a missing
        page with SIGBUS."""
        try:
            os.posix_fallocate(self.fd, 0, size)
        except OSError as err:
            raise ShmError(f"shm transport: cannot make {self.path} {size} bytes long: {err.strerror}") from None

    def unlink(self):
        self.linked = False
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def close(self):
        if self.linked:
            self.unlink()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def message_layout(views):
    """Where each frame (a byte memoryview) goes in an area, after the frame table, each at an 8-byte
    boundary; and the bytes the whole message takes."""
    offsets = []
    at = round_up(4 + 8 * len(views), 8)
    for view in views:
        offsets.append(at)
        at = round_up(at + view.nbytes, 8)
    return offsets, at


def write_message(mm, area, views, offsets):
    table = [len(views)]
    for view, at in zip(views, offsets):
        table += (at, view.nbytes)
    struct.pack_into(f"<{len(table)}I", mm, area, *table)
    for view, at in zip(views, offsets):
        mm[area + at : area + at + view.nbytes] = view


def read_message(mm, area, capacity):
    (count,) = struct.unpack_from("<I", mm, area)
    if 4 + 8 * count > capacity:
        raise ShmError(f"shm transport: a message of {count} frames does not fit its area")
    frames = []
    for k in range(count):
        at, length = struct.unpack_from("<II", mm, area + 4 + 8 * k)
        if at + length > capacity:
            raise ShmError(f"shm transport: frame {k} lies beyond its area")
        frames.append(mm[area + at : area + at + length])
    return frames
