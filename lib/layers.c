/* The layers wired into a context: core, with the managed objects and
 * resilience above it, in that order (core/layer.h).  The one place that
 * knows every layer. */
#include "core/layer.h"
#include "managed/managed.h"
#include "resilience/resilience.h"

rochp_status rochp_context_create(const rochp_options *options, rochp_context **out)
{
    static const core_layer *const layers[] = {&managed_layer, &resilience_layer};
    return core_context_create(options, layers, sizeof layers / sizeof layers[0], out);
}
