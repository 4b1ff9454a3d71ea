/* File-system helpers for rochp-sim: everything relative to directory fds. */
#ifndef ROCHP_SIM_FSUTIL_H
#define ROCHP_SIM_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* Writes content to dirfd/name (created or truncated). */
rochp_status fs_write_file(int dirfd, const char *name, const char *content, size_t len,
                           rochp__error *err);
/* Writes content to dirfd/name through a temporary file and rename, so that
 * a concurrent reader sees the old or the new content, never a mix. */
rochp_status fs_write_file_atomic(int dirfd, const char *name, const char *content, size_t len,
                                  rochp__error *err);
/* mkdir dirfd/name (mode 0755); an existing directory is fine. */
rochp_status fs_mkdir(int dirfd, const char *name, rochp__error *err);
/* Removes dirfd/name and everything below it; missing is fine. */
rochp_status fs_remove_tree(int dirfd, const char *name, rochp__error *err);
/* Copies the directory src_dirfd/src (files and directories, recursively;
 * symlinks are not followed) to dst_dirfd/dst, which must not exist. */
rochp_status fs_copy_tree(int src_dirfd, const char *src, int dst_dirfd, const char *dst,
                          rochp__error *err);
bool fs_exists(int dirfd, const char *name);

/* The longest DIR the simulator accepts: its own paths below DIR then fit
 * the fixed buffers (FS_PATH_MAX) with room to spare. */
#define FS_DIR_MAX 2048
#define FS_PATH_MAX 4096
/* snprintf for paths: false (and out cut short) when the result does not fit. */
bool fs_path(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
