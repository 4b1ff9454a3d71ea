/* rochp-hostco-check: are the host kernels' arguments laid out as clang lays
 * out the HIP kernels they stand for?
 *
 *   rochp-hostco-check REAL.co HOST.co
 *
 * REAL.co is the code object clang builds from the HIP source for a GPU
 * (hipcc --offload-arch=gfxN --cuda-device-only --no-gpu-bundle-output -c);
 * HOST.co the host code object or its wrapper (rochp-hostco-wrap).  HIP
 * copies a launch's arguments into the kernarg segment after the metadata
 * of the code object it loaded, so a host kernel works when its metadata
 * lays out what the __global__ function's signature gives: the same kernels
 * (by symbol name), and per kernel the same kernarg segment size and
 * alignment and the same arguments, explicit and hidden, in order: value
 * kind, offset, size, and for pointers the address space.  Names, access
 * qualifiers, register counts and the segment sizes the GPU code needs are
 * not compared: they do not move arguments.
 *
 * Exit status: 0 the same, 1 different (every difference is listed) or
 * unreadable, 2 usage. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeobj/codeobj.h"

static int differences;

static void diff(const char *kernel, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff(const char *kernel, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rochp-hostco-check: kernel %s: ", kernel);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    differences++;
}

static codeobj_metadata *load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "rochp-hostco-check: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t cap = 1 << 16, n = 0, got;
    unsigned char *img = malloc(cap);
    while (img && (got = fread(img + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap && !(img = realloc(img, cap *= 2)))
            break;
    }
    fclose(f);
    char err[CODEOBJ_ERROR_MAX];
    codeobj_metadata *md = NULL;
    if (!img || codeobj_parse_metadata(img, n, &md, err, sizeof err) != 0) {
        fprintf(stderr, "rochp-hostco-check: %s: %s\n", path, img ? err : "out of memory");
        exit(1);
    }
    /* md keeps its own copies: the image can go. */
    free(img);
    return md;
}

static const char *vk(const codeobj_arg *a)
{
    return a->value_kind_name ? a->value_kind_name : "?";
}

static void print_args(const char *which, const codeobj_kernel *k)
{
    fprintf(stderr, "    %s (kernarg %u bytes, align %u):\n", which, k->kernarg_segment_size,
            k->kernarg_segment_align);
    for (uint32_t i = 0; i < k->n_args; i++) {
        const codeobj_arg *a = &k->args[i];
        fprintf(stderr, "      [%u] offset %3u size %3u %s%s%s\n", i, a->offset, a->size, vk(a),
                a->address_space ? " " : "",
                a->address_space ? codeobj_address_space_name(a->address_space) : "");
    }
}

static void compare_kernel(const codeobj_kernel *real, const codeobj_kernel *host)
{
    int before = differences;
    if (real->kernarg_segment_size != host->kernarg_segment_size)
        diff(real->name, "kernarg segment of %u bytes, the host kernel's %u",
             real->kernarg_segment_size, host->kernarg_segment_size);
    if (real->kernarg_segment_align != host->kernarg_segment_align)
        diff(real->name, "kernarg alignment %u, the host kernel's %u",
             real->kernarg_segment_align, host->kernarg_segment_align);
    if (real->n_args != host->n_args)
        diff(real->name, "%u arguments, the host kernel %u", real->n_args, host->n_args);
    for (uint32_t i = 0; i < real->n_args && i < host->n_args; i++) {
        const codeobj_arg *r = &real->args[i], *h = &host->args[i];
        if (r->value_kind != h->value_kind || r->offset != h->offset || r->size != h->size ||
            (r->value_kind == CODEOBJ_VK_GLOBAL_BUFFER && r->address_space != h->address_space))
            diff(real->name, "argument %u is %s at offset %u (%u bytes), the host kernel's %s at "
                 "offset %u (%u bytes)", i, vk(r), r->offset, r->size, vk(h), h->offset, h->size);
    }
    if (differences != before) {
        print_args("clang", real);
        print_args("host kernel", host);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fputs("usage: rochp-hostco-check REAL.co HOST.co\n"
              "Compares the kernels' argument layouts of a clang-built code object and of\n"
              "the host code object (or wrapper) standing for it.\n",
              stderr);
        return 2;
    }
    codeobj_metadata *real = load(argv[1]), *host = load(argv[2]);
    if (real->version_major != host->version_major ||
        real->version_minor != host->version_minor) {
        fprintf(stderr, "rochp-hostco-check: clang wrote amdhsa.version [%u, %u], the host code "
                "object has [%u, %u] (give the host object the same code object version)\n",
                real->version_major, real->version_minor, host->version_major,
                host->version_minor);
        differences++;
    }
    for (uint32_t i = 0; i < real->n_kernels; i++) {
        const codeobj_kernel *h = codeobj_find_kernel(host, real->kernels[i].symbol);
        if (!h)
            diff(real->kernels[i].name, "is in the HIP source (%s) but not in the host code "
                 "object (%s)", argv[1], argv[2]);
        else
            compare_kernel(&real->kernels[i], h);
    }
    for (uint32_t i = 0; i < host->n_kernels; i++)
        if (!codeobj_find_kernel(real, host->kernels[i].symbol))
            diff(host->kernels[i].name, "is in the host code object but the HIP source has no "
                 "such __global__ function");
    if (differences)
        fprintf(stderr, "rochp-hostco-check: %s does not match %s: %d difference(s)\n", argv[2],
                argv[1], differences);
    codeobj_metadata_free(real);
    codeobj_metadata_free(host);
    return differences ? 1 : 0;
}
