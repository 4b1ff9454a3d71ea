#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int topo_open_dir(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Why a read went wrong, named for the user: fstat only runs on this path so
 * that the common case costs open + read + close. */
static rochp_status explain_failure(int fd, int errnum, const char *path, size_t cap,
                                    rochp__error *err)
{
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode))
        return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s: is a directory, expected a file", path);
    if (fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode))
        return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s: not a regular file", path);
    if (errnum == 0)
        return rochp__fail(err, ROCHP_ERROR_TOO_LARGE, "%s: file larger than %zu bytes", path,
                          cap - 1);
    return rochp__fail(err, ROCHP_ERROR_IO, "%s: read failed: %s", path, strerror(errnum));
}

rochp_status topo_read_file(int dirfd, const char *name, char *buf, size_t cap, size_t *len,
                            const char *path, rochp__error *err)
{
    /* O_NONBLOCK: a FIFO planted in a tree must not block the open or the read. */
    int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return rochp__fail(err, rochp__status_from_errno(errno), "%s: cannot open: %s", path,
                          strerror(errno));
    rochp_status st = ROCHP_OK;
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, buf + used, cap - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = explain_failure(fd, errno, path, cap, err);
            break;
        }
        used += (size_t)n;
        if (used == cap - 1) {
            /* Full: only a file of exactly cap - 1 bytes ends here. */
            char probe;
            ssize_t more;
            while ((more = read(fd, &probe, 1)) < 0 && errno == EINTR)
                ;
            if (more != 0)
                st = explain_failure(fd, more < 0 ? errno : 0, path, cap, err);
            break;
        }
        /* A sysfs attribute comes whole in one read, and a regular file reads
         * short only at its end: a short read is the end of the file. */
        if (n == 0 || (size_t)n < cap - 1 - (used - (size_t)n))
            break;
    }
    close(fd);
    if (st == ROCHP_OK) {
        buf[used] = '\0';
        *len = used;
    }
    return st;
}
