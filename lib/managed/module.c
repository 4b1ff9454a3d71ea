/* Modules: a code object kept on the host with its metadata, loaded on an
 * agent the first time a kernel object is wanted there.  The metadata reader
 * is lib/codeobj's: one reader for host and real AMDGPU code objects, shared
 * with hsasim and fuzzed by tests/hsasim/code_objects.
 *
 * Per-agent executables live under ctx->managed->module_lock, which is held across a
 * load so that two threads asking for the same agent get one executable.
 * The dispatch path never comes here: a queue caches the kernel object. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codeobj/codeobj.h"
#include "managed/managed.h"

/* A real code object is a few MiB at most; this bounds a mistaken path. */
#define MODULE_MAX_FILE_BYTES ((size_t)1 << 30)

typedef struct module_agent {
    uint64_t agent;
    hsa_executable_t executable;
    hsa_code_object_reader_t reader;
} module_agent;

struct rochp_kernel {
    rochp_module *module;
    const codeobj_kernel *md;
};

struct rochp_module {
    rochp_context *ctx;
    uint64_t id; /* rochp_module_id */
    rochp_module *next;
    void *image;
    size_t size;
    codeobj_metadata *md;
    rochp_kernel *kernels;
    module_agent *agents; /* under ctx->managed->module_lock */
    size_t n_agents, cap_agents;
};

static void unregister(const rochp_module *m)
{
    for (uint32_t i = 0; i < m->md->n_kernels; i++)
        handle_remove(&m->kernels[i]);
    handle_remove(m);
}

static rochp_status register_handles(const rochp_module *m)
{
    rochp_status st = handle_add(m, HANDLE_MODULE);
    for (uint32_t i = 0; i < m->md->n_kernels && st == ROCHP_OK; i++)
        st = handle_add(&m->kernels[i], HANDLE_KERNEL);
    if (st != ROCHP_OK)
        unregister(m);
    return st;
}

