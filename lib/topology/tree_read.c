/* Reading the KFD topology tree the way libhsakmt does: generation_id before
 * and after, and again from the start when it moved (a torn read is a real
 * case: the kernel rebuilds nodes/ in place on hot-plug). */
#include "snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_read.h"

typedef struct reader {
    const char *root;
    rochp__arena *arena;
    rochp__error *err;
    bool vanished; /* an entry listed a moment ago was gone: maybe torn */
    uint32_t parts; /* TOPO_READ_* */
    size_t path_len;
    char path[4096]; /* the file being read, for error messages; built by push/pop */
    char buf[TOPO_FILE_MAX + 1];
} reader;

static rochp_status oom(reader *r)
{
    return rochp__fail(r->err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory reading %s/topology",
                      r->root);
}

/* Appends "/name" to the current path and returns the length to pop back to.
 * Paths are built piecewise because one rescan reads thousands of files and
 * only a failure needs the name. */
static size_t path_push(reader *r, const char *name)
{
    size_t old = r->path_len, n = strlen(name);
    if (old + 1 + n < sizeof r->path) {
        r->path[old] = '/';
        memcpy(r->path + old + 1, name, n + 1);
        r->path_len = old + 1 + n;
    }
    return old;
}

static void path_pop(reader *r, size_t len)
{
    r->path_len = len;
    r->path[len] = '\0';
}

/* Parses a file that holds one decimal number (generation_id, gpu_id, used_memory). */
static rochp_status parse_number_file(const char *buf, size_t len, uint64_t *value,
                                      const char *path, rochp__error *err)
{
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\r'))
        len--;
    if (len == 0)
        return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s:1: empty, expected a number", path);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s:1: not an unsigned decimal number",
                              path);
        unsigned d = (unsigned)(buf[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return rochp__fail(err, ROCHP_ERROR_TOO_LARGE, "%s:1: number does not fit in 64 bits",
                              path);
        v = v * 10 + d;
    }
    *value = v;
    return ROCHP_OK;
}

/* Reads dirfd/name (name relative, may contain '/'); r->path must name it. */
static rochp_status read_into_buf(reader *r, int dirfd, const char *name, size_t *len)
{
    return topo_read_file(dirfd, name, r->buf, sizeof r->buf, len, r->path, r->err);
}

static rochp_status read_number(reader *r, int dirfd, const char *name, uint64_t *value)
{
    size_t len, mark = path_push(r, name);
    rochp_status st = read_into_buf(r, dirfd, name, &len);
    if (st == ROCHP_OK)
        st = parse_number_file(r->buf, len, value, r->path, r->err);
    path_pop(r, mark);
    return st;
}

/* Reads dirfd/name as a properties file; missing leaves *props empty and *found false. */
static rochp_status read_props(reader *r, int dirfd, const char *name, topo_props *props,
                               bool *found)
{
    size_t len, mark = path_push(r, name);
    rochp_status st = read_into_buf(r, dirfd, name, &len);
    *found = st == ROCHP_OK;
    if (st == ROCHP_ERROR_NOT_FOUND)
        st = ROCHP_OK;
    else if (st == ROCHP_OK)
        st = topo_props_parse(r->buf, len, r->arena, props, r->path, r->err);
    path_pop(r, mark);
    return st;
}

/* Writes index in decimal with a NUL; returns its length.  (snprintf showed
 * in rescan profiles: it runs once per link file.) */
static int format_index(char *out, uint32_t index)
{
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + index % 10);
        index /= 10;
    } while (index);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static bool parse_index(const char *s, uint32_t *out)
{
    /* Canonical decimal only: the kernel never writes "01" or "+1". */
    if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 9)
        return false;
    uint32_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint32_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* Lists the numbered entries of the directory r->path (open as d) in
 * ascending order.  *out is malloc'd (NULL when there are none). */
