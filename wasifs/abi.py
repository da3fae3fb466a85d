"""WASI preview1 (``wasi_snapshot_preview1``) constants and struct layouts.

Data only, no behaviour. Names follow the witx definitions in WebAssembly/WASI
``legacy/preview1/witx/typenames.witx`` and ``wasi_snapshot_preview1.witx``.
"""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag
from typing import Final

__all__ = (
    "MODULE",
    "Errno",
    "Filetype",
    "Rights",
    "Fdflags",
    "Oflags",
    "Lookupflags",
    "Fstflags",
    "Whence",
    "Clockid",
    "Advice",
    "Eventtype",
    "Eventrwflags",
    "Subclockflags",
    "Preopentype",
    "Sdflags",
    "Signal",
    "IOVEC_STRUCT",
    "FDSTAT_STRUCT",
    "FILESTAT_STRUCT",
    "DIRENT_STRUCT",
    "PRESTAT_STRUCT",
    "SUBSCRIPTION_STRUCT",
    "SUBSCRIPTION_CLOCK_STRUCT",
    "SUBSCRIPTION_FD_STRUCT",
    "EVENT_STRUCT",
    "U32_STRUCT",
    "U64_STRUCT",
    "I32",
    "I64",
    "SYSCALLS",
    "SYSCALL_PARAMS",
    "RIGHTS_ALL",
    "RIGHTS_FILE",
    "RIGHTS_DIR_BASE",
    "RIGHTS_DIR_INHERITING",
    "RIGHTS_STDIO",
)

MODULE: Final = "wasi_snapshot_preview1"


class Errno(IntEnum):
    SUCCESS = 0
    TOOBIG = 1  # witx "2big"
    ACCES = 2
    ADDRINUSE = 3
    ADDRNOTAVAIL = 4
    AFNOSUPPORT = 5
    AGAIN = 6
    ALREADY = 7
    BADF = 8
    BADMSG = 9
    BUSY = 10
    CANCELED = 11
    CHILD = 12
    CONNABORTED = 13
    CONNREFUSED = 14
    CONNRESET = 15
    DEADLK = 16
    DESTADDRREQ = 17
    DOM = 18
    DQUOT = 19
    EXIST = 20
    FAULT = 21
    FBIG = 22
    HOSTUNREACH = 23
    IDRM = 24
    ILSEQ = 25
    INPROGRESS = 26
    INTR = 27
    INVAL = 28
    IO = 29
    ISCONN = 30
    ISDIR = 31
    LOOP = 32
    MFILE = 33
    MLINK = 34
    MSGSIZE = 35
    MULTIHOP = 36
    NAMETOOLONG = 37
    NETDOWN = 38
    NETRESET = 39
    NETUNREACH = 40
    NFILE = 41
    NOBUFS = 42
    NODEV = 43
    NOENT = 44
    NOEXEC = 45
    NOLCK = 46
    NOLINK = 47
    NOMEM = 48
    NOMSG = 49
    NOPROTOOPT = 50
    NOSPC = 51
    NOSYS = 52
    NOTCONN = 53
    NOTDIR = 54
    NOTEMPTY = 55
    NOTRECOVERABLE = 56
    NOTSOCK = 57
    NOTSUP = 58
    NOTTY = 59
    NXIO = 60
    OVERFLOW = 61
    OWNERDEAD = 62
    PERM = 63
    PIPE = 64
    PROTO = 65
    PROTONOSUPPORT = 66
    PROTOTYPE = 67
    RANGE = 68
    ROFS = 69
    SPIPE = 70
    SRCH = 71
    STALE = 72
    TIMEDOUT = 73
    TXTBSY = 74
    XDEV = 75
    NOTCAPABLE = 76


class Filetype(IntEnum):
    UNKNOWN = 0
    BLOCK_DEVICE = 1
    CHARACTER_DEVICE = 2
    DIRECTORY = 3
    REGULAR_FILE = 4
    SOCKET_DGRAM = 5
    SOCKET_STREAM = 6
    SYMBOLIC_LINK = 7


