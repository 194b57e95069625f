/* Unit tests for runtime/resources: linux.resources parsing. */
#include "unit.h"

#include "runtime/resources.h"
#include "util/xalloc.h"

static json_t *
json_of (const char *text)
{
  json_error_t je;
  json_t *j = json_loads (text, 0, &je);
  if (j == NULL)
    fail_msg ("bad test JSON `%s`: %s", text, je.text);
  return j;
}

static pier_resources *
parse_ok (const char *text)
{
  json_t *j = json_of (text);
  pier_resources *r = NULL;
  pier_error *err = NULL;
  if (pier_resources_parse (j, &r, &err) < 0)
    fail_msg ("`%s` rejected: %s", text, err->msg);
  json_decref (j);
  return r;
}

static void
expect_bad (const char *text, const char *frag1, const char *frag2)
{
  json_t *j = json_of (text);
  pier_resources *r = NULL;
  pier_error *err = NULL;
  if (pier_resources_parse (j, &r, &err) == 0)
    fail_msg ("`%s` accepted", text);
  assert_null (r);
  if (err == NULL || strstr (err->msg, frag1) == NULL || (frag2 && strstr (err->msg, frag2) == NULL))
    fail_msg ("`%s`: message `%s` should mention `%s` and `%s`", text, err ? err->msg : "(none)", frag1,
              frag2 ? frag2 : "");
  pier_error_free (&err);
  json_decref (j);
}

static void
test_null_is_empty (void **state)
{
  (void) state;
  pier_resources *r = NULL;
  pier_error *err = NULL;
  assert_int_equal (pier_resources_parse (NULL, &r, &err), 0);
  assert_non_null (r);
  assert_false (r->has_mem_limit || r->has_shares || r->has_pids || r->has_blkio_weight);
  assert_int_equal (r->n_devices, 0);
  pier_resources_free (r);
  pier_resources_free (NULL);
}

static void
test_full_set (void **state)
{
  (void) state;
  pier_resources *r = parse_ok (
      "{\"memory\": {\"limit\": 1048576, \"reservation\": 524288, \"swap\": 2097152, \"swappiness\": 10,"
      "  \"disableOOMKiller\": true},"
      " \"cpu\": {\"shares\": 512, \"quota\": 50000, \"period\": 100000, \"cpus\": \"0-1\", \"mems\": \"0\"},"
      " \"pids\": {\"limit\": 64},"
      " \"blockIO\": {\"weight\": 500, \"weightDevice\": [{\"major\": 8, \"minor\": 0, \"weight\": 300}],"
      "  \"throttleReadBpsDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": 1000}]},"
      " \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 0}],"
      " \"network\": {\"classID\": 1048577, \"priorities\": [{\"name\": \"eth0\", \"priority\": 5}]},"
      " \"devices\": [{\"allow\": false, \"access\": \"rwm\"},"
      "  {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": \"rw\"}],"
      " \"unified\": {\"memory.high\": \"1000000\"}}");
  assert_true (r->has_mem_limit && r->mem_limit == 1048576);
  assert_true (r->has_mem_reservation && r->mem_reservation == 524288);
  assert_true (r->has_mem_swap && r->mem_swap == 2097152);
  assert_true (r->has_swappiness && r->swappiness == 10);
  assert_true (r->has_disable_oom && r->disable_oom);
  assert_true (r->has_shares && r->shares == 512);
  assert_true (r->has_quota && r->quota == 50000);
  assert_true (r->has_period && r->period == 100000);
  assert_string_equal (r->cpus, "0-1");
  assert_string_equal (r->mems, "0");
  assert_true (r->has_pids && r->pids_limit == 64);
  assert_true (r->has_blkio_weight && r->blkio_weight == 500);
  assert_int_equal (r->n_weight_devs, 1);
  assert_true (r->weight_devs[0].has_weight && r->weight_devs[0].weight == 300);
  assert_false (r->weight_devs[0].has_leaf_weight);
  assert_int_equal (r->n_throttle[PIER_THR_READ_BPS], 1);
  assert_int_equal (r->throttle[PIER_THR_READ_BPS][0].rate, 1000);
  assert_int_equal (r->n_throttle[PIER_THR_WRITE_BPS], 0);
  assert_int_equal (r->n_hugepages, 1);
  assert_string_equal (r->hugepages[0].pagesize, "2MB");
  assert_true (r->has_classid && r->classid == 1048577);
  assert_int_equal (r->n_netprio, 1);
  assert_string_equal (r->netprio[0].name, "eth0");
  assert_int_equal (r->n_devices, 2);
  assert_false (r->devices[0].allow);
  assert_int_equal (r->devices[0].type, 'a');
  assert_int_equal (r->devices[0].major, -1); /* wildcard */
  assert_int_equal (r->devices[0].minor, -1);
  assert_string_equal (r->devices[0].access, "rwm");
  assert_true (r->devices[1].allow);
  assert_int_equal (r->devices[1].type, 'c');
  assert_int_equal (r->devices[1].major, 1);
  assert_string_equal (r->devices[1].access, "rw");
  assert_string_equal (json_string_value (json_object_get (r->unified, "memory.high")), "1000000");
  pier_resources_free (r);
}

