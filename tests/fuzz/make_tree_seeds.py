#!/usr/bin/env python3
"""Writes seed inputs for fuzz_tree into the directory given: trees in the
record format fuzz_tree.c reads ([selector][length][content]...)."""
import os
import sys

# Selector numbers index fuzz_tree.c's path table.
GENERATION, SYSPROPS, N0_PROPS, N0_GPU_ID, N0_NAME, N1_PROPS, N1_GPU_ID, N1_NAME, \
    N1_BANK, N1_USED, N1_LINK0, N1_LINK1, N1_P2P, N1_CACHE, N2_PROPS, NX_PROPS = range(16)

CPU = b"cpu_cores_count 16\nsimd_count 0\nmem_banks_count 1\nio_links_count 1\nlocation_id 0\n"
GPU = (b"cpu_cores_count 0\nsimd_count 192\nmem_banks_count 1\nio_links_count 2\n"
       b"gfx_target_version 110000\nvendor_id 4098\ndevice_id 29772\nlocation_id 768\n"
       b"domain 0\ndrm_render_minor 128\nunique_id 11\n")
BANK = b"heap_type 1\nsize_in_bytes 25769803776\nflags 0\n"
LINK = b"type 2\nnode_from 1\nnode_to 0\nweight 20\n"


def rec(sel, content, kind=0):
    # kind 0 = file; 5 = directory, 6 = symlink, 7 = FIFO (see fuzz_tree.c)
    return bytes([sel + 16 * kind, min(len(content), 255)]) + content[:255]


seeds = {
    "two-nodes": rec(GENERATION, b"2\n") + rec(N0_PROPS, CPU) + rec(N0_GPU_ID, b"0\n") +
    rec(N1_PROPS, GPU) + rec(N1_GPU_ID, b"4242\n") + rec(N1_NAME, b"ip discovery\n") +
    rec(N1_BANK, BANK) + rec(N1_USED, b"0\n") + rec(N1_LINK0, LINK),
    "no-generation": rec(N0_PROPS, CPU) + rec(N1_PROPS, GPU) + rec(N1_LINK1, LINK),
    "symlink-link": rec(N0_PROPS, CPU) + rec(N1_PROPS, GPU) + rec(N1_LINK0, b"xx", kind=6),
    "fifo-props": rec(N0_PROPS, CPU) + rec(N1_PROPS, b"", kind=7),
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
