/* rochp-run --restart-on-arrival: a thread that reads the KFD topology
 * (sysfs only: no runtime, no /dev/kfd) every poll_ms and notes a GPU that
 * was not there before -- new, or back -- for a planned restart at the
 * program's next checkpoint: HIP and every program holding the runtime
 * enumerate GPUs once, so only a new process sees a new GPU. */
#ifndef ROCHP_RUN_ARRIVALS_H
#define ROCHP_RUN_ARRIVALS_H

#include <stdbool.h>
#include <stddef.h>

/* Starts the watcher (false: the topology cannot be read, why in why);
 * noted(pci) is called from its thread at each arrival. */
bool arrivals_start(unsigned poll_ms, void (*noted)(const char *pci), char *why,
                    size_t why_size);
/* Takes a pending arrival: true and its PCI address once per arrival. */
bool arrivals_take(char *pci, size_t size);

#endif
