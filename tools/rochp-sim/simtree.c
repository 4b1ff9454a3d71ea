#include "simtree.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

/* --- allocation: failures mark the tree and make later steps no-ops ------- */

static void *grow(vtree_tree *t, void *array, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return array;
    uint32_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(array, (size_t)ncap * elem);
    if (!p) {
        t->failed = true;
        return NULL;
    }
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *cap = ncap;
    return p;
}

static char *dup_str(vtree_tree *t, const char *s)
{
    char *p = s ? strdup(s) : NULL;
    if (s && !p)
        t->failed = true;
    return p;
}

/* --- properties ----------------------------------------------------------- */

void vtree_props_set(vtree_tree *t, vtree_props *p, const char *key, uint64_t value)
{
    for (uint32_t i = 0; i < p->n; i++) {
        if (strcmp(p->keys[i], key) == 0) {
            p->vals[i] = value;
            return;
        }
    }
    uint32_t cap = p->cap;
    char **keys = grow(t, p->keys, &cap, p->n + 1, sizeof *keys);
    if (!keys)
        return;
    p->keys = keys;
    cap = p->cap;
    uint64_t *vals = grow(t, p->vals, &cap, p->n + 1, sizeof *vals);
    if (!vals)
        return;
    p->vals = vals;
    p->cap = cap;
    p->keys[p->n] = dup_str(t, key);
    p->vals[p->n] = value;
    if (p->keys[p->n])
        p->n++;
}

bool vtree_props_get(const vtree_props *p, const char *key, uint64_t *value)
{
    for (uint32_t i = 0; i < p->n; i++) {
        if (strcmp(p->keys[i], key) == 0) {
            if (value)
                *value = p->vals[i];
            return true;
        }
    }
    return false;
}

uint64_t vtree_props_get_or(const vtree_props *p, const char *key, uint64_t fallback)
{
    uint64_t v;
    return vtree_props_get(p, key, &v) ? v : fallback;
}

void vtree_props_copy(vtree_tree *t, vtree_props *dst, const vtree_props *src)
{
    for (uint32_t i = 0; i < src->n; i++)
        vtree_props_set(t, dst, src->keys[i], src->vals[i]);
}

static void props_from_topo(vtree_tree *t, vtree_props *dst, const topo_props *src)
{
    for (uint32_t i = 0; i < src->count; i++)
        vtree_props_set(t, dst, src->keys[i], src->values[i]);
}

static void props_free(vtree_props *p)
{
    for (uint32_t i = 0; i < p->n; i++)
        free(p->keys[i]);
    free(p->keys);
    free(p->vals);
    memset(p, 0, sizeof *p);
}

/* --- nodes ----------------------------------------------------------------- */

vtree_node *vtree_tree_add_node(vtree_tree *t)
{
    vtree_node *nodes = grow(t, t->nodes, &t->cap, t->n + 1, sizeof *nodes);
    if (!nodes)
        return NULL;
    t->nodes = nodes;
    return &t->nodes[t->n++];
}

static vtree_props *add_props(vtree_tree *t, vtree_props **array, uint32_t *n)
{
    /* Exact-size growth: a node has at most a few hundred links. */
    vtree_props *p = realloc(*array, (*n + 1) * sizeof *p);
    if (!p) {
        t->failed = true;
        return NULL;
    }
    memset(&p[*n], 0, sizeof *p);
    *array = p;
    return &p[(*n)++];
}

vtree_props *vtree_node_add_io_link(vtree_tree *t, vtree_node *n)
{
    return add_props(t, &n->io, &n->n_io);
}

vtree_props *vtree_node_add_p2p_link(vtree_tree *t, vtree_node *n)
{
    return add_props(t, &n->p2p, &n->n_p2p);
}

