/* topo_props_parse and the gfx-name helpers, on literal inputs. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "topology/props.h"
#include "topology/snapshot.h"

#define PATH "/sys/x/topology/nodes/2/properties"

/* nodes/2/properties of the k8s-mi300x-cpx capture, verbatim: unique_id and
 * hive_id are above INT64_MAX. */
static const char mi300x_node2[] =
    "cpu_cores_count 0\n"
    "simd_count 152\n"
    "mem_banks_count 1\n"
    "caches_count 80\n"
    "io_links_count 63\n"
    "p2p_links_count 1\n"
    "cpu_core_id_base 0\n"
    "simd_id_base 2147488064\n"
    "max_waves_per_simd 8\n"
    "lds_size_in_kb 64\n"
    "gds_size_in_kb 0\n"
    "num_gws 64\n"
    "wave_front_size 64\n"
    "array_count 4\n"
    "simd_arrays_per_engine 1\n"
    "cu_per_simd_array 10\n"
    "simd_per_cu 4\n"
    "max_slots_scratch_cu 32\n"
    "gfx_target_version 90402\n"
    "vendor_id 4098\n"
    "device_id 29857\n"
    "location_id 1280\n"
    "domain 0\n"
    "drm_render_minor 128\n"
    "hive_id 15188982192727901047\n"
    "num_sdma_engines 2\n"
    "num_sdma_xgmi_engines 0\n"
    "num_sdma_queues_per_engine 8\n"
    "num_cp_queues 24\n"
    "max_engine_clk_fcompute 2100\n"
    "local_mem_size 0\n"
    "fw_version 177\n"
    "capability 2893521536\n"
    "debug_prop 1511\n"
    "sdma_fw_version 24\n"
    "unique_id 16404946649897475633\n"
    "num_xcc 1\n"
    "max_engine_clk_ccompute 2750\n";

typedef struct kv {
    const char *key;
    uint64_t value;
} kv;

static const kv mi300x_node2_expected[] = {
    {"cpu_cores_count", 0},
    {"simd_count", 152},
    {"mem_banks_count", 1},
    {"caches_count", 80},
    {"io_links_count", 63},
    {"p2p_links_count", 1},
    {"cpu_core_id_base", 0},
    {"simd_id_base", 2147488064u},
    {"max_waves_per_simd", 8},
    {"lds_size_in_kb", 64},
    {"gds_size_in_kb", 0},
    {"num_gws", 64},
    {"wave_front_size", 64},
    {"array_count", 4},
    {"simd_arrays_per_engine", 1},
    {"cu_per_simd_array", 10},
    {"simd_per_cu", 4},
    {"max_slots_scratch_cu", 32},
    {"gfx_target_version", 90402},
    {"vendor_id", 4098},
    {"device_id", 29857},
    {"location_id", 1280},
    {"domain", 0},
    {"drm_render_minor", 128},
    {"hive_id", UINT64_C(15188982192727901047)},
    {"num_sdma_engines", 2},
    {"num_sdma_xgmi_engines", 0},
    {"num_sdma_queues_per_engine", 8},
    {"num_cp_queues", 24},
    {"max_engine_clk_fcompute", 2100},
    {"local_mem_size", 0},
    {"fw_version", 177},
    {"capability", 2893521536u},
    {"debug_prop", 1511},
    {"sdma_fw_version", 24},
    {"unique_id", UINT64_C(16404946649897475633)},
    {"num_xcc", 1},
    {"max_engine_clk_ccompute", 2750},
};

static void check_props(const topo_props *p, const kv *want, size_t n, int line)
{
    if (p->count != n) {
        fprintf(stderr, "%s:%d: count %u, expected %zu\n", __FILE__, line, p->count, n);
        check_failures++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(p->keys[i], want[i].key) != 0 || p->values[i] != want[i].value) {
            fprintf(stderr, "%s:%d: pair %zu is '%s' %" PRIu64 ", expected '%s' %" PRIu64 "\n",
                    __FILE__, line, i, p->keys[i], p->values[i], want[i].key, want[i].value);
            check_failures++;
        }
    }
}

/* Parses buf[0..len) and checks the pairs; returns nothing so each case is one line. */
static void expect_ok(const char *buf, size_t len, const kv *want, size_t n, int line)
{
    rochp__arena arena = {0};
    topo_props p = {0};
    rochp__error err = {0};
    rochp_status st = topo_props_parse(buf, len, &arena, &p, PATH, &err);
    if (st != ROCHP_OK) {
        fprintf(stderr, "%s:%d: parse failed (%d): %s\n", __FILE__, line, st, err.message);
        check_failures++;
    } else {
        check_props(&p, want, n, line);
    }
    rochp__arena_free(&arena);
}

