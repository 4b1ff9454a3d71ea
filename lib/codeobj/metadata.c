/* The AMDGPU metadata note's schema: the msgpack map decoded into
 * codeobj_metadata, every field checked against LLVM AMDGPUUsage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "codeobj/codeobj.h"
#include "codeobj/internal.h"
#include "common/arena.h"

/* --- the specification's spellings ------------------------------------------------ */

static const char *const value_kind_names[CODEOBJ_VK_COUNT_] = {
    [CODEOBJ_VK_BY_VALUE] = "by_value",
    [CODEOBJ_VK_GLOBAL_BUFFER] = "global_buffer",
    [CODEOBJ_VK_DYNAMIC_SHARED_POINTER] = "dynamic_shared_pointer",
    [CODEOBJ_VK_SAMPLER] = "sampler",
    [CODEOBJ_VK_IMAGE] = "image",
    [CODEOBJ_VK_PIPE] = "pipe",
    [CODEOBJ_VK_QUEUE] = "queue",
    [CODEOBJ_VK_HIDDEN_GLOBAL_OFFSET_X] = "hidden_global_offset_x",
    [CODEOBJ_VK_HIDDEN_GLOBAL_OFFSET_Y] = "hidden_global_offset_y",
    [CODEOBJ_VK_HIDDEN_GLOBAL_OFFSET_Z] = "hidden_global_offset_z",
    [CODEOBJ_VK_HIDDEN_NONE] = "hidden_none",
    [CODEOBJ_VK_HIDDEN_PRINTF_BUFFER] = "hidden_printf_buffer",
    [CODEOBJ_VK_HIDDEN_HOSTCALL_BUFFER] = "hidden_hostcall_buffer",
    [CODEOBJ_VK_HIDDEN_DEFAULT_QUEUE] = "hidden_default_queue",
    [CODEOBJ_VK_HIDDEN_COMPLETION_ACTION] = "hidden_completion_action",
    [CODEOBJ_VK_HIDDEN_MULTIGRID_SYNC_ARG] = "hidden_multigrid_sync_arg",
    [CODEOBJ_VK_HIDDEN_HEAP_V1] = "hidden_heap_v1",
    [CODEOBJ_VK_HIDDEN_BLOCK_COUNT_X] = "hidden_block_count_x",
    [CODEOBJ_VK_HIDDEN_BLOCK_COUNT_Y] = "hidden_block_count_y",
    [CODEOBJ_VK_HIDDEN_BLOCK_COUNT_Z] = "hidden_block_count_z",
    [CODEOBJ_VK_HIDDEN_GROUP_SIZE_X] = "hidden_group_size_x",
    [CODEOBJ_VK_HIDDEN_GROUP_SIZE_Y] = "hidden_group_size_y",
    [CODEOBJ_VK_HIDDEN_GROUP_SIZE_Z] = "hidden_group_size_z",
    [CODEOBJ_VK_HIDDEN_REMAINDER_X] = "hidden_remainder_x",
    [CODEOBJ_VK_HIDDEN_REMAINDER_Y] = "hidden_remainder_y",
    [CODEOBJ_VK_HIDDEN_REMAINDER_Z] = "hidden_remainder_z",
    [CODEOBJ_VK_HIDDEN_GRID_DIMS] = "hidden_grid_dims",
    [CODEOBJ_VK_HIDDEN_PRIVATE_BASE] = "hidden_private_base",
    [CODEOBJ_VK_HIDDEN_SHARED_BASE] = "hidden_shared_base",
    [CODEOBJ_VK_HIDDEN_QUEUE_PTR] = "hidden_queue_ptr",
    [CODEOBJ_VK_HIDDEN_DYNAMIC_LDS_SIZE] = "hidden_dynamic_lds_size",
};

static const char *const address_space_names[] = {
    [CODEOBJ_AS_PRIVATE] = "private", [CODEOBJ_AS_GLOBAL] = "global",
    [CODEOBJ_AS_CONSTANT] = "constant", [CODEOBJ_AS_LOCAL] = "local",
    [CODEOBJ_AS_GENERIC] = "generic", [CODEOBJ_AS_REGION] = "region",
};

static const char *const access_names[] = {
    [CODEOBJ_ACCESS_READ_ONLY] = "read_only",
    [CODEOBJ_ACCESS_WRITE_ONLY] = "write_only",
    [CODEOBJ_ACCESS_READ_WRITE] = "read_write",
};

