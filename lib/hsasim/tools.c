/* hsasim: the HSA tools of HSA_TOOLS_LIB, loaded and unloaded as ROCR 5.2.3
 * does (src/core/runtime/runtime.cpp: Runtime::LoadTools, UnloadTools,
 * CloseTools, parse_tool_names; src/core/util/lnx/os_linux.cpp: LoadLib,
 * GetExportAddress).
 *
 * At the 0 -> 1 hsa_init, last (runtime.c), the list is read from the
 * environment and each library dlopen'ed in order.  One that has OnLoad gets
 * bool OnLoad(HsaApiTable *table, uint64_t runtime_version,
 * uint64_t failed_tool_count, const char *const *failed_tool_names): the
 * table the exported entry points call through (hsasim_api.c), the root's
 * major version, and the tools whose OnLoad returned false so far.  Such a
 * tool is closed and goes on that list.  A library that does not open is not
 * on it (ROCR 5.2.3 prints it and goes on; later ROCRs add it).
 *
 * At the last hsa_shut_down, first: void OnUnload(void) of every tool that
 * loaded, in reverse order, the runtime still up; then the table is reset to
 * hsasim's own functions; the libraries are closed at the very end.
 *
 * Not modelled: WrapAgent and AddAgent (they take ROCR's C++ Agent objects).
 * Deliberately different: ROCR keeps a tool whose OnLoad failed in its list
 * and later looks OnUnload up in, and closes, the closed handle again
 * (undefined behaviour); hsasim forgets it.  A backslash ending the list
 * makes ROCR's parser loop forever; hsasim drops it. */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsasim.h"
#include "hsasim_api_table.h"

typedef bool (*tool_on_load)(HsaApiTable *table, uint64_t runtime_version,
                             uint64_t failed_tool_count, const char *const *failed_tool_names);
typedef void (*tool_on_unload)(void);

/* Guarded by runtime.c's bootstrap lock: only the 0 -> 1 init and the last
 * shut_down touch them. */
static void **tools;      /* the tools that loaded, in order */
static size_t n_tools;
static bool table_given;  /* some OnLoad got the table: reset it at unload */
static _Thread_local bool in_callback;

bool sim_tools_in_callback(void)
{
    return in_callback;
}

/* ROCR's parse_tool_names, quirks included: names split at spaces (an empty
 * name for each extra space); "..." quotes spaces and ends a name, the text
 * between the last special character and an opening quote is dropped; a
 * backslash takes the next character as it is.  Returns the count; *out is
 * one allocation (the array, then the names). */
static size_t parse_tool_names(const char *list, char ***out)
{
    size_t len = strlen(list), max = len + 1;
    char **names = malloc(max * sizeof *names + len + max);
    if (!names)
        return *out = NULL, 0;
    char *buf = (char *)(names + max), *name = buf;
    size_t n = 0, at = 0, plain = 0; /* plain: where the text since the last special starts */
    bool quoted = false;
    for (const char *c = list; *c; c++) {
        if (*c == '"' && !quoted) {
            at = plain;
            quoted = true;
        } else if ((*c == ' ' && !quoted) || *c == '"') {
            buf[at++] = '\0';
            names[n++] = name;
            name = buf + at;
            quoted = false;
        } else if (*c == '\\') {
            if (c[1])
                buf[at++] = *++c;
        } else {
            buf[at++] = *c;
            if (*c != ' ')
                continue;
        }
        plain = at;
    }
    if (buf + at != name) {
        buf[at] = '\0';
        names[n++] = name;
    }
    *out = names;
    return n;
}

/* os::GetExportAddress: the symbol only if the library itself defines it,
 * not one of its dependencies. */
static void *export_of(void *lib, const char *symbol)
{
    void *addr = dlsym(lib, symbol);
    struct link_map *map = NULL;
    Dl_info info;
    if (!addr || dlinfo(lib, RTLD_DI_LINKMAP, &map) != 0 || !dladdr(addr, &info) ||
        !info.dli_fname || strcmp(info.dli_fname, map->l_name) != 0)
        return NULL;
    return addr;
}

void sim_tools_load(void)
{
    const char *list = getenv("HSA_TOOLS_LIB");
    if (!list || !*list)
        return;
    /* Debian's ROCR is built without NDEBUG: Flag::Refresh reports failures
     * only for HSA_TOOLS_REPORT_LOAD_FAILURE=1, and os::LoadLib's debug_print
     * ("LoadLib(%s) failed: %s") is always there (both strings are in
     * Debian's libhsa-runtime64.so.1). */
    const char *report = getenv("HSA_TOOLS_REPORT_LOAD_FAILURE");
    bool report_failures = report && strcmp(report, "1") == 0;
    char **names;
    size_t n = parse_tool_names(list, &names);
    const char **failed = calloc(n + 1, sizeof *failed);
    tools = calloc(n + 1, sizeof *tools);
    if (!names || !failed || !tools) {
        fprintf(stderr, "hsasim: out of memory loading the tools of HSA_TOOLS_LIB\n");
        free(names);
        free(failed);
        free(tools);
        tools = NULL;
        return;
    }
    size_t n_failed = 0;
    for (size_t i = 0; i < n; i++) {
        void *lib = dlopen(names[i], RTLD_LAZY);
        if (!lib) {
            fprintf(stderr, "LoadLib(%s) failed: %s\n", names[i], dlerror());
            if (report_failures)
                fprintf(stderr, "Tool lib \"%s\" failed to load.\n", names[i]);
            continue;
        }
        tool_on_load on_load = (tool_on_load)export_of(lib, "OnLoad");
        if (on_load) {
            table_given = true;
            in_callback = true;
            /* ROCR passes &failed[0]: no array while nothing failed. */
            HsaApiTable *table = sim_api_table();
            bool ok = on_load(table, table->version.major_id, n_failed, n_failed ? failed : NULL);
            in_callback = false;
            if (!ok) {
                failed[n_failed++] = names[i];
                dlclose(lib);
                continue;
            }
        }
        tools[n_tools++] = lib;
    }
    free(failed);
    free(names);
}

void sim_tools_unload(void)
{
    for (size_t i = n_tools; i-- > 0;) {
        tool_on_unload on_unload = (tool_on_unload)export_of(tools[i], "OnUnload");
        if (on_unload) {
            in_callback = true;
            on_unload();
            in_callback = false;
        }
    }
    /* "Reset API table in case some tool doesn't cleanup properly." */
    if (table_given)
        sim_api_table_reset();
    table_given = false;
}

void sim_tools_close(void)
{
    for (size_t i = 0; i < n_tools; i++)
        dlclose(tools[i]);
    free(tools);
    tools = NULL;
    n_tools = 0;
}
