/* rochp: GPU hot-plug survival for the ROCm HSA runtime.
 *
 * Conventions (libdrm style): every function returns a rochp_status, 0 on
 * success and a negative code on failure; outputs come last.  Names that do
 * not start with rochp_ are not part of the API.
 */
#ifndef ROCHP_ROCHP_H
#define ROCHP_ROCHP_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ROCHP_BUILDING_LIBRARY)
#define ROCHP_API __attribute__((visibility("default")))
#else
#define ROCHP_API
#endif

#define ROCHP_VERSION_MAJOR 0
#define ROCHP_VERSION_MINOR 1
#define ROCHP_VERSION_PATCH 0

typedef enum rochp_status {
    ROCHP_OK = 0,
    /* An argument was NULL, out of range or otherwise unusable. */
    ROCHP_ERROR_INVALID_ARGUMENT = -1,
    /* Memory could not be allocated. */
    ROCHP_ERROR_OUT_OF_MEMORY = -2,
    /* The thing asked for does not exist (no KFD topology, no such device). */
    ROCHP_ERROR_NOT_FOUND = -3,
    /* A system call failed in a way that is not one of the cases below. */
    ROCHP_ERROR_IO = -4,
    /* A file's content is not in the format the kernel writes. */
    ROCHP_ERROR_MALFORMED = -5,
    /* A file, a count or a number is beyond the limits rochp accepts. */
    ROCHP_ERROR_TOO_LARGE = -6,
    /* The KFD topology kept changing while it was read; try again later. */
    ROCHP_ERROR_BUSY = -7,
    /* The operation is not supported in this configuration. */
    ROCHP_ERROR_NOT_SUPPORTED = -8,
} rochp_status;

/* A static, human-readable description of a status code; never NULL. */
ROCHP_API const char *rochp_status_string(rochp_status status);

/* The library's version as (major << 16) | (minor << 8) | patch, so that a
 * program can check the library it runs against, not the header it was
 * compiled with. */
ROCHP_API unsigned rochp_version(void);

/* The same version as a static string, "major.minor.patch". */
ROCHP_API const char *rochp_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* ROCHP_ROCHP_H */
