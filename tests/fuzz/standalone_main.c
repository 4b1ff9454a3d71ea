/* Runs a libFuzzer target without libFuzzer (gcc, TSan builds): every seed
 * file given, then -runs=N deterministic mutations of them (byte flips,
 * truncations, insertions, splices).  Accepts libFuzzer-style arguments and
 * ignores the ones it has no use for. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seed {
    uint8_t *data;
    size_t size;
} seed;

static seed *seeds;
static size_t n_seeds;

static void add_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    uint8_t *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    seed *grown = buf ? realloc(seeds, (n_seeds + 1) * sizeof *seeds) : NULL;
    if (!grown) {
        free(buf);
        return;
    }
    seeds = grown;
    seeds[n_seeds++] = (seed){buf, n};
}

static void add_path(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        add_file(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        add_file(child);
    }
    if (d)
        closedir(d);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    unsigned long runs = 1000;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-runs=", 6) == 0)
            runs = strtoul(argv[i] + 6, NULL, 10);
        else if (argv[i][0] != '-')
            add_path(argv[i]);
    }
    for (size_t i = 0; i < n_seeds; i++)
        LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].size);
    uint8_t buf[4096];
    for (unsigned long r = 0; r < runs && n_seeds; r++) {
        const seed *s = &seeds[next() % n_seeds];
        size_t n = s->size < sizeof buf ? s->size : sizeof buf;
        memcpy(buf, s->data, n);
        for (int k = 1 + (int)(next() % 4); k > 0; k--) {
            switch (next() % 4) {
            case 0: if (n) buf[next() % n] ^= (uint8_t)(1u << (next() % 8)); break;
            case 1: if (n) n = next() % n; break;
            case 2: if (n < sizeof buf) buf[n++] = (uint8_t)next(); break;
            case 3: {
                const seed *o = &seeds[next() % n_seeds];
                if (o->size && n) {
                    size_t at = next() % n, len = next() % o->size;
                    if (at + len > sizeof buf)
                        len = sizeof buf - at;
                    memcpy(buf + at, o->data, len);
                    if (at + len > n)
                        n = at + len;
                }
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("standalone fuzz driver: %zu seeds, %lu mutated runs, no crash\n", n_seeds, runs);
    for (size_t i = 0; i < n_seeds; i++)
        free(seeds[i].data);
    free(seeds);
    return 0;
}