class Rights(IntFlag):
    FD_DATASYNC = 1 << 0
    FD_READ = 1 << 1
    FD_SEEK = 1 << 2
    FD_FDSTAT_SET_FLAGS = 1 << 3
    FD_SYNC = 1 << 4
    FD_TELL = 1 << 5
    FD_WRITE = 1 << 6
    FD_ADVISE = 1 << 7
    FD_ALLOCATE = 1 << 8
    PATH_CREATE_DIRECTORY = 1 << 9
    PATH_CREATE_FILE = 1 << 10
    PATH_LINK_SOURCE = 1 << 11
    PATH_LINK_TARGET = 1 << 12
    PATH_OPEN = 1 << 13
    FD_READDIR = 1 << 14
    PATH_READLINK = 1 << 15
    PATH_RENAME_SOURCE = 1 << 16
    PATH_RENAME_TARGET = 1 << 17
    PATH_FILESTAT_GET = 1 << 18
    PATH_FILESTAT_SET_SIZE = 1 << 19
    PATH_FILESTAT_SET_TIMES = 1 << 20
    FD_FILESTAT_GET = 1 << 21
    FD_FILESTAT_SET_SIZE = 1 << 22
    FD_FILESTAT_SET_TIMES = 1 << 23
    PATH_SYMLINK = 1 << 24
    PATH_REMOVE_DIRECTORY = 1 << 25
    PATH_UNLINK_FILE = 1 << 26
    POLL_FD_READWRITE = 1 << 27
    SOCK_SHUTDOWN = 1 << 28
    SOCK_ACCEPT = 1 << 29


RIGHTS_ALL: Final = (1 << 30) - 1

#: Rights that make sense on a regular file.
RIGHTS_FILE: Final = int(
    Rights.FD_DATASYNC
    | Rights.FD_READ
    | Rights.FD_SEEK
    | Rights.FD_FDSTAT_SET_FLAGS
    | Rights.FD_SYNC
    | Rights.FD_TELL
    | Rights.FD_WRITE
    | Rights.FD_ADVISE
    | Rights.FD_ALLOCATE
    | Rights.FD_FILESTAT_GET
    | Rights.FD_FILESTAT_SET_SIZE
    | Rights.FD_FILESTAT_SET_TIMES
    | Rights.POLL_FD_READWRITE
)

#: Rights that make sense on a directory descriptor.
RIGHTS_DIR_BASE: Final = int(
    Rights.FD_FDSTAT_SET_FLAGS
    | Rights.FD_SYNC
    | Rights.FD_ADVISE
    | Rights.PATH_CREATE_DIRECTORY
    | Rights.PATH_CREATE_FILE
    | Rights.PATH_LINK_SOURCE
    | Rights.PATH_LINK_TARGET
    | Rights.PATH_OPEN
    | Rights.FD_READDIR
    | Rights.PATH_READLINK
    | Rights.PATH_RENAME_SOURCE
    | Rights.PATH_RENAME_TARGET
    | Rights.PATH_FILESTAT_GET
    | Rights.PATH_FILESTAT_SET_SIZE
    | Rights.PATH_FILESTAT_SET_TIMES
    | Rights.FD_FILESTAT_GET
    | Rights.FD_FILESTAT_SET_TIMES
    | Rights.PATH_SYMLINK
    | Rights.PATH_REMOVE_DIRECTORY
    | Rights.PATH_UNLINK_FILE
)

#: What a directory passes on to what is opened beneath it.
RIGHTS_DIR_INHERITING: Final = RIGHTS_DIR_BASE | RIGHTS_FILE

#: Rights of the standard streams (a character device).
RIGHTS_STDIO: Final = int(
    Rights.FD_READ
    | Rights.FD_WRITE
    | Rights.FD_FDSTAT_SET_FLAGS
    | Rights.FD_FILESTAT_GET
    | Rights.POLL_FD_READWRITE
)


class Fdflags(IntFlag):
    APPEND = 1 << 0
    DSYNC = 1 << 1
    NONBLOCK = 1 << 2
    RSYNC = 1 << 3
    SYNC = 1 << 4


class Oflags(IntFlag):
    CREAT = 1 << 0
    DIRECTORY = 1 << 1
    EXCL = 1 << 2
    TRUNC = 1 << 3


class Lookupflags(IntFlag):
    SYMLINK_FOLLOW = 1 << 0


class Fstflags(IntFlag):
    ATIM = 1 << 0
    ATIM_NOW = 1 << 1
    MTIM = 1 << 2
    MTIM_NOW = 1 << 3


