/* A user's program on hsasim, with rochp's public headers only: a virtual
 * machine made and changed by the rochp-sim command (as an operator would),
 * a context on hsasim over it, and the pipeline example's kernels.  Tests
 * built on this link librochp.so and nothing of lib/.
 *
 * The test defines ROCHP_SIM_BIN, HSASIM_PATH and CHAIN_CO. */
#ifndef ROCHP_TESTS_USER_SIM_H
#define ROCHP_TESTS_USER_SIM_H

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"
#include "pipeline_kernels.h"
#include "rochp/rochp_dispatch.h"
#include "tmpdir.h"

#define SECOND 1000000000ull

extern char **environ;

/* Runs rochp-sim with up to 6 arguments; its exit status. */
static inline int user_sim(const char *a1, const char *a2, const char *a3, const char *a4,
                           const char *a5, const char *a6)
{
    const char *argv[] = {ROCHP_SIM_BIN, a1, a2, a3, a4, a5, a6, NULL};
    pid_t pid;
    if (posix_spawn(&pid, ROCHP_SIM_BIN, NULL, NULL, (char *const *)argv, environ) != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A machine of gpus boards of model; kernel is ROCHP_SIM_KERNEL. */
static inline void user_machine(char *dir, size_t size, const char *tag, const char *model,
                                unsigned gpus, const char *kernel)
{
    REQUIRE(test_make_tmpdir(dir, size, tag) == 0);
    char n[16];
    snprintf(n, sizeof n, "%u", gpus);
    setenv("ROCHP_SIM_KERNEL", kernel, 1);
    REQUIRE(user_sim("create", dir, "--model", model, "--gpus", n) == 0);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
}

static inline void user_unplug(const char *dir, const rochp_device_info *d)
{
    REQUIRE(user_sim("unplug", dir, d->pci, NULL, NULL, NULL) == 0);
}

static inline rochp_context *user_context(uint32_t flags, uint32_t poll_ms)
{
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.flags = flags | ROCHP_CONTEXT_NO_UEVENTS;
    o.poll_interval_ms = poll_ms;
    rochp_context *ctx = NULL;
    rochp_status st = rochp_context_create(&o, &ctx);
    if (st != ROCHP_OK)
        fprintf(stderr, "rochp_context_create: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    return ctx;
}

/* The present devices, in id order (at most cap); their count. */
static inline size_t user_devices(rochp_context *ctx, rochp_device_info *out, size_t cap)
{
    rochp_device_info all[64];
    size_t n = 0, kept = 0;
    REQUIRE(rochp_device_list(ctx, all, 64, &n) == ROCHP_OK);
    for (size_t i = 0; i < n && i < 64 && kept < cap; i++)
        if (all[i].state == ROCHP_DEVICE_PRESENT)
            out[kept++] = all[i];
    return kept;
}

static inline rochp_device_state user_state(rochp_context *ctx, rochp_device_id id)
{
    rochp_device_info info;
    REQUIRE(rochp_device_get(ctx, id, &info) == ROCHP_OK);
    return info.state;
}

/* Until the context sees the device lost (its watcher polls the tree). */
static inline void user_wait_lost(rochp_context *ctx, rochp_device_id id)
{
    for (int i = 0; i < 6000 && user_state(ctx, id) != ROCHP_DEVICE_LOST; i++) {
        rochp_rescan(ctx);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    REQUIRE(user_state(ctx, id) == ROCHP_DEVICE_LOST);
}

typedef struct user_kernels {
    rochp_module *module;
    rochp_kernel *chain, *join;
} user_kernels;

static inline user_kernels user_load(rochp_context *ctx)
{
    user_kernels k;
    REQUIRE(rochp_module_load_file(ctx, CHAIN_CO, &k.module) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(k.module, "chain_step", &k.chain) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(k.module, "join_add", &k.join) == ROCHP_OK);
    return k;
}

static inline rochp_queue *user_queue(rochp_context *ctx, rochp_device_id dev,
                                      rochp_queue_mode mode, uint32_t packets, uint32_t journal)
{
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = mode;
    o.packets = packets;
    o.journal_length = journal;
    rochp_queue *q = NULL;
    rochp_status st = rochp_queue_create(ctx, dev, &o, &q);
    if (st != ROCHP_OK)
        fprintf(stderr, "rochp_queue_create: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    return q;
}

/* The pipeline kernels on the CPU. */
static inline void cpu_chain(uint32_t *v, uint32_t n, uint32_t step)
{
    for (uint32_t x = 0; x < n; x++)
        v[x] = v[x] * 3u + step + x;
}

static inline void cpu_join(uint32_t *out, const uint32_t *a, const uint32_t *b, uint32_t n)
{
    for (uint32_t x = 0; x < n; x++)
        out[x] = a[x] + b[x];
}

/* A buffer of n words, each seed * 7919 + x. */
static inline rochp_buffer *user_words(rochp_context *ctx, rochp_device_id dev, uint32_t n,
                                       uint32_t seed, uint32_t *cpu)
{
    rochp_buffer *b = NULL;
    REQUIRE(rochp_buffer_alloc(ctx, dev, n * sizeof(uint32_t), &b) == ROCHP_OK);
    uint32_t *v = malloc(n * sizeof *v);
    REQUIRE(v);
    for (uint32_t x = 0; x < n; x++)
        v[x] = seed * 7919u + x;
    REQUIRE(rochp_buffer_write(b, 0, v, n * sizeof *v) == ROCHP_OK);
    if (cpu)
        memcpy(cpu, v, n * sizeof *v);
    free(v);
    return b;
}

/* Do the buffer's n words equal want? */
static inline bool user_same(rochp_buffer *b, const uint32_t *want, uint32_t n)
{
    uint32_t *got = malloc(n * sizeof *got);
    REQUIRE(got);
    rochp_status st = rochp_buffer_read(b, 0, got, n * sizeof *got);
    bool same = st == ROCHP_OK && memcmp(got, want, n * sizeof *got) == 0;
    if (st != ROCHP_OK)
        fprintf(stderr, "rochp_buffer_read: %s\n", rochp_last_error());
    free(got);
    return same;
}

static inline rochp_launch user_launch(uint32_t n)
{
    rochp_launch l;
    REQUIRE(rochp_launch_init(&l, (rochp_dim3){n, 1, 1}, (rochp_dim3){64, 1, 1}) == ROCHP_OK);
    return l;
}

static inline uint64_t user_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
