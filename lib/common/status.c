#include "rochp/rochp.h"

#define STR_(x) #x
#define STR(x) STR_(x)

const char *rochp_status_string(rochp_status status)
{
    switch (status) {
    case ROCHP_OK: return "success";
    case ROCHP_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case ROCHP_ERROR_OUT_OF_MEMORY: return "out of memory";
    case ROCHP_ERROR_NOT_FOUND: return "not found";
    case ROCHP_ERROR_IO: return "I/O error";
    case ROCHP_ERROR_MALFORMED: return "malformed content";
    case ROCHP_ERROR_TOO_LARGE: return "beyond rochp's limits";
    case ROCHP_ERROR_BUSY: return "busy: something else holds what the call needs (rochp_last_error says what)";
    case ROCHP_ERROR_NOT_SUPPORTED: return "not supported";
    case ROCHP_ERROR_DEVICE_LOST: return "the device has been lost";
    case ROCHP_ERROR_TIMEOUT: return "timed out";
    case ROCHP_ERROR_JOURNAL_FULL: return "the queue's journal is full: checkpoint first";
    case ROCHP_ERROR_QUEUE_FAILED: return "the queue failed: a kernel faulted (the device is not lost)";
    case ROCHP_ERROR_NO_TARGET: return "no compatible device to recover onto";
    }
    return "unknown rochp status";
}

unsigned rochp_version(void)
{
    return (ROCHP_VERSION_MAJOR << 16) | (ROCHP_VERSION_MINOR << 8) | ROCHP_VERSION_PATCH;
}

const char *rochp_version_string(void)
{
    return STR(ROCHP_VERSION_MAJOR) "." STR(ROCHP_VERSION_MINOR) "." STR(ROCHP_VERSION_PATCH);
}
