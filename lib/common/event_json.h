/* An event as the JSON object rochp-monitor --json prints, one per line:
 * {"event","pci","unique_id","node","generation","reason","t_ns","device",
 * "partition"}.  Shared by every writer of event lines so that one checker
 * reads them all. */
#ifndef ROCHP_COMMON_EVENT_JSON_H
#define ROCHP_COMMON_EVENT_JSON_H

#include <stdio.h>

#include <rochp/rochp.h>

const char *rochp__event_type_name(rochp_event_type type);
const char *rochp__event_reason_name(rochp_event_reason reason);

/* Writes the object without its closing brace, so that a writer can add
 * fields of its own before "}\n". */
void rochp__event_json_open(FILE *out, const rochp_event *e);

#endif