static rochp_status list_indices(reader *r, DIR *d, uint32_t max, uint32_t **out, uint32_t *n)
{
    uint32_t *idx = NULL, count = 0, cap = 0;
    struct dirent *e;
    rochp_status st = ROCHP_OK;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        uint32_t v;
        if (!parse_index(e->d_name, &v)) {
            st = rochp__fail(r->err, ROCHP_ERROR_MALFORMED,
                            "%s/%s: unexpected entry (only numbered directories belong here)",
                            r->path, e->d_name);
            goto fail;
        }
        if (count == max) {
            st = rochp__fail(r->err, ROCHP_ERROR_TOO_LARGE, "%s: more than %u entries", r->path,
                            max);
            goto fail;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *grown = realloc(idx, cap * sizeof *idx);
            if (!grown) {
                st = oom(r);
                goto fail;
            }
            idx = grown;
        }
        idx[count++] = v;
        errno = 0;
    }
    if (errno != 0) {
        st = rochp__fail(r->err, ROCHP_ERROR_IO, "%s: cannot list: %s", r->path, strerror(errno));
        goto fail;
    }
    if (count > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(idx, count, sizeof *idx, cmp_u32);
    *out = idx;
    *n = count;
    return ROCHP_OK;
fail:
    free(idx);
    return st;
}

/* Opens dirfd/name (r->path names it) as a directory stream.  Missing: *d
 * stays NULL and ROCHP_OK: every sub-directory of a node is optional, as old
 * kernels and partial captures lack some. */
static rochp_status open_optional_dir(reader *r, int dirfd, const char *name, DIR **d)
{
    *d = NULL;
    int fd = topo_open_dir(dirfd, name);
    if (fd < 0) {
        if (errno == ENOENT)
            return ROCHP_OK;
        rochp_status st = rochp__status_from_errno(errno);
        return rochp__fail(r->err, st == ROCHP_ERROR_NOT_FOUND ? ROCHP_ERROR_MALFORMED : st,
                          "%s: cannot open directory: %s", r->path, strerror(errno));
    }
    *d = fdopendir(fd);
    if (!*d) {
        close(fd);
        return oom(r);
    }
    return ROCHP_OK;
}

/* A listed entry that cannot be read any more may mean the tree is being
 * rebuilt: remember it so the caller retries instead of failing. */
static rochp_status note_vanished(reader *r, rochp_status st)
{
    if (st == ROCHP_ERROR_NOT_FOUND) /* ENOENT only: see rochp__status_from_errno */
        r->vanished = true;
    return st;
}

/* Reads sub/<M>/properties for every M of one node: io_links, p2p_links, or
 * mem_banks (banks also carry used_memory). */
static rochp_status read_entries(reader *r, int node_fd, const char *sub, uint32_t *n_out,
                                 topo_props **props_out, topo_mem_bank **banks_out)
{
    size_t mark = path_push(r, sub);
    DIR *d;
    uint32_t *idx = NULL, n = 0;
    rochp_status st = open_optional_dir(r, node_fd, sub, &d);
    if (st != ROCHP_OK || !d)
        goto out;
    st = list_indices(r, d, TOPO_MAX_ENTRIES, &idx, &n);
    if (st != ROCHP_OK || n == 0)
        goto out;
    if (banks_out)
        *banks_out = rochp__arena_alloc(r->arena, n * sizeof **banks_out);
    else
        *props_out = rochp__arena_alloc(r->arena, n * sizeof **props_out);
    if (banks_out ? !*banks_out : !*props_out) {
        st = oom(r);
        goto out;
    }
    for (uint32_t i = 0; i < n && st == ROCHP_OK; i++) {
        /* Opened as "M/properties" relative to sub/: no per-entry directory fd. */
        char rel[32];
        int len = format_index(rel, idx[i]);
        rel[len++] = '/';
        bool found;
        strcpy(rel + len, "properties");
        topo_props *p = banks_out ? &(*banks_out)[i].props : &(*props_out)[i];
        st = note_vanished(r, read_props(r, dirfd(d), rel, p, &found));
        if (st == ROCHP_OK && !found) {
            /* Tell an entry that vanished from one that never had properties. */
            rel[len - 1] = '\0';
            int fd = topo_open_dir(dirfd(d), rel);
            if (fd < 0)
                st = note_vanished(r, rochp__fail(r->err, ROCHP_ERROR_NOT_FOUND,
                                                 "%s/%s: vanished while reading", r->path, rel));
            else
                close(fd);
            rel[len - 1] = '/';
        }
        if (st == ROCHP_OK && banks_out) {
            uint64_t used;
            strcpy(rel + len, "used_memory");
            rochp_status ust = read_number(r, dirfd(d), rel, &used);
            if (ust == ROCHP_OK) {
                (*banks_out)[i].has_used_memory = true;
                (*banks_out)[i].used_memory = used;
            } else if (ust != ROCHP_ERROR_NOT_FOUND) {
                st = ust;
            }
        }
    }
    if (st == ROCHP_OK)
        *n_out = n;
out:
    free(idx);
    if (d)
        closedir(d);
    path_pop(r, mark);
    return st;
}

