/* Reading one small sysfs-style file safely: a regular file only (a FIFO or a
 * device must not block or stream forever), bounded in size. */
#ifndef ROCHP_TOPOLOGY_FILE_READ_H
#define ROCHP_TOPOLOGY_FILE_READ_H

#include <stddef.h>

#include "common/error.h"

/* Largest file the topology reader accepts.  sysfs attributes are at most one
 * page; 64 KiB leaves room for hand-made trees and still refuses a 100 MB
 * file after one read. */
#define TOPO_FILE_MAX (64 * 1024)

/* Reads the whole file dirfd/name into buf (capacity cap, at most cap - 1
 * bytes of content, NUL-terminated) and stores its length in *len.
 * path is how the file is named in error messages.
 * Missing file: ROCHP_ERROR_NOT_FOUND.  Larger than cap - 1: ROCHP_ERROR_TOO_LARGE. */
rochp_status topo_read_file(int dirfd, const char *name, char *buf, size_t cap, size_t *len,
                            const char *path, rochp__error *err);

/* Opens dirfd/name as a directory; returns the fd or -1 with errno set. */
int topo_open_dir(int dirfd, const char *name);

#endif
