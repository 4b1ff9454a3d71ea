/* Minimal JSON writing for the tools' --json output. */
#ifndef ROCHP_COMMON_JSON_H
#define ROCHP_COMMON_JSON_H

#include <stdint.h>
#include <stdio.h>

/* Writes s as a JSON string literal (quotes included), escaping as RFC 8259
 * requires; bytes that are not valid UTF-8 are written as \u00XX. */
void rochp__json_string(FILE *out, const char *s);

/* uint64 ids go out as decimal strings: JSON readers often parse numbers as
 * doubles, which lose precision above 2^53. */
void rochp__json_u64_string(FILE *out, uint64_t v);

#endif