vtree_node *vtree_tree_add_copy(vtree_tree *t, const vtree_node *src)
{
    vtree_node *n = vtree_tree_add_node(t);
    if (!n)
        return NULL;
    n->has_props = src->has_props;
    n->has_name = src->has_name;
    n->has_gpu_id = src->has_gpu_id;
    n->gpu_id = src->gpu_id;
    n->name = dup_str(t, src->name);
    n->caches_from = dup_str(t, src->caches_from);
    vtree_props_copy(t, &n->props, &src->props);
    if (src->n_banks) {
        n->banks = calloc(src->n_banks, sizeof *n->banks);
        if (!n->banks) {
            t->failed = true;
            return n;
        }
        n->n_banks = src->n_banks;
        for (uint32_t i = 0; i < src->n_banks; i++) {
            vtree_props_copy(t, &n->banks[i].props, &src->banks[i].props);
            n->banks[i].has_used = src->banks[i].has_used;
            n->banks[i].used = src->banks[i].used;
        }
    }
    for (uint32_t i = 0; i < src->n_io; i++) {
        vtree_props *l = vtree_node_add_io_link(t, n);
        if (l)
            vtree_props_copy(t, l, &src->io[i]);
    }
    for (uint32_t i = 0; i < src->n_p2p; i++) {
        vtree_props *l = vtree_node_add_p2p_link(t, n);
        if (l)
            vtree_props_copy(t, l, &src->p2p[i]);
    }
    for (uint32_t i = 0; i < src->n_caches; i++) {
        vtree_props *c = add_props(t, &n->caches, &n->n_caches);
        if (c)
            vtree_props_copy(t, c, &src->caches[i]);
    }
    return n;
}

void vtree_node_sync_counts(vtree_tree *t, vtree_node *n)
{
    if (!n->has_props)
        return;
    /* Only keys the node already prints: old kernels have no p2p_links_count. */
    if (vtree_props_get(&n->props, "io_links_count", NULL))
        vtree_props_set(t, &n->props, "io_links_count", n->n_io);
    if (vtree_props_get(&n->props, "p2p_links_count", NULL))
        vtree_props_set(t, &n->props, "p2p_links_count", n->n_p2p);
    if (!n->caches_from && vtree_props_get(&n->props, "caches_count", NULL))
        vtree_props_set(t, &n->props, "caches_count", n->n_caches);
    if (vtree_props_get(&n->props, "mem_banks_count", NULL))
        vtree_props_set(t, &n->props, "mem_banks_count", n->n_banks);
}

bool vtree_node_is_gpu(const vtree_node *n)
{
    return n->has_props && vtree_props_get_or(&n->props, "simd_count", 0) > 0;
}

uint64_t vtree_node_identity(const vtree_node *n)
{
    return (vtree_props_get_or(&n->props, "domain", 0) << 16) |
           vtree_props_get_or(&n->props, "location_id", 0);
}

static void node_free(vtree_node *n)
{
    props_free(&n->props);
    free(n->name);
    free(n->caches_from);
    for (uint32_t i = 0; i < n->n_banks; i++)
        props_free(&n->banks[i].props);
    free(n->banks);
    for (uint32_t i = 0; i < n->n_io; i++)
        props_free(&n->io[i]);
    free(n->io);
    for (uint32_t i = 0; i < n->n_p2p; i++)
        props_free(&n->p2p[i]);
    free(n->p2p);
    for (uint32_t i = 0; i < n->n_caches; i++)
        props_free(&n->caches[i]);
    free(n->caches);
    memset(n, 0, sizeof *n);
}

void vtree_tree_free(vtree_tree *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        node_free(&t->nodes[i]);
    free(t->nodes);
    props_free(&t->sysprops);
    memset(t, 0, sizeof *t);
}

/* --- load ------------------------------------------------------------------ */

