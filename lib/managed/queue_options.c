/* Queue options: their defaults, the ring ABI check, and the validation
 * rochp_queue_create applies (the sizes a ring may have). */
#include <string.h>

#include "managed/managed.h"

#define DEFAULT_PACKETS 1024u
#define DEFAULT_KERNARG_BYTES 256u
#define MIN_PACKETS 64u
#define MAX_PACKETS 131072u
#define MAX_KERNARG_BYTES 4096u
#define MAX_JOURNAL (1u << 24)

void managed_queue_options_defaults(rochp_queue_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->mode = ROCHP_QUEUE_PLAIN;
    o->ring_abi = ROCHP_RING_ABI_VERSION;
}

/* Only programs built before the header's inline copy call this: their
 * options end before ring_abi, so it fills just those bytes (and
 * rochp_queue_create then asks them to rebuild). */
void rochp_queue_options_init(rochp_queue_options *o)
{
    if (!o)
        return;
    memset(o, 0, offsetof(rochp_queue_options, ring_abi));
    o->struct_size = offsetof(rochp_queue_options, ring_abi);
    o->mode = ROCHP_QUEUE_PLAIN;
}

static bool is_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

rochp_status managed_queue_read_options(const rochp_queue_options *in, rochp_queue_options *o)
{
    managed_queue_options_defaults(o);
    if (in) {
        if (in->struct_size < offsetof(rochp_queue_options, journal_length) + sizeof(uint32_t) ||
            in->struct_size > sizeof *o)
            return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                    "rochp_queue_create: options.struct_size %u is not one this "
                                    "library knows (use rochp_queue_options_init)",
                                    in->struct_size);
        memcpy(o, in, in->struct_size);
        if (in->struct_size < offsetof(rochp_queue_options, ring_abi) + sizeof(uint32_t))
            return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                     "rochp_queue_create: options from a header without the ring "
                                     "ABI version (struct_size %u); this library's inline path "
                                     "is ring ABI %u: rebuild against its headers",
                                     in->struct_size, ROCHP_RING_ABI_VERSION);
        /* Ring ABI 1 is ABI 2 without the guard: its queues are served,
         * and a checkpoint does not overlap their work (checkpoint.c). */
        if (o->ring_abi != ROCHP_RING_ABI_VERSION && o->ring_abi != 1)
            return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                     "rochp_queue_create: the application was compiled for ring "
                                     "ABI %u, this library has ring ABI %u: rebuild against its "
                                     "headers",
                                     o->ring_abi, ROCHP_RING_ABI_VERSION);
    }
    if (o->mode != ROCHP_QUEUE_PLAIN && o->mode != ROCHP_QUEUE_JOURNALED)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_create: unknown mode %d", (int)o->mode);
    if (!o->packets)
        o->packets = DEFAULT_PACKETS;
    if (!o->kernarg_bytes)
        o->kernarg_bytes = DEFAULT_KERNARG_BYTES;
    if (!is_pow2(o->packets) || o->packets < MIN_PACKETS || o->packets > MAX_PACKETS)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_create: packets %u must be a power of two in "
                                "%u..%u",
                                o->packets, MIN_PACKETS, MAX_PACKETS);
    if (!is_pow2(o->kernarg_bytes) || o->kernarg_bytes < ROCHP_MIN_KERNARG_BYTES ||
        o->kernarg_bytes > MAX_KERNARG_BYTES)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_create: kernarg_bytes %u must be a power of two in "
                                "%u..%u",
                                o->kernarg_bytes, ROCHP_MIN_KERNARG_BYTES, MAX_KERNARG_BYTES);
    if (o->mode == ROCHP_QUEUE_PLAIN) {
        o->journal_length = 0;
    } else {
        if (!o->journal_length)
            o->journal_length = 16 * o->packets;
        if (!is_pow2(o->journal_length) || o->journal_length < o->packets ||
            o->journal_length > MAX_JOURNAL)
            return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                    "rochp_queue_create: journal_length %u must be a power of "
                                    "two from packets (%u) to %u",
                                    o->journal_length, o->packets, MAX_JOURNAL);
    }
    return ROCHP_OK;
}