class Whence(IntEnum):
    SET = 0
    CUR = 1
    END = 2


class Clockid(IntEnum):
    REALTIME = 0
    MONOTONIC = 1
    PROCESS_CPUTIME_ID = 2
    THREAD_CPUTIME_ID = 3


class Advice(IntEnum):
    NORMAL = 0
    SEQUENTIAL = 1
    RANDOM = 2
    WILLNEED = 3
    DONTNEED = 4
    NOREUSE = 5


class Eventtype(IntEnum):
    CLOCK = 0
    FD_READ = 1
    FD_WRITE = 2


class Eventrwflags(IntFlag):
    FD_READWRITE_HANGUP = 1 << 0


class Subclockflags(IntFlag):
    SUBSCRIPTION_CLOCK_ABSTIME = 1 << 0


class Preopentype(IntEnum):
    DIR = 0


class Sdflags(IntFlag):
    RD = 1 << 0
    WR = 1 << 1


class Signal(IntEnum):
    NONE = 0
    HUP = 1
    INT = 2
    QUIT = 3
    ILL = 4
    TRAP = 5
    ABRT = 6
    BUS = 7
    FPE = 8
    KILL = 9
    USR1 = 10
    SEGV = 11
    USR2 = 12
    PIPE = 13
    ALRM = 14
    TERM = 15
    CHLD = 16
    CONT = 17
    STOP = 18
    TSTP = 19
    TTIN = 20
    TTOU = 21
    URG = 22
    XCPU = 23
    XFSZ = 24
    VTALRM = 25
    PROF = 26
    WINCH = 27
    POLL = 28
    PWR = 29
    SYS = 30


# --- struct layouts (little endian, natural alignment as in witx) -------------------------

#: iovec / ciovec: buf (u32), buf_len (u32)
IOVEC_STRUCT: Final = struct.Struct("<II")
#: fdstat: fs_filetype (u8), fs_flags (u16), fs_rights_base (u64), fs_rights_inheriting (u64)
FDSTAT_STRUCT: Final = struct.Struct("<BxHxxxxQQ")
#: filestat: dev, ino, filetype (u8), nlink, size, atim, mtim, ctim
FILESTAT_STRUCT: Final = struct.Struct("<QQBxxxxxxxQQQQQ")
#: dirent header: d_next, d_ino, d_namlen (u32), d_type (u8); the name follows
DIRENT_STRUCT: Final = struct.Struct("<QQIBxxx")
#: prestat: tag (u8), pr_name_len (u32)
PRESTAT_STRUCT: Final = struct.Struct("<BxxxI")
#: subscription header: userdata (u64), tag (u8); the union body starts at offset 16
SUBSCRIPTION_STRUCT: Final = struct.Struct("<QB7x32x")
#: subscription_clock body at offset 16: id (u32), timeout (u64), precision (u64), flags (u16)
SUBSCRIPTION_CLOCK_STRUCT: Final = struct.Struct("<I4xQQH")
#: subscription_fd_readwrite body at offset 16: file_descriptor (u32)
SUBSCRIPTION_FD_STRUCT: Final = struct.Struct("<I")
#: event: userdata (u64), error (u16), type (u8), fd_readwrite.nbytes (u64), .flags (u16)
EVENT_STRUCT: Final = struct.Struct("<QHBxxxxxQH6x")
U32_STRUCT: Final = struct.Struct("<I")
U64_STRUCT: Final = struct.Struct("<Q")

assert FDSTAT_STRUCT.size == 24
assert FILESTAT_STRUCT.size == 64
assert DIRENT_STRUCT.size == 24
assert PRESTAT_STRUCT.size == 8
assert SUBSCRIPTION_STRUCT.size == 48
assert EVENT_STRUCT.size == 32

# --- the import table ----------------------------------------------------------------------

I32: Final = "i32"
I64: Final = "i64"

#: Every ``wasi_snapshot_preview1`` function: name -> (parameter types, result types).
#: Parameter names are in ``SYSCALL_PARAMS``. This table is the single source of truth for
#: the engine bindings, which build their function types (and read raw argument slots) from it.
SYSCALLS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {}
SYSCALL_PARAMS: Final[dict[str, tuple[str, ...]]] = {}


