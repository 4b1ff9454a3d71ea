/* mpi_training's commit marker and checkpoint files: their names, the
 * marker's text, and which files may go once a step is committed. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpi_training.h"

/* A file is named by the smallest part in it: without adoption, the rank's. */
void part_file(const job *j, uint32_t file, uint32_t step, char *out, size_t size)
{
    snprintf(out, size, "%s/rank-%" PRIu32 ".step-%" PRIu32 ".ckpt", j->dir, file, step);
}

/* The committed step (NO_STEP when there is none), the job's logical ranks
 * and the files of the commit: "step S ranks L files F,F,...", or, as
 * written before parts existed, "step S ranks L" (files 0..L-1). */
int read_committed(const job *j, uint32_t *step, uint32_t *total, uint8_t *files)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/committed", j->dir);
    *step = NO_STEP;
    memset(files, 0, MAX_PARTS / 8);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : 1;
    char text[8 * MAX_PARTS];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    uint32_t s, ranks;
    int used = 0;
    if (sscanf(text, "step %" SCNu32 " ranks %" SCNu32 "%n", &s, &ranks, &used) != 2 ||
        ranks == 0 || ranks > MAX_PARTS) {
        fprintf(stderr, "mpi_training: %s: not a commit\n", path);
        return 1;
    }
    const char *p = text + used;
    if (strncmp(p, " files ", 7) != 0) {
        for (uint32_t i = 0; i < ranks; i++)
            set_bit(files, i);
    } else {
        p += 7;
        for (;;) {
            char *end;
            unsigned long v = strtoul(p, &end, 10);
            if (end == p || v >= ranks) {
                fprintf(stderr, "mpi_training: %s: a bad file list\n", path);
                return 1;
            }
            set_bit(files, (uint32_t)v);
            if (*end != ',')
                break;
            p = end + 1;
        }
    }
    *step = s;
    *total = ranks;
    return 0;
}

/* Rank 0's second phase: the marker, written aside, flushed and renamed. */
int write_committed(const job *j, uint32_t step, const int *files)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/committed", j->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char text[8 * MAX_PARTS];
    int len = snprintf(text, sizeof text, "step %" PRIu32 " ranks %" PRIu32, step, j->total);
    /* The list only when it is not the plain 0..L-1, so that a job that
     * adopted nothing writes what it wrote before parts existed. */
    bool plain = j->size == (int)j->total;
    for (int i = 0; i < j->size && plain; i++)
        plain = files[i] == i;
    for (int i = 0, n = 0; i < j->size && !plain; i++)
        if (files[i] >= 0)
            len += snprintf(text + len, sizeof text - (size_t)len, "%s%d", n++ ? "," : " files ",
                            files[i]);
    len += snprintf(text + len, sizeof text - (size_t)len, "\n");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return 1;
    int ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return 1;
    }
    int dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Rank 0, once the marker names step: every file of a step other than step
 * and keep (the commit before) goes.
 *
 * Why the last two commits' files are kept: the marker is rank 0's alone
 * and written after the file-number allgather, whose outcome ULFM does not
 * make the same everywhere; rank 0 may also die between the allgather and
 * the rename.  So when the processes roll back (a job restart, or a ULFM
 * shrink) the marker names either this commit or the one before, never
 * anything else: it moved past keep only now, and nobody deletes keep's
 * files until the marker has moved past step.  Files of other steps are
 * older commits or the leftovers of a save that was never committed (an
 * allgather that failed, files whose owner died): no marker can name them
 * any more.  Nobody writes meanwhile: the next save comes after this
 * step's allreduce, which waits for rank 0, and a rollback loads only after
 * a shrink, which waits for it too.  Rank 0 deletes for everyone because
 * after an adoption no process knows which files the dead ones left. */
void prune(const job *j, uint32_t step, uint32_t keep)
{
    DIR *d = opendir(j->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint32_t file, s;
        int end = 0;
        if (sscanf(e->d_name, "rank-%" SCNu32 ".step-%" SCNu32 ".ckpt%n", &file, &s, &end) != 2 ||
            e->d_name[end] != '\0' || s == step || s == keep)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", j->dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}
