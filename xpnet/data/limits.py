"""How much the data layer may read, download and allocate, checked before it does.

A file's header, a dataset's name or a server's answer can claim any size; these limits turn a
claim that cannot be right into a one-line DataError before the memory, disk or time is spent.
"""

import os

# The largest IDX body read from a file whose size is not published (any folder given by path,
# e.g. EMNIST 'byclass': 698k train images, 547 MB). A published dataset's files are held to
# their exact published shapes instead.
MAX_FILE_BYTES = 1 << 30
# Deflate cannot expand data more than 1032 times; a gzip file claiming more is corrupt.
MAX_GZIP_RATIO = 1032


def human_bytes(size: float) -> str:
    """'1.5 GB', '640 kB', '12 bytes'."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} bytes"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """What the cgroup (v2) limit leaves to this process's group, where there is a limit."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as limit_file:
            limit = limit_file.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as current_file:
            return max(int(limit) - int(current_file.read().strip()), 0)
    except (OSError, ValueError):
        return None


def _address_space_left() -> int | None:
    """What an address-space limit (``ulimit -v``, RLIMIT_AS) leaves this process to map, where there is one."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):
        return None
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            mapped = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    except (OSError, ValueError, IndexError, StopIteration):
        mapped = 0
    return max(limit - mapped, 0)


def available_memory() -> int | None:
    """Bytes of memory a new allocation can use without swapping or being killed, or None when
    the system does not say: MemAvailable (Linux), else the physical memory, lowered by a
    cgroup v2 limit and by what an address-space limit (``ulimit -v``) leaves, where there are."""
    available = _meminfo_available()
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            available = None
    for limited in (_cgroup_available(), _address_space_left()):
        if limited is not None:
            available = limited if available is None else min(available, limited)
    return available
