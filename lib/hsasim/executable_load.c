/* hsasim loading: hsa_executable_load_*_code_object (loader.h has the rules).
 *
 * The bytes go to a memfd, dlopen'ed through /proc/self/fd/N with
 * RTLD_NOW | RTLD_LOCAL, so each load is a separate copy (as each agent gets
 * its own copy of a GPU code object).  The memfd stays open while the object
 * is loaded: glibc matches dlopen paths against loaded objects by name first,
 * and an open descriptor keeps the number, so the name, unique. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blit_bind.h"
#include "codeobj/codeobj.h"
#include "hsasim/kernel.h"
#include "loader.h"

#if defined(__x86_64__)
#define SIM_HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define SIM_HOST_MACHINE EM_AARCH64
#elif defined(__powerpc64__)
#define SIM_HOST_MACHINE EM_PPC64
#elif defined(__riscv) && __riscv_xlen == 64
#define SIM_HOST_MACHINE EM_RISCV
#else
#error "hsasim: unknown host machine"
#endif

#ifndef EM_AMDGPU
#define EM_AMDGPU 224
#endif

/* ROCR's loader options: -help -dump-code -dump-isa -dump-exec -dump-all
 * -dump-dir=D -substitute=...; anything else fails the load with
 * HSA_STATUS_ERROR.  They are accepted and have no effect here. */
static bool loader_options_ok(const char *options)
{
    static const char *const known[] = {"help", "dump-code", "dump-isa", "dump-exec",
                                        "dump-all", "dump-dir", "substitute"};
    if (!options)
        return true;
    const char *p = options;
    bool expect_value = false;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        size_t len = (size_t)(p - tok);
        if (tok[0] != '-') {
            if (!expect_value)
                return false;
            expect_value = false;
            continue;
        }
        tok++;
        len--;
        size_t name_len = len;
        const char *eq = memchr(tok, '=', len);
        if (eq)
            name_len = (size_t)(eq - tok);
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (strlen(known[i]) == name_len && memcmp(known[i], tok, name_len) == 0)
                found = true;
        if (!found)
            return false;
        expect_value = !eq && (name_len == 8 && memcmp(tok, "dump-dir", 8) == 0);
    }
    return true;
}

/* The agent's ISA name, e.g. amdgcn-amd-amdhsa--gfx942:sramecc+:xnack-. */
static bool agent_isa_name(hsa_agent_t agent, char *out, size_t size)
{
    hsa_isa_t isa;
    uint32_t len = 0;
    if (hsa_agent_get_info(agent, HSA_AGENT_INFO_ISA, &isa) != HSA_STATUS_SUCCESS ||
        hsa_isa_get_info_alt(isa, HSA_ISA_INFO_NAME_LENGTH, &len) != HSA_STATUS_SUCCESS ||
        len == 0 || len >= size)
        return false;
    memset(out, 0, size);
    return hsa_isa_get_info_alt(isa, HSA_ISA_INFO_NAME, out) == HSA_STATUS_SUCCESS;
}

/* ROCR's Isa::IsCompatible: same processor; a target feature the code object
 * names (sramecc, xnack) must be the agent's setting; one it leaves out
 * ("any") matches either. */