rochp_status rochp_module_load(rochp_context *ctx, const void *image, size_t size,
                               rochp_module **out)
{
    rochp_status hst = handle_check(ctx, HANDLE_CONTEXT, "rochp_module_load");
    if (hst != ROCHP_OK)
        return hst;
    if (!image || !size || !out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_module_load: NULL image or out, or size 0");
    *out = NULL;
    char why[CODEOBJ_ERROR_MAX];
    codeobj_metadata *md = NULL;
    if (codeobj_parse_metadata(image, size, &md, why, sizeof why) != 0)
        return rochp__set_errorf(ROCHP_ERROR_MALFORMED, "rochp_module_load: %s", why);
    rochp_module *m = calloc(1, sizeof *m);
    void *copy = malloc(size);
    rochp_kernel *kernels = calloc(md->n_kernels ? md->n_kernels : 1, sizeof *kernels);
    if (!m || !copy || !kernels) {
        free(m);
        free(copy);
        free(kernels);
        codeobj_metadata_free(md);
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_module_load: out of memory");
    }
    memcpy(copy, image, size);
    m->ctx = ctx;
    m->image = copy;
    m->size = size;
    m->md = md;
    m->kernels = kernels;
    for (uint32_t i = 0; i < md->n_kernels; i++)
        kernels[i] = (rochp_kernel){.module = m, .md = &md->kernels[i]};
    hst = register_handles(m);
    if (hst != ROCHP_OK) {
        free(m);
        free(copy);
        free(kernels);
        codeobj_metadata_free(md);
        return hst;
    }
    pthread_mutex_lock(&ctx->managed->module_lock);
    m->id = managed_new_id(ctx);
    m->next = ctx->managed->modules;
    ctx->managed->modules = m;
    pthread_mutex_unlock(&ctx->managed->module_lock);
    *out = m;
    return ROCHP_OK;
}

rochp_status rochp_module_load_file(rochp_context *ctx, const char *path, rochp_module **out)
{
    rochp_status hst = handle_check(ctx, HANDLE_CONTEXT, "rochp_module_load_file");
    if (hst != ROCHP_OK)
        return hst;
    if (!path)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_module_load_file: NULL path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return rochp__set_errorf(errno == ENOENT ? ROCHP_ERROR_NOT_FOUND : ROCHP_ERROR_IO,
                                "rochp_module_load_file: %s: %s", path, strerror(errno));
    struct stat st;
    rochp_status status = ROCHP_OK;
    void *image = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        status = rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                  "rochp_module_load_file: %s is not a regular file", path);
    else if ((uint64_t)st.st_size > MODULE_MAX_FILE_BYTES || st.st_size == 0)
        status = rochp__set_errorf(st.st_size ? ROCHP_ERROR_TOO_LARGE : ROCHP_ERROR_MALFORMED,
                                  "rochp_module_load_file: %s has %lld bytes", path,
                                  (long long)st.st_size);
    else if (!(image = malloc((size_t)st.st_size)))
        status = rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_module_load_file: out of memory");
    else if (fread(image, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        status = rochp__set_errorf(ROCHP_ERROR_IO, "rochp_module_load_file: %s: short read", path);
    fclose(f);
    if (status == ROCHP_OK) {
        status = rochp_module_load(ctx, image, (size_t)st.st_size, out);
        if (status != ROCHP_OK) {
            char why[CODEOBJ_ERROR_MAX + 64];
            snprintf(why, sizeof why, "%s", rochp_last_error());
            rochp__set_errorf(status, "%s: %s", path, why);
        }
    }
    free(image);
    return status;
}

/* With ctx->managed->module_lock held. */
static void destroy_executables(rochp_module *m, bool runtime_up)
{
    ROCHP_ASSERT_HELD(&m->ctx->managed->module_lock);
    for (size_t i = 0; i < m->n_agents && runtime_up; i++) {
        m->ctx->hsa.executable_destroy(m->agents[i].executable);
        m->ctx->hsa.code_object_reader_destroy(m->agents[i].reader);
    }
    m->n_agents = 0;
}

static void module_destroy(rochp_module *m, bool runtime_up)
{
    unregister(m);
    destroy_executables(m, runtime_up);
    free(m->agents);
    free(m->kernels);
    codeobj_metadata_free(m->md);
    free(m->image);
    free(m);
}

/* With ctx->lock held: a queue whose journal since the last checkpoint
 * names one of m's kernels (a recovery would dispatch it again), or whose
 * unfinished packets may run one; NULL when none.  *why says which. */
static rochp_queue *user_of(rochp_context *ctx, const rochp_module *m, const char **why)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next) {
        struct rochp_queue_ring *r = &q->ring;
        uint64_t end = queue_next_index(q);
        if (r->journal) {
            for (uint64_t w = r->journal_start; w < end; w++) {
                const rochp_journal_entry *e = &r->journal[w & r->slot_mask];
                if (e->kind == ROCHP_JOURNAL_DISPATCH && e->kernel &&
                    e->kernel->module == m) {
                    *why = "its journal since the last checkpoint dispatches one of the "
                           "module's kernels, which a recovery would run again (checkpoint "
                           "first)";
                    return q;
                }
            }
        }
        if (rochp__completed(r) - r->id_offset < end && !ring_failed(r)) {
            for (binding *b = q->bindings; b; b = b->next)
                if (b->pub.kernel && b->pub.kernel->module == m) {
                    *why = "it has packets not yet completed that may run the module's "
                           "kernels (wait for them first)";
                    return q;
                }
        }
    }
    return NULL;
}