static void
test_swap_rules (void **state)
{
  (void) state;
  /* swap is memory+swap, as in runc: it must not be below the limit... */
  expect_bad ("{\"memory\": {\"limit\": 2000000, \"swap\": 1000000}}", "linux.resources.memory", "swap");
  /* ...but -1 (unlimited) and equal values are fine. */
  pier_resources *r = parse_ok ("{\"memory\": {\"limit\": 2000000, \"swap\": -1}}");
  assert_true (r->mem_swap == -1);
  pier_resources_free (r);
  r = parse_ok ("{\"memory\": {\"limit\": 2000000, \"swap\": 2000000}}");
  pier_resources_free (r);
  /* limit 0 means "not set". */
  r = parse_ok ("{\"memory\": {\"limit\": 0}}");
  assert_false (r->has_mem_limit);
  pier_resources_free (r);
}

static void
test_bad_types_and_values (void **state)
{
  (void) state;
  expect_bad ("{\"memory\": []}", "linux.resources.memory must be an object", NULL);
  expect_bad ("{\"memory\": {\"limit\": \"1G\"}}", "linux.resources.memory.limit must be an integer", NULL);
  expect_bad ("{\"memory\": {\"swappiness\": 101}}", "swappiness", "101");
  expect_bad ("{\"memory\": {\"swappiness\": -1}}", "linux.resources.memory.swappiness", NULL);
  expect_bad ("{\"memory\": {\"disableOOMKiller\": 1}}", "linux.resources.memory.disableOOMKiller", NULL);
  expect_bad ("{\"cpu\": {\"shares\": -2}}", "linux.resources.cpu.shares", NULL);
  expect_bad ("{\"cpu\": {\"quota\": 1.5}}", "linux.resources.cpu.quota must be an integer", NULL);
  expect_bad ("{\"cpu\": {\"cpus\": 1}}", "linux.resources.cpu.cpus must be a string", NULL);
  expect_bad ("{\"pids\": {\"limit\": \"64\"}}", "linux.resources.pids.limit", NULL);
  expect_bad ("{\"blockIO\": {\"weight\": \"x\"}}", "linux.resources.blockIO.weight", NULL);
  expect_bad ("{\"blockIO\": {\"weightDevice\": [7]}}", "linux.resources.blockIO.weightDevice[0]", NULL);
  expect_bad ("{\"blockIO\": {\"throttleWriteIOPSDevice\": [{\"major\": 8, \"minor\": 0, \"rate\": -1}]}}",
              "linux.resources.blockIO.throttleWriteIOPSDevice[0].rate", NULL);
  expect_bad ("{\"blockIO\": {\"throttleReadBpsDevice\": {}}}", "throttleReadBpsDevice must be an array",
              NULL);
  expect_bad ("{\"hugepageLimits\": [{\"pageSize\": \"../../x\", \"limit\": 1}]}",
              "linux.resources.hugepageLimits[0].pageSize", NULL);
  expect_bad ("{\"hugepageLimits\": [{\"limit\": 1}]}", "linux.resources.hugepageLimits[0].pageSize", NULL);
  expect_bad ("{\"hugepageLimits\": [\"2MB\"]}", "linux.resources.hugepageLimits[0] must be an object", NULL);
  expect_bad ("{\"network\": {\"classID\": \"x\"}}", "linux.resources.network.classID", NULL);
  expect_bad ("{\"network\": {\"priorities\": [{\"priority\": 1}]}}", "priorities[0].name", NULL);
  expect_bad ("{\"devices\": [{\"access\": \"rwm\"}]}", "linux.resources.devices[0].allow", NULL);
  expect_bad ("{\"devices\": [{\"allow\": true, \"type\": \"x\"}]}", "linux.resources.devices[0].type", NULL);
  expect_bad ("{\"devices\": [{\"allow\": true, \"type\": \"cb\"}]}", "linux.resources.devices[0].type",
              NULL);
  expect_bad ("{\"devices\": [{\"allow\": true, \"access\": \"rwx\"}]}", "linux.resources.devices[0].access",
              "rwx");
  expect_bad ("{\"devices\": [{\"allow\": true, \"access\": \"rwmr\"}]}", "linux.resources.devices[0].access",
              NULL);
  expect_bad ("{\"devices\": [{\"allow\": true, \"major\": \"1\"}]}", "linux.resources.devices[0].major",
              NULL);
  expect_bad ("{\"devices\": [5]}", "linux.resources.devices[0] must be an object", NULL);
  expect_bad ("{\"unified\": {\"../memory.max\": \"1\"}}", "linux.resources.unified", NULL);
  expect_bad ("{\"unified\": {\"memory.max\": 1}}", "linux.resources.unified.memory.max", NULL);
  expect_bad ("{\"rdma\": []}", "linux.resources.rdma must be an object", NULL);
}

