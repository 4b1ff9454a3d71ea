/* libFuzzer target: the properties parser on arbitrary bytes.  A parse that
 * succeeds must give pairs that look up to themselves. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topology/props.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rochp__arena arena = {0};
    topo_props props;
    rochp__error err;
    if (topo_props_parse((const char *)data, size, &arena, &props, "fuzz", &err) == ROCHP_OK) {
        for (uint32_t i = 0; i < props.count; i++) {
            uint64_t v;
            if (!topo_props_get(&props, props.keys[i], &v) || v != props.values[i])
                abort();
        }
    } else if (strncmp(err.message, "fuzz:", 5) != 0) {
        abort(); /* every parse error names the file and line */
    }
    rochp__arena_free(&arena);
    return 0;
}
