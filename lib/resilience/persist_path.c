/* rochp_checkpoint_save_path: a checkpoint file replaced whole or not at
 * all.  The new file is written aside in the same directory (a rename
 * within one directory is atomic), flushed to the disk, renamed over the
 * old one, and the directory flushed so that the rename itself survives a
 * crash.  Until the rename the old file is untouched; after any failure
 * before it the temporary is removed.
 *
 * The temporary has no name while it is written (O_TMPFILE): a process
 * killed part way -- a SIGBUS from an unplug is the case this library is
 * for -- leaves nothing behind, where a named one would leave a file the
 * size of the checkpoint at every such death.  It is named (linkat through
 * /proc/self/fd, open(2)'s recipe) just before the rename.  File systems
 * without O_TMPFILE get a named temporary from the start. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resilience/persist_load.h"

#define TEMP_SUFFIX ".tmp.XXXXXX"

static rochp_status io_error(const char *what, const char *path)
{
    int e = errno;
    return rochp__set_errorf(rochp__status_from_errno(e), "rochp_checkpoint_save_path: %s %s: %s",
                            what, path, strerror(e));
}

/* The directory that holds path, opened for its fsync. */
static rochp_status open_directory(const char *path, int *out)
{
    *out = -1;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "rochp_checkpoint_save_path: out of memory");
    *out = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rochp_status st = *out < 0 ? io_error("cannot open the directory", dir) : ROCHP_OK;
    free(dir);
    return st;
}

/* The checkpoint into the temporary: written, then on the disk. */
static rochp_status write_temp(rochp_context *ctx, int fd, const char *temp, const char *path,
                               const void *user, size_t user_size)
{
    struct stat old;
    /* A replaced file keeps its permissions (mkostemp made 0600). */
    if (stat(path, &old) == 0 && S_ISREG(old.st_mode) && fchmod(fd, old.st_mode & 07777) != 0)
        return io_error("cannot set the mode of", temp);
    rochp_status st = rochp_checkpoint_save(ctx, fd, user, user_size);
    if (st != ROCHP_OK) {
        char cause[ROCHP_ERROR_MESSAGE_MAX];
        snprintf(cause, sizeof cause, "%s", rochp_last_error());
        return rochp__set_errorf(st, "rochp_checkpoint_save_path: %s: %s", temp, cause);
    }
    if (fsync(fd) != 0)
        return io_error("cannot flush", temp);
    return ROCHP_OK;
}

/* An unnamed file in dir, path's directory (-1 with ROCHP_OK: the file
 * system has none, or the kernel predates O_TMPFILE: EOPNOTSUPP, or EISDIR
 * per open(2)). */
static int open_unnamed(int dir, const char *path, rochp_status *st)
{
    int fd = openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    *st = fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL
              ? io_error("cannot create a temporary file beside", path)
              : ROCHP_OK;
    return fd;
}

/* A name for the unnamed file fd, beside path, into temp (its size n). */
static rochp_status name_unnamed(int fd, const char *path, char *temp, size_t n)
{
    static atomic_uint counter;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(temp, n, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
        if (linkat(AT_FDCWD, proc, AT_FDCWD, temp, AT_SYMLINK_FOLLOW) == 0)
            return ROCHP_OK;
        /* No /proc: AT_EMPTY_PATH, which wants CAP_DAC_READ_SEARCH. */
        if (errno == ENOENT && linkat(fd, "", AT_FDCWD, temp, AT_EMPTY_PATH) == 0)
            return ROCHP_OK;
        if (errno != EEXIST)
            return io_error("cannot name the new checkpoint", temp);
    }
    return io_error("cannot name the new checkpoint", temp);
}

static rochp_status save_aside(rochp_context *ctx, const char *path, int dir, const void *user,
                               size_t user_size)
{
    /* path + ".tmp." + a pid and a counter, or + the mkostemp template. */
    size_t n = strlen(path) + sizeof TEMP_SUFFIX + 32;
    char *temp = malloc(n);
    if (!temp)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "rochp_checkpoint_save_path: out of memory");
    rochp_status st;
    int fd = open_unnamed(dir, path, &st);
    bool unnamed = fd >= 0;
    if (unnamed) {
        snprintf(temp, n, "%s (its unnamed temporary)", path);
    } else if (st == ROCHP_OK) {
        snprintf(temp, n, "%s" TEMP_SUFFIX, path);
        fd = mkostemp(temp, O_CLOEXEC);
        st = fd < 0 ? io_error("cannot create", temp) : ROCHP_OK;
    }
    bool named = !unnamed && fd >= 0;
    if (st == ROCHP_OK) {
        st = write_temp(ctx, fd, temp, path, user, user_size);
        if (st == ROCHP_OK && unnamed) {
            st = name_unnamed(fd, path, temp, n);
            named = st == ROCHP_OK;
        }
        if (close(fd) != 0 && st == ROCHP_OK)
            st = io_error("cannot close", temp);
        if (st == ROCHP_OK && rename(temp, path) != 0)
            st = io_error("cannot rename the new checkpoint over", path);
        if (st != ROCHP_OK && named)
            unlink(temp);
    }
    free(temp);
    /* The rename is on the disk only once its directory is. */
    if (st == ROCHP_OK && fsync(dir) != 0)
        st = io_error("saved, but cannot flush the directory of", path);
    return st;
}

rochp_status rochp_checkpoint_save_path(rochp_context *ctx, const char *path, const void *user,
                                        size_t user_size)
{
    if (!ctx || !path || !*path || (user_size && !user))
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_checkpoint_save_path: ctx, a path and user (when "
                                "user_size > 0) must be given");
    rochp_status hst = handle_check(ctx, HANDLE_CONTEXT, "rochp_checkpoint_save_path");
    if (hst != ROCHP_OK)
        return hst;
    /* Nothing to save leaves no temporary either. */
    rochp_status have = persist_have_checkpoint(ctx, "rochp_checkpoint_save_path");
    if (have != ROCHP_OK)
        return have;
    int dir;
    rochp_status st = open_directory(path, &dir);
    if (st != ROCHP_OK)
        return st;
    st = save_aside(ctx, path, dir, user, user_size);
    close(dir);
    return st;
}
