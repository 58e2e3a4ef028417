#!/usr/bin/env python3
"""Self time of a `perf` recording by kind of code, from inferno's collapsed stacks.

Usage:
    perf script -i perf.data | inferno-collapse-perf --all > stacks.folded
    scripts/perf-by-kind.py stacks.folded

Each sample is counted once, by its leaf frame: a kernel frame (`_[k]`) or libc's wrapper of
a system call is the kernel; a leaf in libc's allocator or its memcpy/memcmp family is
counted as that whatever called it (the DWARF unwinder often cannot step out of them). Any
other leaf is counted by the first frame, from the leaf upwards, that belongs to a known
crate: generic frames (core, alloc, std, hashbrown and the like, trait impls of no known
crate, unresolved addresses) pass the sample on to their caller. Prints one line per kind,
largest first, as a Markdown table.
"""

import re
import sys
from collections import Counter

ALLOCATOR = re.compile(
    r"^(__libc_)?(malloc|free|calloc|realloc|cfree)$|^_int_(malloc|free|realloc)|"
    r"^malloc_consolidate|^tcache_|^unlink_chunk|^__rust_(alloc|dealloc|realloc)|"
    r"^alloc::alloc::|^sysmalloc|^__default_morecore|^_int_memalign|"
    r"^<std::alloc::System as core::alloc::global::GlobalAlloc>"
)
# libc's thin wrappers around system calls: the time is the kernel's, entered from here.
SYSCALL = re.compile(r"^(epoll_wait|epoll_ctl|clock_gettime|syscall|write|writev|read|readv|sendmsg|recvmsg|sendto|recvfrom|fdatasync|fsync|futex|pwrite64|pread64|__libc_(write|read|sendmsg|recvmsg)|__clock_gettime)$")
MEMCPY = re.compile(r"^__(memmove|memcpy|memcmp|memset|memchr|bcmp|strlen)|^(memcpy|memmove|memcmp|bcmp|memset)")

# Kinds of a non-libc leaf, tried from the leaf upwards; the first kind whose pattern a
# frame matches takes the sample.
KINDS = [
    ("HTTP/2 and gRPC (h2, hyper, tonic, prost, tower, http)", re.compile(r"^<?(h2|hyper|hyper_util|tonic|prost|tower|http|http_body)::|<(h2|hyper|tonic|prost|tower)::")),
    ("tokio's runtime", re.compile(r"^<?tokio::|<tokio::")),
    ("TLS crypto (rustls, ring, aws-lc)", re.compile(r"rustls|^<?ring::|aws_lc|^ring_core|^aes_|^gcm_|^chacha|^sha256_block|^sha512_block")),
    ("encoding and decoding (rmp, serde_json, serde)", re.compile(r"^<?(rmp_serde|rmp|serde_json|serde|serde_core|serde_bytes)::|<(rmp_serde|serde_json|serde_core)::")),
    ("RocksDB", re.compile(r"rocksdb")),
    ("openraft", re.compile(r"^<?openraft::|<openraft::")),
    ("the domain (apply, queries, pools)", re.compile(r"^<?moor_domain::|<moor_domain::")),
    ("moord's executor", re.compile(r"moor_node::exec::")),
    ("moord, other (api, raft glue, proposer, forwarder)", re.compile(r"moor_node::|moor_raft_store::")),
    ("the site simulator and site protocol", re.compile(r"moor_site")),
    ("the benchmark client", re.compile(r"moor_jepsen_like_tests|moor_bench")),
    ("tracing", re.compile(r"^<?tracing(_core|_subscriber)?::")),
]
GENERIC = re.compile(r"^<?(core|alloc|std|hashbrown|litemap|smallvec|bytes|indexmap)::|^\[unknown\]$|^0x[0-9a-f]+$|^<")


def kind_of(frames):
    # glibc's internal aliases: __GI___libc_malloc is malloc, __GI_memcpy is memcpy.
    leaf = re.sub(r"^__GI_+(libc_)?", "", frames[-1])
    if leaf.endswith("_[k]"):
        return "kernel: network, scheduling, page faults"
    if SYSCALL.search(leaf):
        return "kernel: network, scheduling, page faults"
    if ALLOCATOR.search(leaf):
        return "allocator (malloc, free and their internals)"
    if MEMCPY.search(leaf):
        return "memcpy / memcmp / memset"
    for frame in reversed(frames):
        for name, pattern in KINDS:
            if pattern.search(frame):
                return name
        if not GENERIC.search(frame):
            break
    return "everything else"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: perf-by-kind.py STACKS.folded (from inferno-collapse-perf --all)")
    counts = Counter()
    total = 0
    with open(sys.argv[1], encoding="utf-8", errors="replace") as folded:
        for line in folded:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not stack or not n.isdigit():
                continue
            frames = stack.split(";")
            counts[kind_of(frames)] += int(n)
            total += int(n)
    if total == 0:
        sys.exit("no samples in " + sys.argv[1])
    # With the software clock each sample weighs its period: shares, not counts.
    print("| kind of leaf frame | share of samples |")
    print("| --- | ---: |")
    for name, n in counts.most_common():
        print(f"| {name} | {100.0 * n / total:.1f}% |")


if __name__ == "__main__":
    main()