const char *codeobj_value_kind_name(codeobj_value_kind kind)
{
    return (unsigned)kind < CODEOBJ_VK_COUNT_ ? value_kind_names[kind] : NULL;
}

const char *codeobj_address_space_name(codeobj_address_space as)
{
    return (unsigned)as < sizeof address_space_names / sizeof *address_space_names
               ? address_space_names[as]
               : NULL;
}

const char *codeobj_access_name(codeobj_access access)
{
    return (unsigned)access < sizeof access_names / sizeof *access_names ? access_names[access]
                                                                         : NULL;
}

codeobj_access codeobj_arg_effective_access(const codeobj_arg *arg)
{
    if (arg->actual_access != CODEOBJ_ACCESS_NONE)
        return arg->actual_access;
    if (arg->access != CODEOBJ_ACCESS_NONE)
        return arg->access;
    return arg->is_const ? CODEOBJ_ACCESS_READ_ONLY : CODEOBJ_ACCESS_READ_WRITE;
}

/* --- the schema ---------------------------------------------------------------------- */

/* Parsing state: the arena that ends up in the result and the error sink. */
typedef struct parse_ctx {
    rochp__arena *arena;
    char *err;
    size_t err_size;
    char where[160]; /* "amdhsa.kernels[1] (scale): .args[2]" */
} parse_ctx;

static bool str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

