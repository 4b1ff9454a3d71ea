/* A reader racing a writer that changes the tree thousands of times never
 * returns a torn snapshot: every snapshot is structurally whole and holds
 * exactly the boards of the generation it is labelled with, or of the next
 * one (nodes/ is swapped in before generation_id moves, as in KFD's add
 * path, so content may be one change ahead of its label, never behind). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "tmpdir.h"
#include "ops.h"
#include "tree_check.h"

enum { BOARDS = 4, CHANGES = 2000, MAX_GEN = 8 + CHANGES };

static const char *bus_names[BOARDS] = {"0000:03:00.0", "0000:0b:00.0", "0000:13:00.0",
                                        "0000:23:00.0"};
static char dir[256];
/* expected[g] = 1 + bitmask of boards present at generation g (0: unknown). */
static _Atomic unsigned char expected[MAX_GEN + 2];
static atomic_bool writer_done;

static unsigned board_of(const topo_node *n)
{
    for (unsigned b = 0; b < BOARDS; b++)
        if (strcmp(n->pci, bus_names[b]) == 0)
            return b;
    return BOARDS;
}

static void *writer(void *arg)
{
    (void)arg;
    unsigned present = (1u << BOARDS) - 1, seed = 12345;
    uint64_t gen = 1 + BOARDS;
    rochp__error err = {0};
    for (int i = 0; i < CHANGES; i++) {
        unsigned b = (unsigned)rand_r(&seed) % BOARDS;
        unsigned next = present ^ (1u << b);
        /* Recorded before publishing: a reader that can see it must find it. */
        atomic_store_explicit(&expected[gen + 1], (unsigned char)(1 + next), memory_order_release);
        rochp_status st = (present & (1u << b)) ? vtree_unplug(dir, bus_names[b], 0, NULL, &err)
                                                : vtree_plug_back(dir, bus_names[b], NULL, &err);
        if (st != ROCHP_OK) {
            fprintf(stderr, "writer change %d: %s\n", i, err.message);
            check_failures++;
            break;
        }
        present = next;
        gen++;
    }
    atomic_store(&writer_done, true);
    return NULL;
}

int main(void)
{
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "race") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("rx7900xtx"), BOARDS, 1, NULL, &err) ==
            ROCHP_OK);
    atomic_store(&expected[1 + BOARDS], (unsigned char)(1 + (1u << BOARDS) - 1));

    pthread_t w;
    REQUIRE(pthread_create(&w, NULL, writer, NULL) == 0);
    unsigned long reads = 0, busy = 0, torn = 0, changes_seen = 0;
    uint64_t last_gen = 0;
    while (!atomic_load(&writer_done)) {
        topo_snapshot *s = NULL;
        rochp_status st = topo_snapshot_read(dir, &s, &err);
        if (st == ROCHP_ERROR_BUSY) {
            busy++;
            continue;
        }
        if (st != ROCHP_OK) {
            fprintf(stderr, "read: %s\n", err.message);
            torn++;
            continue;
        }
        reads++;
        unsigned mask = 0;
        for (uint32_t i = 0; i < s->n_nodes; i++)
            if (s->nodes[i].kind == TOPO_KIND_GPU)
                mask |= 1u << board_of(&s->nodes[i]);
        uint64_t g = s->generation;
        unsigned char at = g <= MAX_GEN ? atomic_load_explicit(&expected[g], memory_order_acquire) : 0;
        unsigned char ahead =
            g + 1 <= MAX_GEN + 1 ? atomic_load_explicit(&expected[g + 1], memory_order_acquire) : 0;
        if (tree_check(s, "racing read") || at == 0 ||
            (mask + 1u != at && mask + 1u != ahead) || mask >= (1u << BOARDS)) {
            fprintf(stderr, "torn: generation %llu holds boards 0x%x, expected 0x%x or 0x%x\n",
                    (unsigned long long)g, mask, at - 1u, ahead - 1u);
            torn++;
        }
        changes_seen += g != last_gen;
        last_gen = g;
        topo_snapshot_free(s);
    }
    pthread_join(w, NULL);
    fprintf(stderr, "%lu reads (%lu distinct generations seen), %lu busy, %lu torn\n", reads,
            changes_seen, busy, torn);
    CHECK_EQ_U64(torn, 0);
    /* The race must really have happened: many reads across many changes. */
    CHECK(reads >= 200);
    CHECK(changes_seen >= 100);
    test_remove_tmpdir(dir);
    return check_result();
}
