/* The smallest program against an installed rochp: checks that the library
 * it runs with is the one it was built for, and prints it.  Built in the
 * packaging test through find_package(rochp) and through pkg-config. */
#include <stdio.h>

#include <rochp/rochp.h>

int main(void)
{
    unsigned v = rochp_version();
    if (v >> 16 != ROCHP_VERSION_MAJOR) {
        fprintf(stderr, "built for rochp %d.x, running with %u.%u\n", ROCHP_VERSION_MAJOR,
                v >> 16, (v >> 8) & 0xff);
        return 1;
    }
    printf("rochp %s (%s)\n", rochp_version_string(), rochp_status_string(ROCHP_OK));
    return 0;
}
