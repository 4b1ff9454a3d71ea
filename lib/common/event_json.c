#include "event_json.h"

#include <inttypes.h>

#include "json.h"

const char *rochp__event_type_name(rochp_event_type type)
{
    switch (type) {
    case ROCHP_EVENT_LOST: return "lost";
    case ROCHP_EVENT_ARRIVED: return "arrived";
    case ROCHP_EVENT_RETURNED: return "returned";
    case ROCHP_EVENT_REENUMERATED: return "reenumerated";
    case ROCHP_EVENT_MIGRATED: return "migrated";
    case ROCHP_EVENT_RECOVERED: return "recovered";
    case ROCHP_EVENT_ALL: break;
    }
    return "unknown";
}

const char *rochp__event_reason_name(rochp_event_reason reason)
{
    switch (reason) {
    case ROCHP_REASON_TOPOLOGY: return "topology";
    case ROCHP_REASON_QUEUE_ERROR: return "queue_error";
    case ROCHP_REASON_SYSTEM_EVENT: return "system_event";
    case ROCHP_REASON_SIGBUS: return "sigbus";
    case ROCHP_REASON_WATCHDOG: return "watchdog";
    }
    return "unknown";
}

void rochp__event_json_open(FILE *out, const rochp_event *e)
{
    fprintf(out, "{\"event\":\"%s\",\"pci\":", rochp__event_type_name(e->type));
    rochp__json_string(out, e->info.pci);
    fprintf(out, ",\"unique_id\":");
    rochp__json_u64_string(out, e->info.unique_id);
    fprintf(out,
            ",\"node\":%" PRIu32 ",\"generation\":%" PRIu64 ",\"reason\":\"%s\",\"t_ns\":%" PRIu64
            ",\"device\":%" PRIu64 ",\"partition\":%" PRIu32,
            e->info.kfd_node, e->generation, rochp__event_reason_name(e->reason), e->t_ns,
            e->device, e->info.partition);
}
