#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

rochp_status fs_write_file(int dirfd, const char *name, const char *content, size_t len,
                           rochp__error *err)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot create %s: %s", name, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, content + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return rochp__fail(err, ROCHP_ERROR_IO, "cannot write %s: %s", name, strerror(e));
        }
        done += (size_t)n;
    }
    if (close(fd) != 0)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot write %s: %s", name, strerror(errno));
    return ROCHP_OK;
}

rochp_status fs_write_file_atomic(int dirfd, const char *name, const char *content, size_t len,
                                  rochp__error *err)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, ".%s.tmp.%ld", name, (long)getpid());
    rochp_status st = fs_write_file(dirfd, tmp, content, len, err);
    if (st != ROCHP_OK)
        return st;
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot replace %s: %s", name, strerror(e));
    }
    return ROCHP_OK;
}

rochp_status fs_mkdir(int dirfd, const char *name, rochp__error *err)
{
    if (mkdirat(dirfd, name, 0755) != 0 && errno != EEXIST)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot create directory %s: %s", name,
                          strerror(errno));
    return ROCHP_OK;
}

bool fs_exists(int dirfd, const char *name)
{
    struct stat sb;
    return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

static rochp_status remove_children(int fd, const char *name, rochp__error *err)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot list %s: %s", name, strerror(errno));
    }
    rochp_status st = ROCHP_OK;
    struct dirent *e;
    while (st == ROCHP_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        st = fs_remove_tree(dirfd(d), e->d_name, err);
    }
    closedir(d);
    return st;
}

rochp_status fs_remove_tree(int dirfd, const char *name, rochp__error *err)
{
    struct stat sb;
    if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? ROCHP_OK
                               : rochp__fail(err, ROCHP_ERROR_IO, "cannot stat %s: %s", name,
                                            strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return rochp__fail(err, ROCHP_ERROR_IO, "cannot open %s: %s", name, strerror(errno));
        rochp_status st = remove_children(fd, name, err);
        if (st != ROCHP_OK)
            return st;
        if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
            return rochp__fail(err, ROCHP_ERROR_IO, "cannot remove %s: %s", name,
                              strerror(errno));
        return ROCHP_OK;
    }
    if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot remove %s: %s", name, strerror(errno));
    return ROCHP_OK;
}

static rochp_status copy_file(int src_dirfd, const char *src, int dst_dirfd, const char *dst,
                              rochp__error *err)
{
    int in = openat(src_dirfd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot open %s: %s", src, strerror(errno));
    int out = openat(dst_dirfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot create %s: %s", dst, strerror(e));
    }
    char buf[16384];
    rochp_status st = ROCHP_OK;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                st = rochp__fail(err, ROCHP_ERROR_IO, "cannot read %s: %s", src, strerror(errno));
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                st = rochp__fail(err, ROCHP_ERROR_IO, "cannot write %s: %s", dst, strerror(errno));
                break;
            }
            off += w;
        }
        if (st != ROCHP_OK)
            break;
    }
    close(in);
    if (close(out) != 0 && st == ROCHP_OK)
        st = rochp__fail(err, ROCHP_ERROR_IO, "cannot write %s: %s", dst, strerror(errno));
    return st;
}

rochp_status fs_copy_tree(int src_dirfd, const char *src, int dst_dirfd, const char *dst,
                          rochp__error *err)
{
    int in = openat(src_dirfd, src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (in < 0)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot open directory %s: %s", src,
                          strerror(errno));
    if (mkdirat(dst_dirfd, dst, 0755) != 0) {
        int e = errno;
        close(in);
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot create directory %s: %s", dst,
                          strerror(e));
    }
    int out = openat(dst_dirfd, dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = out >= 0 ? fdopendir(in) : NULL;
    if (!d) {
        int e = errno;
        close(in);
        if (out >= 0)
            close(out);
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot copy %s: %s", src, strerror(e));
    }
    rochp_status st = ROCHP_OK;
    struct dirent *e;
    while (st == ROCHP_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            st = rochp__fail(err, ROCHP_ERROR_IO, "cannot stat %s/%s: %s", src, e->d_name,
                            strerror(errno));
        else if (S_ISDIR(sb.st_mode))
            st = fs_copy_tree(dirfd(d), e->d_name, out, e->d_name, err);
        else if (S_ISREG(sb.st_mode))
            st = copy_file(dirfd(d), e->d_name, out, e->d_name, err);
        /* Anything else (symlinks, FIFOs) is not part of a KFD tree: skipped. */
    }
    closedir(d);
    close(out);
    return st;
}

bool fs_path(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}