/* The parse must fail with status and a message naming PATH:<err_line>:. */
static void expect_fail(const char *buf, size_t len, rochp_status want, unsigned err_line,
                        int line)
{
    rochp__arena arena = {0};
    topo_props p = {0};
    rochp__error err = {0};
    rochp_status st = topo_props_parse(buf, len, &arena, &p, PATH, &err);
    char where[128];
    snprintf(where, sizeof where, PATH ":%u:", err_line);
    if (st != want || err.status != want || !strstr(err.message, where)) {
        fprintf(stderr, "%s:%d: expected status %d naming '%s', got %d (err.status %d): '%s'\n",
                __FILE__, line, want, where, st, err.status, err.message);
        check_failures++;
    }
    rochp__arena_free(&arena);
}

#define OK(s, ...)                                                                            \
    do {                                                                                      \
        static const kv want_[] = {__VA_ARGS__};                                              \
        expect_ok((s), sizeof(s) - 1, want_, sizeof want_ / sizeof want_[0], __LINE__);      \
    } while (0)
#define FAIL(s, status, err_line) expect_fail((s), sizeof(s) - 1, (status), (err_line), __LINE__)

static void test_real_file(void)
{
    expect_ok(mi300x_node2, sizeof mi300x_node2 - 1, mi300x_node2_expected,
              sizeof mi300x_node2_expected / sizeof mi300x_node2_expected[0], __LINE__);

    rochp__arena arena = {0};
    topo_props p = {0};
    rochp__error err = {0};
    REQUIRE(topo_props_parse(mi300x_node2, sizeof mi300x_node2 - 1, &arena, &p, PATH, &err) ==
            ROCHP_OK);
    uint64_t v = 0;
    CHECK(topo_props_get(&p, "unique_id", &v));
    CHECK_EQ_U64(v, UINT64_C(16404946649897475633));
    CHECK(v > (uint64_t)INT64_MAX);
    CHECK(topo_props_get(&p, "hive_id", &v));
    CHECK_EQ_U64(v, UINT64_C(15188982192727901047));
    CHECK(v > (uint64_t)INT64_MAX);
    CHECK(topo_props_get(&p, "simd_count", NULL));
    CHECK(!topo_props_get(&p, "simd", &v));           /* prefix of a key */
    CHECK(!topo_props_get(&p, "simd_count_x", &v));   /* extension of a key */
    CHECK_EQ_U64(topo_props_get_or(&p, "domain", 7), 0);
    CHECK_EQ_U64(topo_props_get_or(&p, "no_such_key", 7), 7);
    rochp__arena_free(&arena);
}

static void test_tolerated(void)
{
    /* Keys the library has never heard of are kept, in order, among known ones. */
    OK("simd_count 4\nfuture_key_2031 17\nlocation_id 768\nZ9 1\n",
       {"simd_count", 4}, {"future_key_2031", 17}, {"location_id", 768}, {"Z9", 1});
    /* Blank lines, trailing blanks and tabs between key and value. */
    OK("\n\nsimd_count 4   \n\n   \nlocation_id\t768\t\n\n", {"simd_count", 4},
       {"location_id", 768});
    OK("simd_count 4\nlocation_id 768", {"simd_count", 4}, {"location_id", 768});
    OK("simd_count   4\r\n", {"simd_count", 4});
    OK("hive_id 18446744073709551615\n", {"hive_id", UINT64_MAX});
    OK("domain 0000\n", {"domain", 0});
    /* Keys that are prefixes of one another are not duplicates. */
    OK("simd 1\nsimd_count 2\nsimd_count_future 3\n", {"simd", 1}, {"simd_count", 2},
       {"simd_count_future", 3});
    /* Exactly the longest key allowed. */
    OK("k234567890123456789012345678901234567890123456789012345678901234 5\n",
       {"k234567890123456789012345678901234567890123456789012345678901234", 5});
}

