/* A structural check of msgpack before msgpack-c sees it (codeobj.h says
 * why). */
#include "codeobj/internal.h"

/* --- msgpack ------------------------------------------------------------------- */

static int rd_be(const uint8_t *p, size_t n, size_t *pos, unsigned bytes, uint64_t *v)
{
    if (bytes > n - *pos)
        return -1;
    uint64_t x = 0;
    for (unsigned i = 0; i < bytes; i++)
        x = (x << 8) | p[*pos + i];
    *pos += bytes;
    *v = x;
    return 0;
}

/* Checks that data is one msgpack object (then only zero bytes) in which no
 * string or container claims more than the bytes that remain: what msgpack-c
 * would allocate is then bounded by the input size. */
int codeobj_msgpack_precheck(const uint8_t *p, size_t n, char *err, size_t err_size)
{
    size_t pos = 0;
    uint64_t pending = 1;
    while (pending) {
        if (pos >= n)
            return codeobj_fail(err, err_size, "metadata: msgpack truncated at byte %zu", pos);
        uint8_t b = p[pos++];
        pending--;
        uint64_t skip = 0, add = 0, len = 0;
        int r = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool */
        } else if (b <= 0x8f) {
            add = 2u * (b & 0x0fu);
        } else if (b <= 0x9f) {
            add = b & 0x0fu;
        } else if (b <= 0xbf) {
            skip = b & 0x1fu;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: r = rd_be(p, n, &pos, 1, &len); skip = len; break;
            case 0xc5: case 0xda: r = rd_be(p, n, &pos, 2, &len); skip = len; break;
            case 0xc6: case 0xdb: r = rd_be(p, n, &pos, 4, &len); skip = len; break;
            case 0xc7: r = rd_be(p, n, &pos, 1, &len); skip = len + 1; break;
            case 0xc8: r = rd_be(p, n, &pos, 2, &len); skip = len + 1; break;
            case 0xc9: r = rd_be(p, n, &pos, 4, &len); skip = len + 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: r = rd_be(p, n, &pos, 2, &len); add = len; break;
            case 0xdd: r = rd_be(p, n, &pos, 4, &len); add = len; break;
            case 0xde: r = rd_be(p, n, &pos, 2, &len); add = 2 * len; break;
            case 0xdf: r = rd_be(p, n, &pos, 4, &len); add = 2 * len; break;
            default:
                return codeobj_fail(err, err_size, "metadata: invalid msgpack byte 0x%02x at %zu",
                                    b, pos - 1);
            }
        }
        if (r != 0 || skip > n - pos)
            return codeobj_fail(err, err_size, "metadata: msgpack truncated at byte %zu", pos);
        pos += skip;
        pending += add;
        if (pending > n - pos)
            return codeobj_fail(
                err, err_size,
                "metadata: a msgpack container at byte %zu declares more elements than "
                "bytes remain",
                pos);
    }
    for (; pos < n; pos++)
        if (p[pos])
            return codeobj_fail(err, err_size, "metadata: %zu bytes after the msgpack map",
                                n - pos);
    return 0;
}
