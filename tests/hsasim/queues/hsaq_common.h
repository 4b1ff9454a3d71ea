/* Shared set-up of the hsasim queue/signal tests: a virtual mi300x tree with
 * two GPUs made by rochp-sim on tmpfs, hsa_init over it, the agents found by
 * hsa_iterate_agents, and a few timing helpers. */
#ifndef HSAQ_COMMON_H
#define HSAQ_COMMON_H

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "check.h"
#include "tmpdir.h"

#define HSAQ_MAX_GPUS 8

static char hsaq_dir[512];
static hsa_agent_t hsaq_cpu;
static hsa_agent_t hsaq_gpus[HSAQ_MAX_GPUS];
static int hsaq_n_gpus;

static hsa_status_t hsaq_agent_cb(hsa_agent_t agent, void *data)
{
    (void)data;
    hsa_device_type_t type;
    if (hsa_agent_get_info(agent, HSA_AGENT_INFO_DEVICE, &type) != HSA_STATUS_SUCCESS)
        return HSA_STATUS_ERROR;
    if (type == HSA_DEVICE_TYPE_CPU && hsaq_cpu.handle == 0)
        hsaq_cpu = agent;
    if (type == HSA_DEVICE_TYPE_GPU && hsaq_n_gpus < HSAQ_MAX_GPUS)
        hsaq_gpus[hsaq_n_gpus++] = agent;
    return HSA_STATUS_SUCCESS;
}

static void hsaq_setup(const char *tag)
{
    REQUIRE(test_make_tmpdir(hsaq_dir, sizeof hsaq_dir, tag) == 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' create '%s' --model mi300x --gpus 2 >/dev/null", ROCHP_SIM_BIN,
             hsaq_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        test_remove_tmpdir(hsaq_dir);
        exit(1);
    }
    REQUIRE(setenv("ROCHP_SYSFS_ROOT", hsaq_dir, 1) == 0);
    hsa_status_t st = hsa_init();
    if (st != HSA_STATUS_SUCCESS) {
        fprintf(stderr, "hsa_init: status 0x%x\n", (unsigned)st);
        test_remove_tmpdir(hsaq_dir);
        exit(1);
    }
    REQUIRE(hsa_iterate_agents(hsaq_agent_cb, NULL) == HSA_STATUS_SUCCESS);
    REQUIRE(hsaq_cpu.handle != 0);
    REQUIRE(hsaq_n_gpus >= 2);
    uint64_t freq = 0;
    REQUIRE(hsa_system_get_info(HSA_SYSTEM_INFO_TIMESTAMP_FREQUENCY, &freq) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(freq, 1000000000ull); /* timeouts below are in ns */
}

static void hsaq_teardown(void)
{
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    test_remove_tmpdir(hsaq_dir);
}

static inline uint64_t hsaq_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void hsaq_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* CPU time of the whole process (every thread), in ns. */
static inline uint64_t hsaq_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

#define MS(x) ((uint64_t)(x) * 1000000ull)

#endif
