"""wasifs: a WASI preview1 host in Python with swappable virtual filesystems."""