static rochp_status count_entries(reader *r, int node_fd, const char *sub, uint32_t *n_out)
{
    size_t mark = path_push(r, sub);
    DIR *d;
    uint32_t *idx = NULL, n = 0;
    rochp_status st = open_optional_dir(r, node_fd, sub, &d);
    if (st == ROCHP_OK && d) {
        st = list_indices(r, d, TOPO_MAX_ENTRIES, &idx, &n);
        free(idx);
        closedir(d);
        if (st == ROCHP_OK)
            *n_out = n;
    }
    path_pop(r, mark);
    return st;
}

static rochp_status read_name(reader *r, int fd, topo_node *node)
{
    size_t len, mark = path_push(r, "name");
    rochp_status st = read_into_buf(r, fd, "name", &len);
    node->name = "";
    if (st == ROCHP_ERROR_NOT_FOUND) {
        st = ROCHP_OK;
        goto out;
    }
    if (st != ROCHP_OK)
        goto out;
    /* The kernel prints the name with a newline; mocks often omit it. */
    while (len > 0 && (r->buf[len - 1] == '\n' || r->buf[len - 1] == '\r'))
        len--;
    if (memchr(r->buf, '\0', len) || memchr(r->buf, '\n', len)) {
        st = rochp__fail(r->err, ROCHP_ERROR_MALFORMED, "%s:1: name must be one line of text",
                        r->path);
    } else if (len > 256) {
        st = rochp__fail(r->err, ROCHP_ERROR_TOO_LARGE, "%s:1: name longer than 256 bytes",
                        r->path);
    } else if (!(node->name = rochp__arena_strndup(r->arena, r->buf, len))) {
        st = oom(r);
    } else {
        node->has |= TOPO_HAS_NAME;
    }
out:
    path_pop(r, mark);
    return st;
}

static rochp_status read_node(reader *r, int nodes_fd, topo_node *node)
{
    char name[16];
    snprintf(name, sizeof name, "%u", node->index);
    size_t mark = path_push(r, name);
    rochp_status st;
    int fd = topo_open_dir(nodes_fd, name);
    if (fd < 0) {
        int e = errno;
        st = note_vanished(r, rochp__fail(r->err,
                                         e == ENOENT ? ROCHP_ERROR_NOT_FOUND : ROCHP_ERROR_MALFORMED,
                                         "%s: cannot open directory: %s", r->path, strerror(e)));
        path_pop(r, mark);
        return st;
    }
    bool found;
    st = read_props(r, fd, "properties", &node->props, &found);
    if (st == ROCHP_OK && found)
        node->has |= TOPO_HAS_PROPERTIES;
    if (st == ROCHP_OK) {
        st = read_number(r, fd, "gpu_id", &node->gpu_id);
        if (st == ROCHP_OK)
            node->has |= TOPO_HAS_GPU_ID;
        else if (st == ROCHP_ERROR_NOT_FOUND)
            st = ROCHP_OK;
    }
    if (st == ROCHP_OK)
        st = read_name(r, fd, node);
    if (st == ROCHP_OK)
        st = read_entries(r, fd, "mem_banks", &node->n_mem_banks, NULL, &node->mem_banks);
    if (st == ROCHP_OK && (r->parts & TOPO_READ_LINKS))
        st = read_entries(r, fd, "io_links", &node->n_io_links, &node->io_links, NULL);
    if (st == ROCHP_OK && (r->parts & TOPO_READ_LINKS))
        st = read_entries(r, fd, "p2p_links", &node->n_p2p_links, &node->p2p_links, NULL);
    if (st == ROCHP_OK && (r->parts & TOPO_READ_CACHE_PROPS))
        st = read_entries(r, fd, "caches", &node->n_caches, &node->caches, NULL);
    else if (st == ROCHP_OK && (r->parts & TOPO_READ_CACHES))
        st = count_entries(r, fd, "caches", &node->n_caches);
    close(fd);
    path_pop(r, mark);
    return st;
}