bool sim_target_compatible(const char *code, const char *agent)
{
    const char *c = strstr(code, "--"), *a = strstr(agent, "--");
    if (!c || !a)
        return false;
    c += 2;
    a += 2;
    size_t cp = strcspn(c, ":"), ap = strcspn(a, ":");
    if (cp != ap || memcmp(c, a, cp) != 0)
        return false;
    const char *features = a + ap;
    for (const char *f = c + cp; *f == ':';) {
        size_t n = strcspn(f + 1, ":") + 1; /* ":xnack+" */
        if (n < 3)
            return false;
        bool match = false;
        for (const char *g = features; *g == ':';) {
            size_t m = strcspn(g + 1, ":") + 1;
            if (m == n && memcmp(f, g, n) == 0)
                match = true;
            g += m;
        }
        if (!match)
            return false;
        f += n;
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

typedef struct load_ctx {
    const char *uri; /* for messages */
    sim_loaded *loaded;
    const char *lm_name; /* the object's name in the link map */
    hsa_agent_t agent;
    sim_symbol **syms;
    size_t n_syms, cap_syms;
} load_ctx;

static bool add_symbol(load_ctx *c, sim_symbol *s)
{
    if (c->n_syms == c->cap_syms) {
        size_t cap = c->cap_syms ? 2 * c->cap_syms : 16;
        sim_symbol **grown = realloc(c->syms, cap * sizeof *grown);
        if (!grown)
            return false;
        c->syms = grown;
        c->cap_syms = cap;
    }
    c->syms[c->n_syms++] = s;
    return true;
}

/* Whether addr is inside the object being loaded; *sym gets its symbol entry. */
static bool in_object(const load_ctx *c, const void *addr, const ElfW(Sym) **sym)
{
    Dl_info info;
    const ElfW(Sym) *es = NULL;
    if (!dladdr1(addr, &info, (void **)&es, RTLD_DL_SYMENT) || !info.dli_fname ||
        strcmp(info.dli_fname, c->lm_name) != 0)
        return false;
    if (sym)
        *sym = es;
    return true;
}

/* A kernel symbol from the descriptor "name.kd" (md: its metadata, or NULL). */
static hsa_status_t kernel_symbol(load_ctx *c, const char *symbol, const codeobj_kernel *md)
{
    void *addr = dlsym(c->loaded->dl, symbol);
    const ElfW(Sym) *es = NULL;
    if (!addr || !in_object(c, addr, &es) || !es) {
        sim_loader_log("%s: kernel symbol %s is not defined by the code object", c->uri, symbol);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    const hsasim_kernel_object *kd = addr;
    if (es->st_size < sizeof *kd || kd->magic != HSASIM_KERNEL_MAGIC || !kd->fn ||
        !in_object(c, (const void *)(uintptr_t)kd->fn, NULL)) {
        sim_loader_log("%s: %s is not an hsasim kernel descriptor (HSASIM_KERNEL)", c->uri, symbol);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    if (md && (md->kernarg_segment_size != kd->kernarg_size ||
               md->kernarg_segment_align != kd->kernarg_align ||
               md->group_segment_fixed_size != kd->group_segment_size ||
               md->private_segment_fixed_size != kd->private_segment_size ||
               !kd->name || strcmp(md->name, kd->name) != 0)) {
        sim_loader_log(
            "%s: kernel %s: the metadata note (kernarg %u/%u, group %u, private %u) and the "
            "descriptor (kernarg %u/%u, group %u, private %u) disagree",
            c->uri, md->name, md->kernarg_segment_size, md->kernarg_segment_align,
            md->group_segment_fixed_size, md->private_segment_fixed_size, kd->kernarg_size,
            kd->kernarg_align, kd->group_segment_size, kd->private_segment_size);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    sim_symbol *s = calloc(1, sizeof *s);
    char *name = strdup(symbol);
    if (!s || !name || !add_symbol(c, s)) {
        free(s);
        free(name);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    s->name = name;
    s->kind = HSA_SYMBOL_KIND_KERNEL;
    s->linkage = ELF64_ST_BIND(es->st_info) == STB_GLOBAL ? HSA_SYMBOL_LINKAGE_PROGRAM
                                                           : HSA_SYMBOL_LINKAGE_MODULE;
    s->is_agent = true;
    s->agent = c->agent;
    s->address = (uint64_t)(uintptr_t)kd;
    s->kernarg_size = kd->kernarg_size;
    s->kernarg_align = 16;
    s->group_size = kd->group_segment_size;
    s->private_size = kd->private_segment_size;
    s->wavefront_size = md ? md->wavefront_size : 64;
    s->dynamic_callstack = md ? md->uses_dynamic_stack : false;
    s->object_size = (uint32_t)es->st_size;
    s->object_align = 64;
    /* The pointers the processor checks at dispatch: every global_buffer
     * argument the note declares (a kernel without metadata has none). */
    for (uint32_t i = 0; md && i < md->n_args; i++)
        s->n_ptr_args += md->args[i].value_kind == CODEOBJ_VK_GLOBAL_BUFFER;
    if (s->n_ptr_args && !(s->ptr_args = malloc(s->n_ptr_args * sizeof *s->ptr_args)))
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES; /* s is freed with c->syms */
    for (uint32_t i = 0, k = 0; md && i < md->n_args; i++)
        if (md->args[i].value_kind == CODEOBJ_VK_GLOBAL_BUFFER)
            s->ptr_args[k++] = md->args[i].offset;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t variable_symbol(load_ctx *c, const codeobj_symbol *ds)
{
    void *addr = dlsym(c->loaded->dl, ds->name);
    if (!addr || !in_object(c, addr, NULL))
        return HSA_STATUS_SUCCESS; /* not really ours: leave it out */
    sim_symbol *s = calloc(1, sizeof *s);
    char *name = strdup(ds->name);
    if (!s || !name || !add_symbol(c, s)) {
        free(s);
        free(name);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    s->name = name;
    s->kind = HSA_SYMBOL_KIND_VARIABLE;
    s->linkage = ds->bind == STB_GLOBAL ? HSA_SYMBOL_LINKAGE_PROGRAM : HSA_SYMBOL_LINKAGE_MODULE;
    s->is_agent = true;
    s->agent = c->agent;
    s->address = (uint64_t)(uintptr_t)addr;
    s->allocation = HSA_VARIABLE_ALLOCATION_PROGRAM; /* no SHF_AMDGPU_HSA_AGENT on a host ELF */
    s->segment = HSA_VARIABLE_SEGMENT_GLOBAL;
    s->var_size = ds->size > UINT32_MAX ? UINT32_MAX : (uint32_t)ds->size;
    s->var_align = ds->section_align > UINT32_MAX ? 0 : (uint32_t)ds->section_align;
    s->var_const = (ds->section_flags & SHF_WRITE) != 0; /* sic: ROCR's Symbol::IsConst */
    return HSA_STATUS_SUCCESS;
}

typedef struct segments_of {
    const char *name; /* the object's name in the link map */
    sim_loaded *loaded;
    bool failed;
} segments_of;

static int collect_segments(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    segments_of *w = data;
    if (!info->dlpi_name || strcmp(info->dlpi_name, w->name) != 0)
        return 0;
    size_t n = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
        n += info->dlpi_phdr[i].p_type == PT_LOAD && info->dlpi_phdr[i].p_memsz;
    w->loaded->segments = n ? calloc(n, sizeof *w->loaded->segments) : NULL;
    if (n && !w->loaded->segments) {
        w->failed = true;
        return 1;
    }
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !ph->p_memsz)
            continue;
        uintptr_t lo = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
        w->loaded->segments[w->loaded->n_segments++] = (sim_range){lo, lo + (uintptr_t)ph->p_memsz};
    }
    return 1;
}

static hsa_status_t write_memfd(const uint8_t *data, size_t size, int *out)
{
    int fd = memfd_create("hsasim-code-object", MFD_CLOEXEC);
    if (fd < 0)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        }
        done += (size_t)n;
    }
    *out = fd;
    return HSA_STATUS_SUCCESS;
}

/* Everything that does not need the lock: checks, dlopen, symbols. */
static hsa_status_t load_image(const uint8_t *data, size_t size, hsa_agent_t agent, load_ctx *c)
{
    char err[CODEOBJ_ERROR_MAX];
    codeobj_elf elf;
    if (codeobj_read_elf(data, size, &elf, err, sizeof err) != 0) {
        sim_loader_log("%s: %s", c->uri, err);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    if (elf.e_machine == EM_AMDGPU) {
        /* A wrapper (what HIP takes for a GPU code object) loads the host
         * code object it carries, recognised by its marker alone. */
        int w = sim_unwrap_host_object(data, size, c->uri, SIM_HOST_MACHINE, &data, &size);
        if (w < 0)
            return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        if (w == 0) {
            /* ROCclr's blit program runs as hsasim's host kernels (blit_bind.c). */
            char isa[128] = "";
            const uint8_t *host = NULL;
            size_t host_size = 0;
            (void)agent_isa_name(agent, isa, sizeof isa);
            hsa_status_t bound = sim_blit_bind(data, size, isa, c->uri, &host, &host_size);
            if (bound != HSA_STATUS_INFO_BREAK)
                return bound == HSA_STATUS_SUCCESS ? load_image(host, host_size, agent, c) : bound;
            /* Any other EM_AMDGPU file is GPU ISA. */
            static _Atomic int told;
            if (!atomic_exchange(&told, 1) || getenv("ROCHP_LOG"))
                fprintf(stderr, "hsasim: %s is an AMDGPU ISA code object (e_machine EM_AMDGPU): "
                                "the simulated runtime runs host code objects only (built with "
                                "rochp_add_host_code_object, or wrapped for HIP by "
                                "rochp_add_hip_host_code_object)\n", c->uri);
            return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        }
        if (codeobj_read_elf(data, size, &elf, err, sizeof err) != 0) {
            sim_loader_log("%s: the wrapped host code object: %s", c->uri, err);
            return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        }
    }
    if (elf.e_machine != SIM_HOST_MACHINE || elf.e_type != ET_DYN) {
        sim_loader_log(
            "%s: not a host code object (ELF machine %u, type %u; expected a shared object "
            "for machine %u)",
            c->uri, elf.e_machine, elf.e_type, SIM_HOST_MACHINE);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    codeobj_metadata *md = NULL;
    if (codeobj_parse_metadata(data, size, &md, err, sizeof err) != 0) {
        sim_loader_log("%s: %s", c->uri, err);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    hsa_status_t st = HSA_STATUS_SUCCESS;
    codeobj_symbol *dsyms = NULL;
    size_t n_dsyms = 0;
    int fd = -1;
    /* amdhsa.version [1, 0..3] is code object v3..v6. */
    if (md->version_major != 1 || md->version_minor > 3) {
        sim_loader_log("%s: unsupported code object version (amdhsa.version [%u, %u])", c->uri,
                       md->version_major, md->version_minor);
        st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        goto out;
    }
    if (md->target && strncmp(md->target, "amdgcn-amd-amdhsa--", 19) != 0) {
        sim_loader_log("%s: code object's ISA (%s) is invalid", c->uri, md->target);
        st = HSA_STATUS_ERROR_INVALID_ISA_NAME;
        goto out;
    }
    if (agent.handle == 0) {
        /* hsa_executable_load_program_code_object: see loader.h. */
        sim_loader_log("%s: a v3+ code object has no program segments: load it for an agent",
                       c->uri);
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        goto out;
    }
    sim_agent *a = sim_agent_get(agent);
    if (!a) {
        st = HSA_STATUS_ERROR_INVALID_AGENT;
        goto out;
    }
    if (a->type != HSA_DEVICE_TYPE_GPU) {
        sim_loader_log("%s: code object's ISA is not supported by the agent (a CPU agent has none)",
                       c->uri);
        st = HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS;
        goto out;
    }
    if (md->target) {
        char isa[128];
        if (!agent_isa_name(agent, isa, sizeof isa) || !sim_target_compatible(md->target, isa)) {
            sim_loader_log("%s: code object's ISA (%s) is not supported by the agent", c->uri,
                           md->target);
            st = HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS;
            goto out;
        }
    }
    if (codeobj_dynamic_symbols(data, size, &dsyms, &n_dsyms, err, sizeof err) != 0) {
        sim_loader_log("%s: %s", c->uri, err);
        st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        goto out;
    }

    st = write_memfd(data, size, &fd);
    if (st != HSA_STATUS_SUCCESS)
        goto out;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    c->loaded = calloc(1, sizeof *c->loaded);
    if (!c->loaded) {
        close(fd);
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        goto out;
    }
    c->loaded->fd = fd;
    c->loaded->agent = agent;
    c->loaded->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!c->loaded->dl) {
        sim_loader_log("%s: dlopen: %s", c->uri, dlerror());
        st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        goto out;
    }
    struct link_map *lm = NULL;
    if (dlinfo(c->loaded->dl, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_name ||
        strcmp(lm->l_name, path) != 0) {
        sim_loader_log("%s: dlopen returned another object than %s", c->uri, path);
        st = HSA_STATUS_ERROR;
        goto out;
    }
    c->lm_name = lm->l_name;
    c->agent = agent;
    /* Where the copy lies: the memory the agent's page tables map for it. */
    segments_of w = {lm->l_name, c->loaded, false};
    dl_iterate_phdr(collect_segments, &w);
    if (w.failed) {
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        goto out;
    }

    for (uint32_t i = 0; i < md->n_kernels && st == HSA_STATUS_SUCCESS; i++)
        st = kernel_symbol(c, md->kernels[i].symbol, &md->kernels[i]);
    for (size_t i = 0; i < n_dsyms && st == HSA_STATUS_SUCCESS; i++) {
        const codeobj_symbol *ds = &dsyms[i];
        if (!ds->defined || ds->type != STT_OBJECT ||
            (ds->bind != STB_GLOBAL && ds->bind != STB_WEAK) ||
            (ds->visibility != STV_DEFAULT && ds->visibility != STV_PROTECTED) ||
            strncmp(ds->name, "__", 2) == 0 || !ds->name[0])
            continue; /* __ names belong to the toolchain (sanitizers, libc) */
        if (codeobj_find_kernel(md, ds->name))
            continue; /* done above */
        if (ends_with(ds->name, ".kd")) {
            st = kernel_symbol(c, ds->name, NULL);
        } else {
            st = variable_symbol(c, ds);
        }
    }
    /* One object exports each name once; the note could list a kernel twice. */
    if (st == HSA_STATUS_SUCCESS && c->n_syms) {
        qsort(c->syms, c->n_syms, sizeof *c->syms, sim_symbol_cmp);
        for (size_t i = 1; i < c->n_syms && st == HSA_STATUS_SUCCESS; i++)
            if (strcmp(c->syms[i - 1]->name, c->syms[i]->name) == 0) {
                sim_loader_log("%s: symbol %s is defined twice", c->uri, c->syms[i]->name);
                st = HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED;
            }
    }
out:
    free(dsyms);
    codeobj_metadata_free(md);
    return st;
}

static hsa_status_t load_code_object(hsa_executable_t executable, hsa_agent_t agent,
                                     hsa_code_object_reader_t reader, const char *options,
                                     hsa_loaded_code_object_t *loaded_code_object)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    /* A private copy: the reader may be destroyed while this runs. */
    uint8_t *copy = NULL;
    size_t size = 0;
    char uri[sizeof ((sim_reader *)0)->uri] = "";
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&sim_loader_lock);
    sim_executable *ex = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE);
    sim_reader *r = ex ? sim_live_get(reader.handle, SIM_OBJ_READER) : NULL;
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    else if (!r)
        st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER;
    else if (ex->state == HSA_EXECUTABLE_STATE_FROZEN)
        st = HSA_STATUS_ERROR_FROZEN_EXECUTABLE;
    else if (!(copy = malloc(r->size)))
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    else {
        memcpy(copy, r->data, r->size);
        size = r->size;
        memcpy(uri, r->uri, sizeof uri);
    }
    pthread_rwlock_unlock(&sim_loader_lock);
    if (st != HSA_STATUS_SUCCESS)
        return st;
    if (!loader_options_ok(options)) {
        free(copy);
        return HSA_STATUS_ERROR;
    }

    load_ctx c = {.uri = uri};
    st = load_image(copy, size, agent, &c);
    free(copy);

    if (st == HSA_STATUS_SUCCESS) {
        pthread_rwlock_wrlock(&sim_loader_lock);
        ex = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE);
        if (!ex) {
            st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
        } else if (ex->state == HSA_EXECUTABLE_STATE_FROZEN) {
            st = HSA_STATUS_ERROR_FROZEN_EXECUTABLE;
        } else {
            for (size_t i = 0; i < c.n_syms && st == HSA_STATUS_SUCCESS; i++)
                if (sim_symbol_find(ex, c.syms[i]->name, &agent)) {
                    sim_loader_log("%s: symbol %s is already defined for this agent", uri,
                                   c.syms[i]->name);
                    st = HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED;
                }
            sim_symbol **syms = NULL;
            sim_loaded **loaded = NULL;
            if (st == HSA_STATUS_SUCCESS) {
                syms = realloc(ex->symbols, (ex->n_symbols + c.n_syms + 1) * sizeof *syms);
                if (syms)
                    ex->symbols = syms;
                loaded = realloc(ex->loaded, (ex->n_loaded + 1) * sizeof *loaded);
                if (loaded)
                    ex->loaded = loaded;
                if (!syms || !loaded || !sim_live_reserve(c.n_syms) ||
                    !sim_code_index_reserve(c.n_syms, c.loaded->n_segments))
                    st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
            }
            if (st == HSA_STATUS_SUCCESS) {
                for (size_t i = 0; i < c.n_syms; i++) {
                    ex->symbols[ex->n_symbols++] = c.syms[i];
                    sim_live_add(c.syms[i], SIM_OBJ_SYMBOL);
                }
                qsort(ex->symbols, ex->n_symbols, sizeof *ex->symbols, sim_symbol_cmp);
                sim_code_index_add(ex, c.loaded, c.syms, c.n_syms);
                ex->loaded[ex->n_loaded++] = c.loaded;
                if (loaded_code_object)
                    loaded_code_object->handle = (uint64_t)(uintptr_t)c.loaded;
                c.loaded = NULL;
                c.n_syms = 0;
            }
        }
        pthread_rwlock_unlock(&sim_loader_lock);
    }
    for (size_t i = 0; i < c.n_syms; i++)
        sim_symbol_free(c.syms[i]);
    free(c.syms);
    sim_loaded_unload(c.loaded);
    return st;
}

SIM_API hsa_status_t hsa_executable_load_agent_code_object(
    hsa_executable_t executable, hsa_agent_t agent, hsa_code_object_reader_t code_object_reader,
    const char *options, hsa_loaded_code_object_t *loaded_code_object)
{
    return load_code_object(executable, agent, code_object_reader, options, loaded_code_object);
}

SIM_API hsa_status_t hsa_executable_load_program_code_object(
    hsa_executable_t executable, hsa_code_object_reader_t code_object_reader, const char *options,
    hsa_loaded_code_object_t *loaded_code_object)
{
    return load_code_object(executable, (hsa_agent_t){0}, code_object_reader, options,
                            loaded_code_object);
}