static rochp_status module_free_locked(rochp_module *m)
{
    ROCHP_ASSERT_GATE(m->ctx);
    rochp_context *ctx = m->ctx;
    pthread_mutex_lock(&ctx->managed->module_lock);
    pthread_mutex_lock(&ctx->lock);
    const char *why = NULL;
    rochp_queue *q = user_of(ctx, m, &why);
    uint64_t qid = q ? q->id : 0, qdev = q ? q->device : 0;
    pthread_mutex_unlock(&ctx->lock);
    if (q) {
        pthread_mutex_unlock(&ctx->managed->module_lock);
        return rochp__set_errorf(ROCHP_ERROR_BUSY,
                                "rochp_module_free: queue %llu (device %llu) still needs the "
                                "module: %s",
                                (unsigned long long)qid, (unsigned long long)qdev, why);
    }
    for (rochp_module **p = &ctx->managed->modules; *p; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            break;
        }
    }
    queues_forget_kernels(ctx, m);
    module_destroy(m, ctx->hsa_up);
    pthread_mutex_unlock(&ctx->managed->module_lock);
    return ROCHP_OK;
}

rochp_status rochp_module_free(rochp_module *m)
{
    rochp_status st = handle_check(m, HANDLE_MODULE, "rochp_module_free");
    if (st != ROCHP_OK)
        return st;
    rochp_context *ctx = m->ctx;
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->managed->checkpoint_lock); /* a checkpoint reads the journals' kernels */
    st = module_free_locked(m);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    return runtime_gate_leave(ctx, st);
}

uint64_t rochp_module_id(const rochp_module *m)
{
    return handle_live(m, HANDLE_MODULE) ? m->id : 0;
}

rochp_module *managed_module_next(rochp_context *ctx, rochp_module *after, const void **image,
                                  size_t *size, uint64_t *id)
{
    ROCHP_ASSERT_HELD(&ctx->managed->module_lock);
    rochp_module *m = after ? after->next : ctx->managed->modules;
    if (m) {
        *image = m->image;
        *size = m->size;
        *id = m->id;
    }
    return m;
}

uint32_t rochp_module_kernel_count(const rochp_module *m)
{
    return handle_live(m, HANDLE_MODULE) ? m->md->n_kernels : 0;
}

uint32_t managed_kernel_args_min(const rochp_kernel *kernel)
{
    uint32_t end = 0;
    for (uint32_t a = 0; a < kernel->md->n_args; a++) {
        const codeobj_arg *arg = &kernel->md->args[a];
        const char *kind = arg->value_kind_name ? arg->value_kind_name : "";
        if (strncmp(kind, "hidden_", 7) != 0 && arg->offset + arg->size > end)
            end = arg->offset + arg->size;
    }
    return end;
}

uint32_t managed_kernel_arg_count(const rochp_kernel *kernel)
{
    return kernel->md->n_args;
}

bool managed_kernel_pointer_arg(const rochp_kernel *kernel, uint32_t index, uint32_t *offset)
{
    const codeobj_arg *a = &kernel->md->args[index];
    *offset = a->offset;
    return a->value_kind == CODEOBJ_VK_GLOBAL_BUFFER && a->size == sizeof(uint64_t);
}

bool managed_kernel_writable_pointer_arg(const rochp_kernel *kernel, uint32_t index,
                                         uint32_t *offset)
{
    return managed_kernel_pointer_arg(kernel, index, offset) &&
           codeobj_arg_effective_access(&kernel->md->args[index]) != CODEOBJ_ACCESS_READ_ONLY;
}

const char *managed_kernel_name(const rochp_kernel *kernel)
{
    return kernel->md->name ? kernel->md->name : "?";
}

rochp_module *managed_kernel_module(const rochp_kernel *kernel)
{
    return kernel->module;
}

rochp_context *managed_kernel_context(const rochp_kernel *kernel)
{
    return kernel->module->ctx;
}

rochp_status rochp_module_kernel_at(rochp_module *m, uint32_t index, rochp_kernel **out)
{
    rochp_status st = handle_check(m, HANDLE_MODULE, "rochp_module_kernel_at");
    if (st != ROCHP_OK)
        return st;
    if (!out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_module_kernel_at: NULL module or out");
    if (index >= m->md->n_kernels)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_module_kernel_at: index %u, the module has %u kernels",
                                index, m->md->n_kernels);
    *out = &m->kernels[index];
    return ROCHP_OK;
}