static void
test_shares_to_weight (void **state)
{
  (void) state;
  /* The conversion runc and crun use: 2..262144 onto 1..10000. */
  assert_int_equal (pier_shares_to_weight (0), 0);
  assert_int_equal (pier_shares_to_weight (2), 1);
  assert_int_equal (pier_shares_to_weight (1024), 39);
  assert_int_equal (pier_shares_to_weight (262144), 10000);
  assert_int_equal (pier_shares_to_weight (1), 1);
  assert_int_equal (pier_shares_to_weight (1000000), 10000);
}

static void
test_merge_only_set_fields (void **state)
{
  (void) state;
  pier_resources *dst
      = parse_ok ("{\"memory\": {\"limit\": 1000000}, \"cpu\": {\"shares\": 100, \"cpus\": \"0\"},"
                  " \"pids\": {\"limit\": 10}}");
  pier_resources *src
      = parse_ok ("{\"cpu\": {\"shares\": 200, \"cpus\": \"1\"}, \"unified\": {\"pids.max\": \"5\"}}");
  pier_resources_merge (dst, src);
  assert_true (dst->has_mem_limit && dst->mem_limit == 1000000);
  assert_true (dst->shares == 200);
  assert_string_equal (dst->cpus, "1");
  assert_true (dst->has_pids && dst->pids_limit == 10);
  assert_non_null (dst->unified);
  pier_resources_free (src); /* dst holds its own reference/copies */
  assert_string_equal (dst->cpus, "1");
  assert_string_equal (json_string_value (json_object_get (dst->unified, "pids.max")), "5");
  pier_resources_free (dst);
}

/* error.h: "A NULL err is allowed: the failure is still returned".
 * parse_dev_pairs decides whether pier_json_arr failed by looking at
 * *err, so with err == NULL a malformed throttle list is accepted. */
static void
test_null_err_still_fails (void **state)
{
  (void) state;
  json_t *j = json_of ("{\"blockIO\": {\"throttleReadBpsDevice\": 5}}");
  pier_resources *r = NULL;
  int rc = pier_resources_parse (j, &r, NULL);
  pier_resources_free (rc == 0 ? r : NULL);
  json_decref (j);
  assert_int_equal (rc, -1);
}

static const unit_known_bug bugs[] = {};

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_null_is_empty),        cmocka_unit_test (test_full_set),
    cmocka_unit_test (test_swap_rules),           cmocka_unit_test (test_bad_types_and_values),
    cmocka_unit_test (test_shares_to_weight),     cmocka_unit_test (test_merge_only_set_fields),
    cmocka_unit_test (test_null_err_still_fails),
  };
  return UNIT_RUN (tests, bugs, argc, argv);
}