static rochp_status read_tree(reader *r, int topo_fd, topo_snapshot *snap)
{
    bool found;
    rochp_status st = read_props(r, topo_fd, "system_properties", &snap->system_properties, &found);
    if (st != ROCHP_OK)
        return st;
    snap->has_system_properties = found;

    size_t mark = path_push(r, "nodes");
    DIR *d;
    uint32_t *idx = NULL, n = 0;
    st = open_optional_dir(r, topo_fd, "nodes", &d);
    if (st == ROCHP_OK && !d)
        st = rochp__fail(r->err, ROCHP_ERROR_MALFORMED, "%s: missing directory", r->path);
    if (st != ROCHP_OK)
        goto out;
    st = list_indices(r, d, TOPO_MAX_NODES, &idx, &n);
    if (st != ROCHP_OK || n == 0)
        goto out;
    snap->nodes = rochp__arena_alloc(r->arena, n * sizeof *snap->nodes);
    if (!snap->nodes) {
        st = oom(r);
        goto out;
    }
    snap->n_nodes = n;
    for (uint32_t i = 0; i < n && st == ROCHP_OK; i++) {
        snap->nodes[i].index = idx[i];
        st = read_node(r, dirfd(d), &snap->nodes[i]);
    }
out:
    free(idx);
    if (d)
        closedir(d);
    path_pop(r, mark);
    return st;
}

static rochp_status read_generation_at(reader *r, int topo_fd, bool *has, uint64_t *gen)
{
    rochp_status st = read_number(r, topo_fd, "generation_id", gen);
    *has = st == ROCHP_OK;
    /* Partial captures have no generation_id; the tree is still readable. */
    return st == ROCHP_ERROR_NOT_FOUND ? ROCHP_OK : st;
}

static rochp_status open_topology(const char *root, int *fd, rochp__error *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/topology", root) >= (int)sizeof path)
        return rochp__fail(err, ROCHP_ERROR_TOO_LARGE, "sysfs root path too long: %s", root);
    *fd = topo_open_dir(AT_FDCWD, path);
    if (*fd < 0) {
        if (errno == ENOENT)
            return rochp__fail(err, ROCHP_ERROR_NOT_FOUND,
                              "%s: no KFD topology here (is the amdgpu driver loaded? is "
                              "ROCHP_SYSFS_ROOT right?)",
                              path);
        return rochp__fail(err, rochp__status_from_errno(errno), "%s: cannot open: %s", path,
                          strerror(errno));
    }
    return ROCHP_OK;
}

const char *topo_sysfs_root(void)
{
    const char *root = getenv("ROCHP_SYSFS_ROOT");
    return root && *root ? root : TOPO_DEFAULT_SYSFS_ROOT;
}

