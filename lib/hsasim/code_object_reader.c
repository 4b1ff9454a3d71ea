/* hsasim code object readers (hsa_code_object_reader_*): a reader holds the
 * bytes, or refers to the caller's; they are checked at load time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "loader.h"
SIM_API hsa_status_t hsa_code_object_reader_create_from_file(
    hsa_file_t file, hsa_code_object_reader_t *code_object_reader)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!code_object_reader)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (file == -1)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    /* ROCR seeks to the end to learn the size (leaving the offset there). */
    off_t end = lseek(file, 0, SEEK_END);
    if (end == (off_t)-1)
        return HSA_STATUS_ERROR_INVALID_FILE;
    if (end <= 0)
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    /* ROCR maps the file; a copy cannot fault if the file shrinks later. */
    size_t size = (size_t)end;
    sim_reader *r = calloc(1, sizeof *r);
    uint8_t *buf = malloc(size);
    if (!r || !buf) {
        free(r);
        free(buf);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(file, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(r);
            free(buf);
            return HSA_STATUS_ERROR_INVALID_FILE;
        }
        got += (size_t)n;
    }
    r->data = r->owned = buf;
    r->size = size;
    char link[64], path[sizeof r->uri - 8];
    snprintf(link, sizeof link, "/proc/self/fd/%d", file);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n > 0) {
        path[n] = 0;
        snprintf(r->uri, sizeof r->uri, "file://%s", path);
    } else {
        snprintf(r->uri, sizeof r->uri, "file descriptor %d", file);
    }
    pthread_rwlock_wrlock(&sim_loader_lock);
    bool ok = sim_live_reserve(1);
    if (ok)
        sim_live_add(r, SIM_OBJ_READER);
    pthread_rwlock_unlock(&sim_loader_lock);
    if (!ok) {
        free(buf);
        free(r);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    code_object_reader->handle = (uint64_t)(uintptr_t)r;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_code_object_reader_create_from_memory(
    const void *code_object, size_t size, hsa_code_object_reader_t *code_object_reader)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!code_object || !code_object_reader || size == 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    /* Like ROCR, the reader refers to the caller's memory until destroyed. */
    sim_reader *r = calloc(1, sizeof *r);
    if (!r)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    r->data = code_object;
    r->size = size;
    snprintf(r->uri, sizeof r->uri, "memory://%ld#offset=0x%llx&size=%zu", (long)getpid(),
             (unsigned long long)(uintptr_t)code_object, size);
    pthread_rwlock_wrlock(&sim_loader_lock);
    bool ok = sim_live_reserve(1);
    if (ok)
        sim_live_add(r, SIM_OBJ_READER);
    pthread_rwlock_unlock(&sim_loader_lock);
    if (!ok) {
        free(r);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    code_object_reader->handle = (uint64_t)(uintptr_t)r;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_code_object_reader_destroy(hsa_code_object_reader_t code_object_reader)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    pthread_rwlock_wrlock(&sim_loader_lock);
    sim_reader *r = sim_live_get(code_object_reader.handle, SIM_OBJ_READER);
    if (r)
        sim_live_remove(r);
    pthread_rwlock_unlock(&sim_loader_lock);
    if (!r)
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER;
    free(r->owned);
    free(r);
    return HSA_STATUS_SUCCESS;
}