rochp_status vtree_tree_load(const char *root, vtree_tree *t, rochp__error *err)
{
    memset(t, 0, sizeof *t);
    topo_snapshot *snap;
    rochp_status st = topo_snapshot_read(root, &snap, err);
    if (st != ROCHP_OK)
        return st;
    t->has_generation = snap->has_generation;
    t->generation = snap->generation;
    t->has_sysprops = snap->has_system_properties;
    props_from_topo(t, &t->sysprops, &snap->system_properties);
    for (uint32_t i = 0; i < snap->n_nodes; i++) {
        const topo_node *src = &snap->nodes[i];
        if (src->index != i) {
            st = rochp__fail(err, ROCHP_ERROR_NOT_SUPPORTED,
                            "%s/topology/nodes: node %u is missing; rochp-sim edits only trees "
                            "numbered 0..N-1 as the kernel writes them",
                            root, i);
            break;
        }
        vtree_node *n = vtree_tree_add_node(t);
        if (!n)
            break;
        n->has_props = src->has & TOPO_HAS_PROPERTIES;
        n->has_gpu_id = src->has & TOPO_HAS_GPU_ID;
        n->has_name = src->has & TOPO_HAS_NAME;
        n->gpu_id = src->gpu_id;
        n->name = dup_str(t, src->name);
        props_from_topo(t, &n->props, &src->props);
        if (src->n_mem_banks) {
            n->banks = calloc(src->n_mem_banks, sizeof *n->banks);
            if (!n->banks) {
                t->failed = true;
                break;
            }
            n->n_banks = src->n_mem_banks;
            for (uint32_t b = 0; b < src->n_mem_banks; b++) {
                props_from_topo(t, &n->banks[b].props, &src->mem_banks[b].props);
                n->banks[b].has_used = src->mem_banks[b].has_used_memory;
                n->banks[b].used = src->mem_banks[b].used_memory;
            }
        }
        for (uint32_t l = 0; l < src->n_io_links; l++) {
            vtree_props *p = vtree_node_add_io_link(t, n);
            if (p)
                props_from_topo(t, p, &src->io_links[l]);
        }
        for (uint32_t l = 0; l < src->n_p2p_links; l++) {
            vtree_props *p = vtree_node_add_p2p_link(t, n);
            if (p)
                props_from_topo(t, p, &src->p2p_links[l]);
        }
        if (src->n_caches) {
            char path[FS_PATH_MAX];
            fs_path(path, sizeof path, "%s/topology/nodes/%u/caches", root, i);
            n->caches_from = dup_str(t, path);
        }
    }
    topo_snapshot_free(snap);
    if (st == ROCHP_OK && t->failed)
        st = rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory loading %s", root);
    if (st != ROCHP_OK)
        vtree_tree_free(t);
    return st;
}

/* --- removal with KFD's link fix-up ---------------------------------------- */

static void fix_links(vtree_props **links, uint32_t *n, const uint32_t *new_index, uint32_t total)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < *n; i++) {
        vtree_props *l = &(*links)[i];
        uint64_t to = vtree_props_get_or(l, "node_to", UINT64_MAX);
        uint64_t from = vtree_props_get_or(l, "node_from", UINT64_MAX);
        /* A link to a node beyond the tree (malformed input) goes too. */
        bool gone = to != UINT64_MAX && (to >= total || new_index[to] == UINT32_MAX);
        if (gone) {
            props_free(l);
            continue;
        }
        for (uint32_t k = 0; k < l->n; k++) {
            if (strcmp(l->keys[k], "node_to") == 0 && to != UINT64_MAX)
                l->vals[k] = new_index[to];
            if (strcmp(l->keys[k], "node_from") == 0 && from < total &&
                new_index[from] != UINT32_MAX)
                l->vals[k] = new_index[from];
        }
        (*links)[kept++] = *l;
    }
    *n = kept;
}

void vtree_tree_remove_nodes(vtree_tree *t, const bool *remove)
{
    uint32_t *new_index = malloc((t->n ? t->n : 1) * sizeof *new_index);
    if (!new_index) {
        t->failed = true;
        return;
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < t->n; i++)
        new_index[i] = remove[i] ? UINT32_MAX : kept++;
    kept = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        if (remove[i]) {
            node_free(&t->nodes[i]);
            continue;
        }
        vtree_node *n = &t->nodes[i];
        fix_links(&n->io, &n->n_io, new_index, t->n);
        fix_links(&n->p2p, &n->n_p2p, new_index, t->n);
        vtree_node_sync_counts(t, n);
        t->nodes[kept++] = *n;
    }
    t->n = kept;
    free(new_index);
}

/* --- write ----------------------------------------------------------------- */

