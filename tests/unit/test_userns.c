/* Unit tests for engine/userns: podman's --uidmap syntax, the checks of
 * a map, /etc/subuid entries, the first-fit allocation of host id
 * ranges, and the HostConfig checks of --userns (no namespace is made:
 * no privilege needed). */
#include "unit.h"

#include <jansson.h>

#include "engine/userns.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"

static void
test_map_parse (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_idmap m;
  assert_int_equal (pier_userns_map_parse ("0:100000:65536", "--uidmap", &m, &err), 0);
  assert_int_equal (m.container_id, 0);
  assert_int_equal (m.host_id, 100000);
  assert_int_equal (m.size, 65536);
  assert_int_equal (pier_userns_map_parse ("4294967294:0:1", "--uidmap", &m, &err), 0);
  assert_no_err (err);
  static const struct
  {
    const char *text, *msg;
  } bad[] = {
    { "", "expected CONTAINER_ID:HOST_ID:AMOUNT" },
    { "0:1", "expected CONTAINER_ID:HOST_ID:AMOUNT" },
    { "0:1:2:3", "expected CONTAINER_ID:HOST_ID:AMOUNT" },
    { "-1:0:1", "expected CONTAINER_ID:HOST_ID:AMOUNT" },
    { "0: 1:1", "expected CONTAINER_ID:HOST_ID:AMOUNT" },
    { "0:1:", "expected CONTAINER_ID:HOST_ID:AMOUNT" },
    { "4294967295:0:1", "expected CONTAINER_ID:HOST_ID:AMOUNT" },
    { "0:99999999999:1", "expected CONTAINER_ID:HOST_ID:AMOUNT" },
    { "0:1:0", "the amount must be at least 1" },
    { "0:4294967290:10", "the range goes past id 4294967294" },
    { "4294967290:0:10", "the range goes past id" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      assert_int_equal (pier_userns_map_parse (bad[i].text, "--gidmap", &m, &err), -1);
      assert_int_equal (err->code, EINVAL);
      assert_err_contains (err, "--gidmap", bad[i].msg);
      pier_error_free (&err);
    }
}

static void
test_maps_check (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_idmap ok[] = { { 0, 100000, 1000 }, { 1000, 300000, 1000 }, { 5000, 101000, 10 } };
  assert_int_equal (pier_userns_maps_check (ok, 3, "--uidmap", &err), 0);
  pier_idmap c[] = { { 0, 100000, 1000 }, { 999, 300000, 10 } };
  assert_int_equal (pier_userns_maps_check (c, 2, "--uidmap", &err), -1);
  assert_err_contains (err, "container ids 0:100000:1000 and 999:300000:10 overlap");
  pier_error_free (&err);
  pier_idmap h[] = { { 0, 100000, 1000 }, { 2000, 100999, 10 } };
  assert_int_equal (pier_userns_maps_check (h, 2, "--uidmap", &err), -1);
  assert_err_contains (err, "host ids");
  pier_error_free (&err);
  pier_idmap noroot[] = { { 1, 100000, 1000 } };
  assert_int_equal (pier_userns_maps_check (noroot, 1, "--gidmap", &err), -1);
  assert_err_contains (err, "--gidmap must map the container's root (id 0)");
  pier_error_free (&err);
}

static void
test_subid_ranges (void **state)
{
  (void) state;
  const char *text = "# comment\n"
                     "someone:100000:65536\n"
                     "containers:200000:65536\n"
                     "containers:bad:1\n"
                     "containers:300000:0\n"
                     "containers\n"
                     "1001:400000:10\n"
                     "containers:500000:1000 \n";
  cleanup_free pier_idrange *r = NULL;
  size_t n = pier_userns_subid_ranges (text, "containers", NULL, &r);
  assert_int_equal (n, 2);
  assert_int_equal (r[0].start, 200000);
  assert_int_equal (r[0].size, 65536);
  assert_int_equal (r[1].start, 500000);
  assert_int_equal (r[1].size, 1000);
  cleanup_free pier_idrange *r2 = NULL;
  assert_int_equal (pier_userns_subid_ranges (text, "containers", "1001", &r2), 3);
  cleanup_free pier_idrange *r3 = NULL;
  assert_int_equal (pier_userns_subid_ranges (text, "nobody", NULL, &r3), 0);
  assert_null (r3);
  cleanup_free pier_idrange *r4 = NULL;
  assert_int_equal (pier_userns_subid_ranges (NULL, "containers", NULL, &r4), 0);
}

static void
test_alloc (void **state)
{
  (void) state;
  pier_idrange pool[] = { { 1000, 100 }, { 5000, 1000 } };
  uint32_t start = 0;
  assert_int_equal (pier_userns_alloc (pool, 2, NULL, 0, 100, &start), 0);
  assert_int_equal (start, 1000);
  /* Too big for the first range: the second. */
  assert_int_equal (pier_userns_alloc (pool, 2, NULL, 0, 101, &start), 0);
  assert_int_equal (start, 5000);
  /* Used ranges, in any order, overlapping each other or not. */
  pier_idrange used[] = { { 5100, 50 }, { 5000, 10 }, { 5005, 20 }, { 1050, 1 } };
  assert_int_equal (pier_userns_alloc (pool, 2, used, 4, 50, &start), 0);
  assert_int_equal (start, 1000);
  assert_int_equal (pier_userns_alloc (pool, 2, used, 4, 51, &start), 0);
  assert_int_equal (start, 5025);
  assert_int_equal (pier_userns_alloc (pool, 2, used, 4, 76, &start), 0);
  assert_int_equal (start, 5150);
  assert_int_equal (pier_userns_alloc (pool, 2, used, 4, 851, &start), -1);
  /* A used range outside the pool changes nothing. */
  pier_idrange far[] = { { 0, 999 }, { 1100, 3900 } };
  assert_int_equal (pier_userns_alloc (pool, 1, far, 2, 100, &start), 0);
  assert_int_equal (start, 1000);
  /* The pool's end is exact. */
  pier_idrange top[] = { { 4294967295u - 65536, 65536 } };
  assert_int_equal (pier_userns_alloc (top, 1, NULL, 0, 65536, &start), 0);
  assert_int_equal (pier_userns_alloc (top, 1, NULL, 0, 65537, &start), -1);
  /* Pier's default pool: 2^27 up, 65536 at a time. */
  pier_idrange def[] = { { PIER_USERNS_POOL_START, PIER_USERNS_POOL_END - PIER_USERNS_POOL_START } };
  pier_idrange taken[] = { { PIER_USERNS_POOL_START, 65536 } };
  assert_int_equal (pier_userns_alloc (def, 1, taken, 1, 65536, &start), 0);
  assert_int_equal (start, PIER_USERNS_POOL_START + 65536);
}

static json_t *
hc_of (const char *text)
{
  json_error_t je;
  json_t *j = json_loads (text, 0, &je);
  if (j == NULL)
    fail_msg ("bad JSON in the test: %s", je.text);
  return j;
}

static void
test_host_config (void **state)
{
  (void) state;
  pier_error *err = NULL;
  static const char *const good[] = {
    "{}",
    "{\"UsernsMode\": \"host\"}",
    "{\"UsernsMode\": \"auto\"}",
    "{\"UsernsMode\": \"auto:size=10\"}",
    "{\"IDMappings\": {\"UidMap\": [\"0:1000:10\"], \"GidMap\": []}}",
  };
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    {
      cleanup_json json_t *hc = hc_of (good[i]);
      if (pier_engine_userns_check (hc, &err) < 0)
        fail_msg ("%s refused: %s", good[i], err->msg);
    }
  /* A uid map alone serves for gids too, and the mode says "private". */
  cleanup_json json_t *hc = hc_of ("{\"IDMappings\": {\"UidMap\": [\"0:1000:10\"]}}");
  assert_int_equal (pier_engine_userns_check (hc, &err), 0);
  assert_string_equal (json_string_value (json_object_get (hc, "UsernsMode")), "private");
  assert_true (pier_engine_userns_enabled (hc));
  uid_t u;
  gid_t g;
  pier_engine_userns_root (hc, &u, &g);
  assert_int_equal (u, 1000);
  assert_int_equal (g, 1000);
  cleanup_json json_t *oci = pier_engine_userns_oci_maps (hc, true);
  cleanup_free char *text = json_dumps (oci, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal (text, "[{\"containerID\":0,\"hostID\":1000,\"size\":10}]");
  cleanup_json json_t *host = hc_of ("{\"UsernsMode\": \"host\"}");
  assert_false (pier_engine_userns_enabled (host));
  pier_engine_userns_root (host, &u, &g);
  assert_int_equal (u, 0);

  static const struct
  {
    const char *hc, *msg;
  } bad[] = {
    { "{\"UsernsMode\": \"keep-id\"}", "is for rootless podman" },
    { "{\"UsernsMode\": \"nomap\"}", "is for rootless podman" },
    { "{\"UsernsMode\": \"container:x\"}", "pier supports host, auto" },
    { "{\"UsernsMode\": \"auto:size=x\"}", "size must be a number" },
    { "{\"UsernsMode\": \"auto:gidmapping=0:1:1\"}", "only the `size=N` option" },
    { "{\"UsernsMode\": \"private\"}", "needs --uidmap" },
    { "{\"UsernsMode\": \"auto\", \"IDMappings\": {\"UidMap\": [\"0:1:1\"]}}", "cannot be used together" },
    { "{\"UsernsMode\": \"auto\", \"Privileged\": true}", "--privileged cannot be used" },
    { "{\"UsernsMode\": \"auto\", \"PidMode\": \"container:x\"}", "--pid=container:x cannot be used" },
    { "{\"IDMappings\": {\"UidMap\": [\"0:1:1\"], \"GidMap\": [\"1:1:1\"]}}", "--gidmap must map" },
    { "{\"IDMappings\": {\"UidMap\": [0]}}", "must be a list of strings" },
    { "{\"IDMappings\": []}", "must be an object" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      cleanup_json json_t *b = hc_of (bad[i].hc);
      if (pier_engine_userns_check (b, &err) == 0)
        fail_msg ("%s accepted", bad[i].hc);
      assert_int_equal (err->code, EINVAL);
      assert_err_contains (err, bad[i].msg);
      pier_error_free (&err);
    }
}

static const unit_known_bug bugs[] = {};

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_map_parse),    cmocka_unit_test (test_maps_check),
    cmocka_unit_test (test_subid_ranges), cmocka_unit_test (test_alloc),
    cmocka_unit_test (test_host_config),
  };
  unit_dir_setup (NULL);
  int rc = UNIT_RUN (tests, bugs, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