static const msgpack_object *map_get(const msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (str_is(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

static int get_u32(parse_ctx *c, const msgpack_object *map, const char *key, bool required,
                   uint32_t dflt, uint32_t *out)
{
    const msgpack_object *o = map_get(map, key);
    if (!o) {
        if (required)
            return codeobj_fail(c->err, c->err_size, "%s: %s is missing", c->where, key);
        *out = dflt;
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
        return codeobj_fail(c->err, c->err_size, "%s: %s is not an unsigned 32-bit integer",
                            c->where, key);
    *out = (uint32_t)o->via.u64;
    return 0;
}

static int get_bool(parse_ctx *c, const msgpack_object *map, const char *key, bool *out)
{
    const msgpack_object *o = map_get(map, key);
    *out = false;
    if (!o)
        return 0;
    if (o->type == MSGPACK_OBJECT_BOOLEAN)
        *out = o->via.boolean;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= 1)
        *out = o->via.u64 == 1;
    else
        return codeobj_fail(c->err, c->err_size, "%s: %s is not a boolean", c->where, key);
    return 0;
}

/* A copy of a string value in the arena, NULL when absent and optional. */
static int get_str(parse_ctx *c, const msgpack_object *map, const char *key, bool required,
                   const char **out)
{
    const msgpack_object *o = map_get(map, key);
    *out = NULL;
    if (!o) {
        if (required)
            return codeobj_fail(c->err, c->err_size, "%s: %s is missing", c->where, key);
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_STR)
        return codeobj_fail(c->err, c->err_size, "%s: %s is not a string", c->where, key);
    if (memchr(o->via.str.ptr, 0, o->via.str.size))
        return codeobj_fail(c->err, c->err_size, "%s: %s contains a NUL byte", c->where, key);
    char *s = rochp__arena_strndup(c->arena, o->via.str.ptr, o->via.str.size);
    if (!s)
        return codeobj_fail(c->err, c->err_size, "%s: out of memory", c->where);
    *out = s;
    return 0;
}

/* An enumerated string: index into names[0..n), 0 (the NONE value) when absent. */
static int get_enum(parse_ctx *c, const msgpack_object *map, const char *key,
                    const char *const *names, size_t n, unsigned *out)
{
    const char *s;
    *out = 0;
    if (get_str(c, map, key, false, &s) != 0)
        return -1;
    if (!s)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0) {
            *out = (unsigned)i;
            return 0;
        }
    return codeobj_fail(c->err, c->err_size, "%s: %s \"%s\" is not one the specification defines",
                        c->where, key, s);
}

static int parse_arg(parse_ctx *c, const msgpack_object *o, const codeobj_kernel *k,
                     codeobj_arg *a)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return codeobj_fail(c->err, c->err_size, "%s: not a map", c->where);
    unsigned as, acc, act;
    if (get_str(c, o, ".name", false, &a->name) || get_str(c, o, ".type_name", false, &a->type_name) ||
        get_str(c, o, ".value_kind", true, &a->value_kind_name) ||
        get_u32(c, o, ".offset", true, 0, &a->offset) || get_u32(c, o, ".size", true, 0, &a->size) ||
        get_u32(c, o, ".pointee_align", false, 0, &a->pointee_align) ||
        get_enum(c, o, ".address_space", address_space_names,
                 sizeof address_space_names / sizeof *address_space_names, &as) ||
        get_enum(c, o, ".access", access_names, sizeof access_names / sizeof *access_names, &acc) ||
        get_enum(c, o, ".actual_access", access_names, sizeof access_names / sizeof *access_names,
                 &act) ||
        get_bool(c, o, ".is_const", &a->is_const) || get_bool(c, o, ".is_restrict", &a->is_restrict) ||
        get_bool(c, o, ".is_volatile", &a->is_volatile) || get_bool(c, o, ".is_pipe", &a->is_pipe))
        return -1;
    a->address_space = (codeobj_address_space)as;
    a->access = (codeobj_access)acc;
    a->actual_access = (codeobj_access)act;
    a->value_kind = CODEOBJ_VK_UNKNOWN; /* kinds newer than this reader are kept, not fatal */
    for (unsigned i = 0; i < CODEOBJ_VK_COUNT_; i++)
        if (value_kind_names[i] && strcmp(value_kind_names[i], a->value_kind_name) == 0)
            a->value_kind = (codeobj_value_kind)i;
    if ((uint64_t)a->offset + a->size > k->kernarg_segment_size)
        return codeobj_fail(
            c->err, c->err_size, "%s: [%u, %llu) lies outside the kernarg segment of %u bytes",
            c->where, a->offset, (unsigned long long)a->offset + a->size, k->kernarg_segment_size);
    return 0;
}

static int parse_kernel(parse_ctx *c, const msgpack_object *o, uint32_t index, codeobj_kernel *k)
{
    snprintf(c->where, sizeof c->where, "amdhsa.kernels[%u]", index);
    if (o->type != MSGPACK_OBJECT_MAP)
        return codeobj_fail(c->err, c->err_size, "%s: not a map", c->where);
    if (get_str(c, o, ".name", true, &k->name) != 0)
        return -1;
    snprintf(c->where, sizeof c->where, "amdhsa.kernels[%u] (%.100s)", index, k->name);
    if (get_str(c, o, ".symbol", true, &k->symbol) ||
        get_u32(c, o, ".kernarg_segment_size", true, 0, &k->kernarg_segment_size) ||
        get_u32(c, o, ".kernarg_segment_align", true, 0, &k->kernarg_segment_align) ||
        get_u32(c, o, ".group_segment_fixed_size", true, 0, &k->group_segment_fixed_size) ||
        get_u32(c, o, ".private_segment_fixed_size", true, 0, &k->private_segment_fixed_size) ||
        get_u32(c, o, ".wavefront_size", false, 64, &k->wavefront_size) ||
        get_u32(c, o, ".sgpr_count", false, 0, &k->sgpr_count) ||
        get_u32(c, o, ".vgpr_count", false, 0, &k->vgpr_count) ||
        get_u32(c, o, ".max_flat_workgroup_size", false, 0, &k->max_flat_workgroup_size) ||
        get_bool(c, o, ".uses_dynamic_stack", &k->uses_dynamic_stack))
        return -1;
    if (!k->name[0] || !k->symbol[0])
        return codeobj_fail(c->err, c->err_size, "%s: empty .name or .symbol", c->where);
    if (k->kernarg_segment_align == 0 || (k->kernarg_segment_align & (k->kernarg_segment_align - 1)))
        return codeobj_fail(c->err, c->err_size,
                            "%s: .kernarg_segment_align %u is not a power of two", c->where,
                            k->kernarg_segment_align);
    if (k->wavefront_size != 32 && k->wavefront_size != 64)
        return codeobj_fail(c->err, c->err_size, "%s: .wavefront_size %u is neither 32 nor 64",
                            c->where, k->wavefront_size);
    const msgpack_object *args = map_get(o, ".args");
    if (!args)
        return 0;
    if (args->type != MSGPACK_OBJECT_ARRAY)
        return codeobj_fail(c->err, c->err_size, "%s: .args is not an array", c->where);
    k->n_args = args->via.array.size;
    k->args = rochp__arena_alloc(c->arena, (size_t)k->n_args * sizeof *k->args + 1);
    if (!k->args)
        return codeobj_fail(c->err, c->err_size, "%s: out of memory", c->where);
    size_t prefix = strlen(c->where);
    for (uint32_t i = 0; i < k->n_args; i++) {
        snprintf(c->where + prefix, sizeof c->where - prefix, ": .args[%u]", i);
        if (parse_arg(c, &args->via.array.ptr[i], k, &k->args[i]) != 0)
            return -1;
    }
    return 0;
}

static int parse_root(parse_ctx *c, const msgpack_object *root, codeobj_metadata *md)
{
    snprintf(c->where, sizeof c->where, "metadata");
    if (root->type != MSGPACK_OBJECT_MAP)
        return codeobj_fail(c->err, c->err_size, "metadata: not a msgpack map");
    const msgpack_object *ver = map_get(root, "amdhsa.version");
    if (!ver || ver->type != MSGPACK_OBJECT_ARRAY || ver->via.array.size < 2 ||
        ver->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        ver->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        ver->via.array.ptr[0].via.u64 > UINT32_MAX || ver->via.array.ptr[1].via.u64 > UINT32_MAX)
        return codeobj_fail(c->err, c->err_size,
                            "metadata: amdhsa.version is missing or not [major, minor]");
    md->version_major = (uint32_t)ver->via.array.ptr[0].via.u64;
    md->version_minor = (uint32_t)ver->via.array.ptr[1].via.u64;
    if (get_str(c, root, "amdhsa.target", false, &md->target) != 0)
        return -1;
    const msgpack_object *kernels = map_get(root, "amdhsa.kernels");
    if (!kernels || kernels->type != MSGPACK_OBJECT_ARRAY)
        return codeobj_fail(c->err, c->err_size,
                            "metadata: amdhsa.kernels is missing or not an array");
    md->n_kernels = kernels->via.array.size;
    md->kernels = rochp__arena_alloc(c->arena, (size_t)md->n_kernels * sizeof *md->kernels + 1);
    if (!md->kernels)
        return codeobj_fail(c->err, c->err_size, "metadata: out of memory");
    for (uint32_t i = 0; i < md->n_kernels; i++)
        if (parse_kernel(c, &kernels->via.array.ptr[i], i, &md->kernels[i]) != 0)
            return -1;
    return 0;
}

int codeobj_parse_metadata_msgpack(const void *data, size_t size, codeobj_metadata **out,
                                  char *err, size_t err_size)
{
    *out = NULL;
    if (!data || size == 0)
        return codeobj_fail(err, err_size, "metadata: empty note");
    if (size > CODEOBJ_MAX_NOTE_BYTES)
        return codeobj_fail(err, err_size, "metadata: note of %zu bytes is larger than %u", size,
                            CODEOBJ_MAX_NOTE_BYTES);
    if (codeobj_msgpack_precheck(data, size, err, err_size) != 0)
        return -1;

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, data, size, &off);
    if (r != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(&u);
        return codeobj_fail(err, err_size, "metadata: msgpack-c cannot decode it (%d)", (int)r);
    }
    rochp__arena *arena = calloc(1, sizeof *arena);
    codeobj_metadata *md = arena ? rochp__arena_alloc(arena, sizeof *md) : NULL;
    if (!md) {
        free(arena);
        msgpack_unpacked_destroy(&u);
        return codeobj_fail(err, err_size, "metadata: out of memory");
    }
    md->storage_ = arena;
    parse_ctx c = {.arena = arena, .err = err, .err_size = err_size};
    int rc = parse_root(&c, &u.data, md);
    msgpack_unpacked_destroy(&u);
    if (rc != 0) {
        codeobj_metadata_free(md);
        return -1;
    }
    *out = md;
    return 0;
}

int codeobj_parse_metadata(const void *image, size_t size, codeobj_metadata **out, char *err,
                          size_t err_size)
{
    *out = NULL;
    const void *desc = NULL;
    size_t desc_size = 0;
    int r = codeobj_find_metadata_note(image, size, &desc, &desc_size, err, err_size);
    if (r < 0)
        return -1;
    if (r == 0)
        return codeobj_fail(
            err, err_size,
            "no NT_AMDGPU_METADATA note (owner \"AMDGPU\"): not a code object v3 or later");
    return codeobj_parse_metadata_msgpack(desc, desc_size, out, err, err_size);
}

void codeobj_metadata_free(codeobj_metadata *md)
{
    if (!md)
        return;
    rochp__arena *arena = md->storage_;
    rochp__arena_free(arena); /* md itself lives in the arena */
    free(arena);
}

const codeobj_kernel *codeobj_find_kernel(const codeobj_metadata *md, const char *symbol)
{
    for (uint32_t i = 0; md && i < md->n_kernels; i++)
        if (strcmp(md->kernels[i].symbol, symbol) == 0)
            return &md->kernels[i];
    return NULL;
}