def _sig(name: str, *params: str, result: bool = True) -> None:
    names = tuple(p.split(":")[0] for p in params)
    types = tuple(I64 if p.endswith(":i64") else I32 for p in params)
    SYSCALLS[name] = (types, (I32,) if result else ())
    SYSCALL_PARAMS[name] = names


_sig("args_get", "argv_ptr", "argv_buf_ptr")
_sig("args_sizes_get", "argc_ptr", "argv_buf_size_ptr")
_sig("environ_get", "environ_ptr", "environ_buf_ptr")
_sig("environ_sizes_get", "environc_ptr", "environ_buf_size_ptr")
_sig("clock_res_get", "id", "resolution_ptr")
_sig("clock_time_get", "id", "precision:i64", "time_ptr")
_sig("fd_advise", "fd", "offset:i64", "len:i64", "advice")
_sig("fd_allocate", "fd", "offset:i64", "len:i64")
_sig("fd_close", "fd")
_sig("fd_datasync", "fd")
_sig("fd_fdstat_get", "fd", "stat_ptr")
_sig("fd_fdstat_set_flags", "fd", "flags")
_sig("fd_fdstat_set_rights", "fd", "fs_rights_base:i64", "fs_rights_inheriting:i64")
_sig("fd_filestat_get", "fd", "buf_ptr")
_sig("fd_filestat_set_size", "fd", "size:i64")
_sig("fd_filestat_set_times", "fd", "atim:i64", "mtim:i64", "fst_flags")
_sig("fd_pread", "fd", "iovs_ptr", "iovs_len", "offset:i64", "nread_ptr")
_sig("fd_prestat_get", "fd", "buf_ptr")
_sig("fd_prestat_dir_name", "fd", "path_ptr", "path_len")
_sig("fd_pwrite", "fd", "iovs_ptr", "iovs_len", "offset:i64", "nwritten_ptr")
_sig("fd_read", "fd", "iovs_ptr", "iovs_len", "nread_ptr")
_sig("fd_readdir", "fd", "buf_ptr", "buf_len", "cookie:i64", "bufused_ptr")
_sig("fd_renumber", "fd", "to")
_sig("fd_seek", "fd", "offset:i64", "whence", "newoffset_ptr")
_sig("fd_sync", "fd")
_sig("fd_tell", "fd", "offset_ptr")
_sig("fd_write", "fd", "iovs_ptr", "iovs_len", "nwritten_ptr")
_sig("path_create_directory", "fd", "path_ptr", "path_len")
_sig("path_filestat_get", "fd", "flags", "path_ptr", "path_len", "buf_ptr")
_sig(
    "path_filestat_set_times",
    "fd", "flags", "path_ptr", "path_len", "atim:i64", "mtim:i64", "fst_flags",
)
_sig(
    "path_link",
    "old_fd", "old_flags", "old_path_ptr", "old_path_len", "new_fd", "new_path_ptr", "new_path_len",
)
_sig(
    "path_open",
    "fd", "dirflags", "path_ptr", "path_len", "oflags",
    "fs_rights_base:i64", "fs_rights_inheriting:i64", "fdflags", "fd_ptr",
)
_sig("path_readlink", "fd", "path_ptr", "path_len", "buf_ptr", "buf_len", "bufused_ptr")
_sig("path_remove_directory", "fd", "path_ptr", "path_len")
_sig(
    "path_rename",
    "fd", "old_path_ptr", "old_path_len", "new_fd", "new_path_ptr", "new_path_len",
)
_sig("path_symlink", "old_path_ptr", "old_path_len", "fd", "new_path_ptr", "new_path_len")
_sig("path_unlink_file", "fd", "path_ptr", "path_len")
_sig("poll_oneoff", "in_ptr", "out_ptr", "nsubscriptions", "nevents_ptr")
_sig("proc_exit", "rval", result=False)
_sig("proc_raise", "sig")
_sig("sched_yield")
_sig("random_get", "buf_ptr", "buf_len")
_sig("sock_accept", "fd", "flags", "result_fd_ptr")
_sig("sock_recv", "fd", "ri_data_ptr", "ri_data_len", "ri_flags", "ro_datalen_ptr", "ro_flags_ptr")
_sig("sock_send", "fd", "si_data_ptr", "si_data_len", "si_flags", "so_datalen_ptr")
_sig("sock_shutdown", "fd", "how")

assert len(SYSCALLS) == 46
