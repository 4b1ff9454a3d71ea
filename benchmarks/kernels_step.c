/* The forward-and-backward part of checkpoint_overhead's training step: a
 * kernel that reads the weights and keeps the GPU busy for a given time.
 *
 * On a GPU the compute units run it while the host's cores and the copy
 * engines are free, which is what lets a checkpoint's copies overlap a
 * step.  hsasim runs kernels on host threads: spinning here would take the
 * very cores its copy engines run on (two on the benchmark's machine), so
 * the device time is slept instead -- the GPU is busy, the host is not.  It
 * reads one word per MiB of the weights (a read-only argument in its
 * metadata, as a forward pass's weights are), so that it faults as a GPU
 * would if they were gone. */
#include <stdint.h>
#include <time.h>

#include <hsasim/kernel_decl.h>

typedef struct device_time_args {
    const uint32_t *weights;
    uint32_t words;
    uint32_t device_us;
} device_time_args;

/* Where the words read go, so that the reads are made. */
static volatile uint32_t read_sink;

HSASIM_KERNEL(device_time, device_time_args, args, d,
              HSASIM_ARG_GLOBAL(weights, HSASIM_READ_ONLY),
              HSASIM_ARG_VALUE(words),
              HSASIM_ARG_VALUE(device_us))
{
    /* One work-group does it: the grid is one item. */
    if (d->group_id[0] != 0)
        return;
    uint32_t sum = 0;
    for (uint32_t i = 0; i < args->words; i += 1u << 18)
        sum += args->weights[i];
    read_sink = sum;
    struct timespec ts = {args->device_us / 1000000u, (long)(args->device_us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}
