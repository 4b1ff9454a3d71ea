/* The kernel the dispatch benchmark launches: 16 bytes of arguments and no
 * work, so that what is measured is the dispatch (rocrtst's empty_kernel).
 * Its HIP entries launch it too, wrapped for HIP: its arguments are those of
 * dispatch_overhead_ggl.hip's extern "C" `empty`, as clang lays them out
 * (checked when the helper is built). */
#include <stdint.h>

#include <hsasim/kernel_decl.h>

typedef struct empty_args {
    uint64_t a;
    uint32_t b, c;
} empty_args;

HSASIM_KERNEL(empty, empty_args, args, d,
              HSASIM_ARG_VALUE(a),
              HSASIM_ARG_VALUE(b),
              HSASIM_ARG_VALUE(c))
{
    (void)args;
    (void)d;
}
