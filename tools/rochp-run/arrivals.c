/* rochp-run's watch for arriving GPUs (arrivals.h).
 *
 * Locks: lock guards pending and pending_pci; a leaf. */
#include "arrivals.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "topology/snapshot.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool pending;
static char pending_pci[24];
static unsigned interval_ms;
static void (*noted_fn)(const char *pci);
static topo_snapshot *last;

static bool had(const topo_snapshot *s, const char *pci)
{
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].kind == TOPO_KIND_GPU && strcmp(s->nodes[i].pci, pci) == 0)
            return true;
    return false;
}

static void *watch(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec d = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000};
        nanosleep(&d, NULL);
        topo_snapshot *now = NULL;
        rochp__error err = {0};
        if (topo_snapshot_read(topo_sysfs_root(), &now, &err) != ROCHP_OK)
            continue; /* mid-change: the next read sees it whole */
        for (uint32_t i = 0; i < now->n_nodes; i++) {
            const topo_node *n = &now->nodes[i];
            if (n->kind == TOPO_KIND_GPU && n->pci[0] && !had(last, n->pci)) {
                pthread_mutex_lock(&lock);
                pending = true;
                snprintf(pending_pci, sizeof pending_pci, "%s", n->pci);
                pthread_mutex_unlock(&lock);
                noted_fn(n->pci);
            }
        }
        topo_snapshot_free(last);
        last = now;
    }
    return NULL;
}

bool arrivals_start(unsigned poll_ms, void (*noted)(const char *pci), char *why,
                    size_t why_size)
{
    noted_fn = noted;
    rochp__error err = {0};
    if (topo_snapshot_read(topo_sysfs_root(), &last, &err) != ROCHP_OK) {
        snprintf(why, why_size, "%s", err.message);
        return false;
    }
    interval_ms = poll_ms ? poll_ms : 1;
    pthread_t t;
    if (pthread_create(&t, NULL, watch, NULL) != 0) {
        snprintf(why, why_size, "cannot start a thread");
        return false;
    }
    pthread_detach(t);
    return true;
}

bool arrivals_take(char *pci, size_t size)
{
    pthread_mutex_lock(&lock);
    bool was = pending;
    if (was)
        snprintf(pci, size, "%s", pending_pci);
    pending = false;
    pthread_mutex_unlock(&lock);
    return was;
}