rochp_status rochp_module_kernel(rochp_module *m, const char *name, rochp_kernel **out)
{
    rochp_status st = handle_check(m, HANDLE_MODULE, "rochp_module_kernel");
    if (st != ROCHP_OK)
        return st;
    if (!name || !out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_module_kernel: NULL module, name or out");
    for (uint32_t i = 0; i < m->md->n_kernels; i++) {
        const codeobj_kernel *k = m->kernels[i].md;
        if ((k->name && strcmp(k->name, name) == 0) || (k->symbol && strcmp(k->symbol, name) == 0)) {
            *out = &m->kernels[i];
            return ROCHP_OK;
        }
    }
    return rochp__set_errorf(ROCHP_ERROR_NOT_FOUND, "rochp_module_kernel: no kernel \"%s\" in the module",
                            name);
}

rochp_status rochp_kernel_get_info(const rochp_kernel *kernel, rochp_kernel_info *out)
{
    rochp_status st = handle_check(kernel, HANDLE_KERNEL, "rochp_kernel_get_info");
    if (st != ROCHP_OK)
        return st;
    if (!out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_kernel_get_info: NULL argument");
    const codeobj_kernel *k = kernel->md;
    *out = (rochp_kernel_info){.name = k->name,
                               .symbol = k->symbol,
                               .kernarg_size = k->kernarg_segment_size,
                               .kernarg_align = k->kernarg_segment_align,
                               .group_segment_size = k->group_segment_fixed_size,
                               .private_segment_size = k->private_segment_fixed_size,
                               .n_args = k->n_args};
    return ROCHP_OK;
}

rochp_status rochp_kernel_get_arg(const rochp_kernel *kernel, uint32_t index, rochp_kernel_arg *out)
{
    rochp_status st = handle_check(kernel, HANDLE_KERNEL, "rochp_kernel_get_arg");
    if (st != ROCHP_OK)
        return st;
    if (!out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_kernel_get_arg: NULL argument");
    const codeobj_kernel *k = kernel->md;
    if (index >= k->n_args)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_kernel_get_arg: index %u, kernel %s has %u arguments", index,
                                k->name ? k->name : "?", k->n_args);
    const codeobj_arg *a = &k->args[index];
    const char *kind = a->value_kind_name ? a->value_kind_name : "";
    *out = (rochp_kernel_arg){
        .name = a->name,
        .value_kind = kind,
        .address_space =
            a->address_space == CODEOBJ_AS_NONE ? NULL : codeobj_address_space_name(a->address_space),
        .offset = a->offset,
        .size = a->size,
        .hidden = strncmp(kind, "hidden_", 7) == 0,
        .access = a->value_kind == CODEOBJ_VK_GLOBAL_BUFFER
                      ? (rochp_access)codeobj_arg_effective_access(a)
                      : ROCHP_ACCESS_NONE};
    return ROCHP_OK;
}

/* With ctx->managed->module_lock held: the module's executable on agent, loaded now
 * if it is not yet. */
static rochp_status executable_on(rochp_module *m, uint64_t agent, hsa_executable_t *out)
{
    ROCHP_ASSERT_HELD(&m->ctx->managed->module_lock);
    for (size_t i = 0; i < m->n_agents; i++) {
        if (m->agents[i].agent == agent) {
            *out = m->agents[i].executable;
            return ROCHP_OK;
        }
    }
    if (m->n_agents == m->cap_agents) {
        size_t cap = m->cap_agents ? m->cap_agents * 2 : 4;
        module_agent *grown = realloc(m->agents, cap * sizeof *grown);
        if (!grown)
            return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_kernel_object: out of memory");
        m->agents = grown;
        m->cap_agents = cap;
    }
    const rochp__hsa *hsa = &m->ctx->hsa;
    module_agent a = {.agent = agent};
    hsa_status_t hs = hsa->code_object_reader_create_from_memory(m->image, m->size, &a.reader);
    if (hs != HSA_STATUS_SUCCESS)
        return rochp__set_errorf(ROCHP_ERROR_MALFORMED, "the runtime refuses the code object: %s",
                                rochp__hsa_status_text(hsa, hs));
    hs = hsa->executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT, NULL,
                                    &a.executable);
    const char *step = "create an executable";
    if (hs == HSA_STATUS_SUCCESS) {
        step = "load the code object";
        hs = hsa->executable_load_agent_code_object(a.executable, (hsa_agent_t){agent}, a.reader,
                                                    NULL, NULL);
        if (hs == HSA_STATUS_SUCCESS) {
            step = "freeze the executable";
            hs = hsa->executable_freeze(a.executable, NULL);
        }
        if (hs != HSA_STATUS_SUCCESS)
            hsa->executable_destroy(a.executable);
    }
    if (hs != HSA_STATUS_SUCCESS) {
        hsa->code_object_reader_destroy(a.reader);
        char isa[64] = "?";
        hsa->agent_get_info((hsa_agent_t){agent}, HSA_AGENT_INFO_NAME, isa);
        isa[sizeof isa - 1] = '\0';
        return rochp__set_errorf(
            /* ROCR's loader: INCOMPATIBLE_ARGUMENTS when the agent does not
             * support the object's ISA, INVALID_ISA_NAME when it knows no such ISA. */
            hs == HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS || hs == HSA_STATUS_ERROR_INVALID_ISA_NAME
                ? ROCHP_ERROR_NOT_SUPPORTED
                : ROCHP_ERROR_IO,
            "cannot %s on a %s agent (the code object is for %s): %s", step, isa,
            m->md->target ? m->md->target : "any target", rochp__hsa_status_text(hsa, hs));
    }
    m->agents[m->n_agents++] = a;
    *out = a.executable;
    return ROCHP_OK;
}

rochp_status managed_kernel_object(rochp_kernel *kernel, rochp_device_id device, uint64_t *out)
{
    if (!kernel || !out || device == ROCHP_HOST)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_kernel_object: NULL kernel or out, or the host as device");
    rochp_module *m = kernel->module;
    rochp_context *ctx = m->ctx;
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_kernel_object: the context has no HSA runtime");
    uint64_t agent;
    rochp_status st = managed_device_agent(ctx, device, &agent);
    if (st != ROCHP_OK)
        return st;
    pthread_mutex_lock(&ctx->managed->module_lock);
    hsa_executable_t exe;
    st = executable_on(m, agent, &exe);
    if (st == ROCHP_OK) {
        hsa_executable_symbol_t sym;
        hsa_agent_t a = {agent};
        if (ctx->hsa.executable_get_symbol_by_name(exe, kernel->md->symbol, &a, &sym) !=
                HSA_STATUS_SUCCESS ||
            ctx->hsa.executable_symbol_get_info(sym, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT, out) !=
                HSA_STATUS_SUCCESS)
            st = rochp__set_errorf(ROCHP_ERROR_NOT_FOUND,
                                  "rochp_kernel_object: the loaded code object has no symbol %s",
                                  kernel->md->symbol);
    }
    pthread_mutex_unlock(&ctx->managed->module_lock);
    return st;
}

rochp_status rochp_kernel_object(rochp_kernel *kernel, rochp_device_id device, uint64_t *out)
{
    rochp_status st = handle_check(kernel, HANDLE_KERNEL, "rochp_kernel_object");
    if (st != ROCHP_OK)
        return st;
    rochp_context *ctx = kernel->module->ctx;
    runtime_gate_enter(ctx);
    return runtime_gate_leave(ctx, managed_kernel_object(kernel, device, out));
}

void modules_invalidate(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->managed->module_lock);
    for (rochp_module *m = ctx->managed->modules; m; m = m->next)
        destroy_executables(m, false);
    pthread_mutex_unlock(&ctx->managed->module_lock);
}

void modules_free_all(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->managed->module_lock);
    while (ctx->managed->modules) {
        rochp_module *m = ctx->managed->modules;
        ctx->managed->modules = m->next;
        module_destroy(m, ctx->hsa_up);
    }
    pthread_mutex_unlock(&ctx->managed->module_lock);
}