typedef struct text {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static void text_printf(text *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *s, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf ? s->buf + s->len : NULL, s->buf ? s->cap - s->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->failed = true;
            return;
        }
        if (s->buf && s->len + (size_t)n < s->cap) {
            s->len += (size_t)n;
            return;
        }
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        while (ncap <= s->len + (size_t)n)
            ncap *= 2;
        char *p = realloc(s->buf, ncap);
        if (!p) {
            s->failed = true;
            return;
        }
        s->buf = p;
        s->cap = ncap;
    }
}

static rochp_status write_props(int dirfd, const char *name, const vtree_props *p,
                                rochp__error *err)
{
    text s = {0};
    for (uint32_t i = 0; i < p->n; i++)
        text_printf(&s, "%s %" PRIu64 "\n", p->keys[i], p->vals[i]);
    rochp_status st = s.failed ? rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory")
                               : fs_write_file(dirfd, name, s.buf ? s.buf : "", s.len, err);
    free(s.buf);
    return st;
}

static rochp_status write_u64(int dirfd, const char *name, uint64_t v, rochp__error *err)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", v);
    return fs_write_file(dirfd, name, buf, (size_t)n, err);
}

static rochp_status write_entries(int node_fd, const char *sub, const vtree_props *entries,
                                  uint32_t n, const vtree_bank *banks, rochp__error *err)
{
    if (n == 0)
        return ROCHP_OK;
    rochp_status st = fs_mkdir(node_fd, sub, err);
    int fd = st == ROCHP_OK ? openat(node_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (st == ROCHP_OK && fd < 0)
        st = rochp__fail(err, ROCHP_ERROR_IO, "cannot open %s: %s", sub, strerror(errno));
    for (uint32_t i = 0; i < n && st == ROCHP_OK; i++) {
        char name[16];
        snprintf(name, sizeof name, "%u", i);
        st = fs_mkdir(fd, name, err);
        int efd = st == ROCHP_OK ? openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (st == ROCHP_OK && efd < 0)
            st = rochp__fail(err, ROCHP_ERROR_IO, "cannot open %s/%s: %s", sub, name,
                            strerror(errno));
        if (st == ROCHP_OK)
            st = write_props(efd, "properties", banks ? &banks[i].props : &entries[i], err);
        if (st == ROCHP_OK && banks && banks[i].has_used)
            st = write_u64(efd, "used_memory", banks[i].used, err);
        if (efd >= 0)
            close(efd);
    }
    if (fd >= 0)
        close(fd);
    return st;
}

static rochp_status write_node(const vtree_node *n, int nodes_fd, uint32_t index, rochp__error *err)
{
    char name[16];
    snprintf(name, sizeof name, "%u", index);
    rochp_status st = fs_mkdir(nodes_fd, name, err);
    if (st != ROCHP_OK)
        return st;
    int fd = openat(nodes_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot open node %u: %s", index, strerror(errno));
    if (n->has_props)
        st = write_props(fd, "properties", &n->props, err);
    if (st == ROCHP_OK && n->has_gpu_id)
        st = write_u64(fd, "gpu_id", n->gpu_id, err);
    if (st == ROCHP_OK && n->has_name) {
        char buf[300];
        int len = snprintf(buf, sizeof buf, "%s\n", n->name ? n->name : "");
        st = fs_write_file(fd, "name", buf, (size_t)len, err);
    }
    if (st == ROCHP_OK)
        st = write_entries(fd, "mem_banks", NULL, n->n_banks, n->banks, err);
    if (st == ROCHP_OK)
        st = write_entries(fd, "io_links", n->io, n->n_io, NULL, err);
    if (st == ROCHP_OK)
        st = write_entries(fd, "p2p_links", n->p2p, n->n_p2p, NULL, err);
    if (st == ROCHP_OK && n->caches_from)
        st = fs_copy_tree(AT_FDCWD, n->caches_from, fd, "caches", err);
    else if (st == ROCHP_OK)
        st = write_entries(fd, "caches", n->caches, n->n_caches, NULL, err);
    close(fd);
    return st;
}

rochp_status vtree_tree_write_nodes(const vtree_tree *t, int dirfd, const char *name,
                                    rochp__error *err)
{
    if (t->failed)
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory building the tree");
    if (mkdirat(dirfd, name, 0755) != 0)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot create %s: %s", name, strerror(errno));
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot open %s: %s", name, strerror(errno));
    rochp_status st = ROCHP_OK;
    for (uint32_t i = 0; i < t->n && st == ROCHP_OK; i++)
        st = write_node(&t->nodes[i], fd, i, err);
    close(fd);
    return st;
}

#define STAGE_NAME ".rochp-sim-stage"

rochp_status vtree_tree_stage(const vtree_tree *t, const char *root, rochp__error *err)
{
    char path[FS_PATH_MAX];
    if (!fs_path(path, sizeof path, "%s/topology", root))
        return rochp__fail(err, ROCHP_ERROR_TOO_LARGE, "path too long: %s", root);
    rochp_status st = fs_mkdir(AT_FDCWD, root, err);
    if (st == ROCHP_OK)
        st = fs_mkdir(AT_FDCWD, path, err);
    if (st != ROCHP_OK)
        return st;
    int topo = openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (topo < 0)
        return rochp__fail(err, ROCHP_ERROR_IO, "cannot open %s: %s", path, strerror(errno));
    /* The staging directory sits inside topology/ so that the swap is one
     * rename within one file system; its dot name keeps readers away. */
    st = fs_remove_tree(topo, STAGE_NAME, err);
    if (st == ROCHP_OK)
        st = vtree_tree_write_nodes(t, topo, STAGE_NAME, err);
    if (st == ROCHP_OK && t->has_sysprops && !fs_exists(topo, "system_properties")) {
        text s = {0};
        for (uint32_t i = 0; i < t->sysprops.n; i++)
            text_printf(&s, "%s %" PRIu64 "\n", t->sysprops.keys[i], t->sysprops.vals[i]);
        st = s.failed ? rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory")
                      : fs_write_file_atomic(topo, "system_properties", s.buf, s.len, err);
        free(s.buf);
    }
    close(topo);
    return st;
}

int vtree_tree_commit(const char *root, bool has_generation, uint64_t generation)
{
    char path[FS_PATH_MAX];
    if (!fs_path(path, sizeof path, "%s/topology", root))
        return -1;
    int topo = openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (topo < 0)
        return -1;
    int rc = 0;
    if (faccessat(topo, "nodes", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        rc = renameat2(topo, STAGE_NAME, topo, "nodes", RENAME_EXCHANGE);
    else
        rc = renameat(topo, STAGE_NAME, topo, "nodes");
    if (rc == 0 && has_generation) {
        /* generation_id via a temporary and rename; digits by hand, no stdio. */
        char buf[32], *p = buf + sizeof buf;
        *--p = '\n';
        uint64_t g = generation;
        do {
            *--p = (char)('0' + g % 10);
            g /= 10;
        } while (g);
        int fd = openat(topo, ".generation_id.commit", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, p, (size_t)(buf + sizeof buf - p)) != buf + sizeof buf - p)
            rc = -1;
        if (fd >= 0 && close(fd) != 0)
            rc = -1;
        if (rc == 0 && renameat(topo, ".generation_id.commit", topo, "generation_id") != 0)
            rc = -1;
    }
    close(topo);
    return rc;
}

rochp_status vtree_tree_publish(const vtree_tree *t, const char *root, rochp__error *err)
{
    rochp_status st = vtree_tree_stage(t, root, err);
    if (st != ROCHP_OK)
        return st;
    if (vtree_tree_commit(root, t->has_generation, t->generation) != 0)
        return rochp__fail(err, ROCHP_ERROR_IO, "%s/topology: cannot swap in the new tree: %s",
                           root, strerror(errno));
    /* The old nodes/ (now at the staging name) goes last: a reader still in it
     * sees entries vanish, and by then generation_id has moved, so it retries. */
    char path[FS_PATH_MAX];
    fs_path(path, sizeof path, "%s/topology/" STAGE_NAME, root);
    return fs_remove_tree(AT_FDCWD, path, err);
}
