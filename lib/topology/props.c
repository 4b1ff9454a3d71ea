#include "props.h"

#include <string.h>

#include "known_keys.h"

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

rochp_status topo_props_parse(const char *buf, size_t len, rochp__arena *arena, topo_props *out,
                              const char *path, rochp__error *err)
{
    /* Count lines first so that keys and values are two exact arrays. */
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    if (lines > TOPO_PROPS_MAX_KEYS)
        lines = TOPO_PROPS_MAX_KEYS + 1;
    const char **keys = rochp__arena_alloc_raw(arena, lines * sizeof *keys);
    uint64_t *values = rochp__arena_alloc_raw(arena, lines * sizeof *values);
    /* Duplicate detection: a bit per known key, string compares for the rest. */
    uint64_t seen[TOPO_KNOWN_KEYS_MAX / 64] = {0};
    if (!keys || !values)
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "%s: out of memory", path);

    uint32_t count = 0;
    size_t pos = 0;
    for (unsigned line = 1; pos < len; line++) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        while (n > 0 && (is_blank(s[n - 1]) || s[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;

        size_t k = 0;
        while (k < n && is_key_char(s[k]))
            k++;
        if (k == 0)
            return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s:%u: expected a key, found byte 0x%02x",
                              path, line, (unsigned char)s[0]);
        if (k > TOPO_PROPS_MAX_KEY_LEN)
            return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s:%u: key longer than %d characters",
                              path, line, TOPO_PROPS_MAX_KEY_LEN);
        size_t v = k;
        while (v < n && is_blank(s[v]))
            v++;
        if (v == k || v == n)
            return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s:%u: key '%.*s' has no value", path,
                              line, (int)k, s);
        /* The one list-valued key the kernel prints (caches: "1,0,0,..."):
         * not a number, and nothing rochp uses. */
        if (k == 11 && memcmp(s, "sibling_map", 11) == 0)
            continue;
        uint64_t value = 0;
        for (size_t i = v; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                                  "%s:%u: value of '%.*s' is not an unsigned decimal number", path,
                                  line, (int)k, s);
            unsigned d = (unsigned)(s[i] - '0');
            if (value > (UINT64_MAX - d) / 10)
                return rochp__fail(err, ROCHP_ERROR_TOO_LARGE,
                                  "%s:%u: value of '%.*s' does not fit in 64 bits", path, line,
                                  (int)k, s);
            value = value * 10 + d;
        }
        int known = topo_known_key_index(s, k);
        bool dup = false;
        if (known >= 0) {
            dup = seen[known / 64] & (1ull << (known % 64));
            seen[known / 64] |= 1ull << (known % 64);
        } else {
            for (uint32_t i = 0; i < count && !dup; i++)
                dup = strncmp(keys[i], s, k) == 0 && keys[i][k] == '\0';
        }
        if (dup)
            return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s:%u: duplicate key '%.*s'", path,
                              line, (int)k, s);
        if (count == TOPO_PROPS_MAX_KEYS)
            return rochp__fail(err, ROCHP_ERROR_TOO_LARGE, "%s:%u: more than %d keys", path, line,
                              TOPO_PROPS_MAX_KEYS);
        keys[count] = known >= 0 ? topo_known_key(known) : rochp__arena_strndup(arena, s, k);
        if (!keys[count])
            return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "%s: out of memory", path);
        values[count] = value;
        count++;
    }
    if (count == 0)
        return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s:1: empty: no 'key value' line", path);
    out->count = count;
    out->keys = keys;
    out->values = values;
    return ROCHP_OK;
}

bool topo_props_get(const topo_props *props, const char *key, uint64_t *value)
{
    for (uint32_t i = 0; i < props->count; i++) {
        if (strcmp(props->keys[i], key) == 0) {
            if (value)
                *value = props->values[i];
            return true;
        }
    }
    return false;
}

uint64_t topo_props_get_or(const topo_props *props, const char *key, uint64_t fallback)
{
    uint64_t v;
    return topo_props_get(props, key, &v) ? v : fallback;
}