rochp_status topo_read_generation(const char *root, uint64_t *generation, rochp__error *err)
{
    if (!generation)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "generation is NULL");
    if (!root)
        root = topo_sysfs_root();
    char path[4096], buf[64];
    if (snprintf(path, sizeof path, "%s/topology/generation_id", root) >= (int)sizeof path)
        return rochp__fail(err, ROCHP_ERROR_TOO_LARGE, "sysfs root path too long: %s", root);
    size_t len;
    rochp_status st = topo_read_file(AT_FDCWD, path, buf, sizeof buf, &len, path, err);
    if (st != ROCHP_OK)
        return st;
    return parse_number_file(buf, len, generation, path, err);
}

rochp_status topo_snapshot_read(const char *root, topo_snapshot **out, rochp__error *err)
{
    return topo_snapshot_read_parts(root, TOPO_READ_ALL, out, err);
}

rochp_status topo_snapshot_read_parts(const char *root, uint32_t parts, topo_snapshot **out,
                                      rochp__error *err)
{
    if (parts & ~(uint32_t)(TOPO_READ_ALL | TOPO_READ_CACHE_PROPS))
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "unknown read parts 0x%x", parts);
    if (!out)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!root)
        root = topo_sysfs_root();
    int topo_fd = -1;
    rochp_status st = open_topology(root, &topo_fd, err);
    if (st != ROCHP_OK)
        return st;
    reader *r = malloc(sizeof *r);
    if (!r) {
        close(topo_fd);
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    r->root = root;
    r->err = err;
    r->parts = parts;
    r->path_len = (size_t)snprintf(r->path, sizeof r->path, "%s/topology", root);

    /* A read is repeated when generation_id moved under it, or when an entry
     * it had just listed vanished (a rebuild in progress that has not bumped
     * generation_id yet).  A tree that fails the same way while nothing moves
     * is broken, not busy: its own error is returned. */
    uint32_t vanished_retries = 0;
    for (uint32_t attempt = 1; attempt <= TOPO_MAX_READ_ATTEMPTS; attempt++) {
        topo_snapshot *snap = calloc(1, sizeof *snap);
        if (!snap) {
            st = rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        r->arena = &snap->arena;
        r->vanished = false;
        bool has_before = false, has_after = false;
        uint64_t before = 0, after = 0;
        st = read_generation_at(r, topo_fd, &has_before, &before);
        if (st == ROCHP_OK)
            st = read_tree(r, topo_fd, snap);
        /* Its own error slot: a failure of the tree read must keep its message. */
        rochp__error gen_err = {0};
        r->err = &gen_err;
        rochp_status gst = read_generation_at(r, topo_fd, &has_after, &after);
        r->err = err;
        bool moved = gst == ROCHP_OK && (has_before != has_after || before != after);
        if (st == ROCHP_OK && gst != ROCHP_OK) {
            st = gst;
            if (err)
                *err = gen_err;
        }
        if (st == ROCHP_OK && !moved) {
            snap->has_generation = has_before;
            snap->generation = before;
            snap->read_attempts = attempt;
            snap->parts = parts;
            st = topo_snapshot_derive(snap, root, err);
            if (st == ROCHP_OK) {
                *out = snap;
                break;
            }
        }
        topo_snapshot_free(snap);
        if (st != ROCHP_OK && !moved && !(r->vanished && ++vanished_retries <= 3))
            break;
        st = rochp__fail(err, ROCHP_ERROR_BUSY,
                        "%s/topology: changed during each of %u reads (generation_id kept moving)",
                        root, attempt);
    }
    free(r);
    close(topo_fd);
    return st;
}

void topo_snapshot_free(topo_snapshot *snap)
{
    if (!snap)
        return;
    rochp__arena_free(&snap->arena);
    free(snap);
}

const topo_node *topo_snapshot_node(const topo_snapshot *snap, uint32_t index)
{
    /* Nodes are sorted by index; a binary search keeps lookups cheap on 64-node trees. */
    uint32_t lo = 0, hi = snap->n_nodes;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (snap->nodes[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < snap->n_nodes && snap->nodes[lo].index == index ? &snap->nodes[lo] : NULL;
}