static void test_errors(void)
{
    FAIL("", ROCHP_ERROR_MALFORMED, 1);
    FAIL("\n\n  \n", ROCHP_ERROR_MALFORMED, 1);
    FAIL("simd_count 4\nlocation_id\n", ROCHP_ERROR_MALFORMED, 2);
    FAIL("simd_count 4\nlocation_id   \n", ROCHP_ERROR_MALFORMED, 2);
    FAIL("simd_count 4\n\nlocation_id", ROCHP_ERROR_MALFORMED, 3);
    FAIL("simd_count 4x\n", ROCHP_ERROR_MALFORMED, 1);
    FAIL("simd_count 0x10\n", ROCHP_ERROR_MALFORMED, 1);
    FAIL("simd_count 4 5\n", ROCHP_ERROR_MALFORMED, 1);
    FAIL("simd_count 4\ndomain -1\n", ROCHP_ERROR_MALFORMED, 2);
    FAIL("simd_count +1\n", ROCHP_ERROR_MALFORMED, 1);
    FAIL("simd_count=4\n", ROCHP_ERROR_MALFORMED, 1);
    FAIL("simd_count 4\n\nunique_id 18446744073709551616\n", ROCHP_ERROR_TOO_LARGE, 3);
    FAIL("unique_id 99999999999999999999999\n", ROCHP_ERROR_TOO_LARGE, 1);
    FAIL("simd_count 4\nlocation_id 1\nsimd_count 4\n", ROCHP_ERROR_MALFORMED, 3);
    FAIL("my_key 1\nmy_key 2\n", ROCHP_ERROR_MALFORMED, 2);
    FAIL("simd_count 4\nlds_size_in_kb 6\0" "4\n", ROCHP_ERROR_MALFORMED, 2);
    FAIL("\0simd_count 4\n", ROCHP_ERROR_MALFORMED, 1);
    FAIL("simd_count 4\nsimd\0count 4\n", ROCHP_ERROR_MALFORMED, 2);
    FAIL("\xff\xfe garbage\n", ROCHP_ERROR_MALFORMED, 1);
    FAIL("simd_count 4\nk2345678901234567890123456789012345678901234567890123456789012345 5\n",
         ROCHP_ERROR_MALFORMED, 2);
}

/* 512 keys are accepted, the 513th is refused on its own line. */
static void test_key_limit(void)
{
    enum { LINE = 16 }; /* "k000 123456789\n" plus room */
    static char buf[(TOPO_PROPS_MAX_KEYS + 1) * LINE];
    size_t len = 0;
    for (int i = 0; i < TOPO_PROPS_MAX_KEYS; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "k%03d %d\n", i, i);

    rochp__arena arena = {0};
    topo_props p = {0};
    rochp__error err = {0};
    CHECK(topo_props_parse(buf, len, &arena, &p, PATH, &err) == ROCHP_OK);
    CHECK_EQ_U64(p.count, TOPO_PROPS_MAX_KEYS);
    if (p.count == TOPO_PROPS_MAX_KEYS) {
        CHECK_EQ_STR(p.keys[511], "k511");
        CHECK_EQ_U64(p.values[511], 511);
    }
    rochp__arena_free(&arena);

    len += (size_t)snprintf(buf + len, sizeof buf - len, "k%03d %d\n", 512, 512);
    expect_fail(buf, len, ROCHP_ERROR_TOO_LARGE, TOPO_PROPS_MAX_KEYS + 1, __LINE__);
}

static void gfx_version(uint64_t version, const char *want)
{
    char out[16] = "unchanged";
    bool ok = topo_gfx_name_from_version(version, out);
    if (want) {
        CHECK(ok);
        CHECK_EQ_STR(out, want);
    } else if (ok) {
        fprintf(stderr, "%s:%d: version %" PRIu64 " gave '%s', expected none\n", __FILE__,
                __LINE__, version, out);
        check_failures++;
    }
}

static void gfx_device(uint64_t device_id, const char *want)
{
    char out[16] = "unchanged";
    bool ok = topo_gfx_name_from_device_id(device_id, out);
    if (want) {
        CHECK(ok);
        CHECK_EQ_STR(out, want);
    } else if (ok) {
        fprintf(stderr, "%s:%d: device 0x%" PRIx64 " gave '%s', expected none\n", __FILE__,
                __LINE__, device_id, out);
        check_failures++;
    }
}

static void test_gfx(void)
{
    gfx_version(90010, "gfx90a");
    gfx_version(90402, "gfx942");
    gfx_version(110501, "gfx1151");
    gfx_version(110000, "gfx1100");
    gfx_version(90008, "gfx908");
    gfx_version(90000, "gfx900");
    gfx_version(0, NULL);
    gfx_version(91600, NULL); /* minor 16 is not one hex digit */
    gfx_version(90016, NULL); /* nor stepping 16 */

    gfx_device(0x6860, "gfx900"); /* Vega 10, k8s-vega10-1gpu */
    gfx_device(0x9874, "gfx801"); /* Bristol Ridge, device_id 39028 */
    gfx_device(0x738c, "gfx908");
    gfx_device(0x740f, "gfx90a");
    gfx_device(0x744c, NULL);     /* RX 7900 XTX: newer than the table, has a version */
    gfx_device(0, NULL);
}

int main(void)
{
    test_real_file();
    test_tolerated();
    test_errors();
    test_key_limit();
    test_gfx();
    return check_result();
}
