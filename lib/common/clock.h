/* The library's one clock: CLOCK_MONOTONIC in nanoseconds. */
#ifndef ROCHP_COMMON_CLOCK_H
#define ROCHP_COMMON_CLOCK_H

#include <stdint.h>

uint64_t rochp__now_ns(void);

#endif
