/* Unit tests for the engine's network helpers that need no root: docker's
 * -p syntax, the ps PORTS text, resolv.conf from --dns flags, and the
 * networks and network_leases tables (store/db_networks). */
#include "unit.h"

#include <arpa/inet.h>

#include <jansson.h>

#include "engine/network.h"
#include "net/dns.h"
#include "store/db.h"
#include "store/db_networks.h"
#include "util/xalloc.h"

static json_t *
parse_ok (const char *spec, json_t *exposed)
{
  json_t *b = json_object ();
  pier_error *err = NULL;
  if (pier_engine_port_parse (spec, b, exposed, &err) < 0)
    fail_msg ("%s: %s", spec, err->msg);
  return b;
}

static void
expect_binding (json_t *b, const char *key, size_t i, const char *ip, const char *port)
{
  json_t *e = json_array_get (json_object_get (b, key), i);
  if (e == NULL)
    fail_msg ("no binding %zu for %s", i, key);
  assert_string_equal (json_string_value (json_object_get (e, "HostIp")), ip);
  assert_string_equal (json_string_value (json_object_get (e, "HostPort")), port);
}

static void
test_port_forms (void **state)
{
  (void) state;
  json_t *exp = json_object ();
  json_t *b = parse_ok ("8080:80", exp);
  expect_binding (b, "80/tcp", 0, "", "8080");
  json_decref (b);
  b = parse_ok ("127.0.0.1:9000:90/udp", exp);
  expect_binding (b, "90/udp", 0, "127.0.0.1", "9000");
  json_decref (b);
  b = parse_ok ("70", exp);
  expect_binding (b, "70/tcp", 0, "", "");
  json_decref (b);
  b = parse_ok ("127.0.0.1::71", exp);
  expect_binding (b, "71/tcp", 0, "127.0.0.1", "");
  json_decref (b);
  /* Ranges: one binding per port, host ports in step. */
  b = parse_ok ("7000-7002:8000-8002", exp);
  expect_binding (b, "8000/tcp", 0, "", "7000");
  expect_binding (b, "8002/tcp", 0, "", "7002");
  json_decref (b);
  /* A host range for one container port: picked at start. */
  b = parse_ok ("7000-7010:80", exp);
  expect_binding (b, "80/tcp", 0, "", "7000-7010");
  json_decref (b);
  assert_non_null (json_object_get (exp, "90/udp"));
  assert_non_null (json_object_get (exp, "8001/tcp"));
  json_decref (exp);
}

static void
test_port_errors (void **state)
{
  (void) state;
  static const struct
  {
    const char *spec, *msg;
  } bad[] = {
    { "1:2:3:4", "invalid port format" },
    { "abc", "invalid containerPort" },
    { "x:80", "invalid hostPort" },
    { "1.2.3.999:80:80", "invalid IP address" },
    { "80/xyz", "invalid proto" },
    { "0", "invalid containerPort" },
    { "70000", "invalid containerPort" },
    { "1-3:5-6", "invalid ranges" },
    { "[::1]:80:80", "IPv6" },
    { "80/sctp", "sctp" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      json_t *b = json_object ();
      pier_error *err = NULL;
      if (pier_engine_port_parse (bad[i].spec, b, NULL, &err) == 0)
        fail_msg ("%s was accepted", bad[i].spec);
      assert_err_contains (err, bad[i].msg);
      pier_error_free (&err);
      json_decref (b);
    }
}

static void
test_ports_string (void **state)
{
  (void) state;
  json_t *obj = json_loads ("{\"NetworkSettings\": {\"Ports\": {\"80/tcp\": [{\"HostIp\": \"0.0.0.0\", "
                            "\"HostPort\": \"8080\"}, {\"HostIp\": \"127.0.0.1\", \"HostPort\": \"9\"}], "
                            "\"443/tcp\": null}}}",
                            0, NULL);
  char *s = pier_engine_ports_string (obj);
  assert_string_equal (s, "0.0.0.0:8080->80/tcp, 127.0.0.1:9->80/tcp, 443/tcp");
  free (s);
  json_decref (obj);
}

static void
test_resolv_conf (void **state)
{
  (void) state;
  const char *host = "# generated\nnameserver 10.0.0.1\nsearch corp\noptions ndots:2\n";
  json_t *hc = json_loads ("{}", 0, NULL);
  char *s = pier_engine_net_resolv_conf (hc, host);
  assert_string_equal (s, host);
  free (s);
  json_decref (hc);
  hc = json_loads ("{\"Dns\": [\"1.1.1.1\", \"9.9.9.9\"], \"DnsSearch\": [\"a.test\", \"b.test\"]}", 0, NULL);
  s = pier_engine_net_resolv_conf (hc, host);
  assert_string_equal (s, "# generated\noptions ndots:2\nnameserver 1.1.1.1\nnameserver 9.9.9.9\n"
                          "search a.test b.test\n");
  free (s);
  json_decref (hc);
}

static void
test_db_networks_and_leases (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_db *db = NULL;
  char *path = xasprintf ("%s/pier.db", unit_dir);
  if (pier_db_open (path, &db, &err) < 0)
    fail_msg ("%s", err->msg);
  char ida[65], idb[65];
  memset (ida, 'a', 64);
  memset (idb, 'b', 64);
  ida[64] = idb[64] = '\0';
  pier_db_network na = { ida, (char *) "front", 1, (char *) "{}" };
  pier_db_network nb = { idb, (char *) "back", 2, (char *) "{}" };
  assert_int_equal (pier_db_network_add (db, &na, &err), 0);
  assert_int_equal (pier_db_network_add (db, &nb, &err), 0);
  pier_db_network dup = { (char *) "c", (char *) "front", 3, (char *) "{}" };
  assert_int_equal (pier_db_network_add (db, &dup, &err), -1);
  assert_int_equal (err->code, EEXIST);
  pier_error_free (&err);
  char *id = NULL;
  assert_int_equal (pier_db_network_find (db, "back", &id, &err), 0);
  assert_string_equal (id, idb);
  free (id);
  assert_int_equal (pier_db_network_find (db, "aaa", &id, &err), 0);
  assert_string_equal (id, ida);
  free (id);
  assert_int_equal (pier_db_network_find (db, "nope", &id, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  /* Leases: an address once per network; released per container. */
  assert_int_equal (pier_db_lease_add (db, ida, "10.1.0.2", "c1", &err), 0);
  assert_int_equal (pier_db_lease_add (db, ida, "10.1.0.2", "c2", &err), -1);
  assert_int_equal (err->code, EEXIST);
  pier_error_free (&err);
  assert_int_equal (pier_db_lease_add (db, idb, "10.1.0.2", "c2", &err), 0);
  assert_int_equal (pier_db_lease_add (db, ida, "10.1.0.3", "c2", &err), 0);
  pier_db_lease *ls = NULL;
  size_t n = 0;
  assert_int_equal (pier_db_lease_list (db, NULL, "c2", &ls, &n, &err), 0);
  assert_int_equal (n, 2);
  pier_db_leases_free (ls, n);
  assert_int_equal (pier_db_lease_release (db, "c2", ida, &err), 0);
  assert_int_equal (pier_db_lease_list (db, ida, NULL, &ls, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (ls[0].container_id, "c1");
  pier_db_leases_free (ls, n);
  /* A network's leases go with it. */
  assert_int_equal (pier_db_network_delete (db, idb, &err), 0);
  assert_int_equal (pier_db_lease_list (db, NULL, "c2", &ls, &n, &err), 0);
  assert_int_equal (n, 0);
  pier_db_leases_free (ls, n);
  assert_int_equal (pier_db_network_delete (db, idb, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  pier_db_network *list = NULL;
  assert_int_equal (pier_db_network_list (db, &list, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (list[0].name, "front");
  pier_db_networks_free (list, n);
  pier_db_close (db);
  free (path);
}

static void
test_dns_wire (void **state)
{
  (void) state;
  /* id 0x1234, RD, one question: Db.Example. A IN */
  static const uint8_t q[] = { 0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0,   0, 0, 0, 2, 'D',
                               'b',  7,    'E',  'x',  'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1 };
  pier_dns_question dq;
  assert_int_equal (pier_dns_parse_query (q, sizeof q, &dq), 0);
  assert_string_equal (dq.name, "db.example");
  assert_int_equal (dq.id, 0x1234);
  assert_int_equal (dq.qtype, PIER_DNS_TYPE_A);
  assert_int_equal (dq.end, sizeof q);
  struct in_addr a[2] = { { htonl (0x0a000002) }, { htonl (0x0a000003) } };
  uint8_t out[512];
  size_t n = pier_dns_answer (q, &dq, PIER_DNS_NOERROR, a, 2, 600, out, sizeof out);
  assert_int_equal (n, sizeof q + 32);
  assert_int_equal (out[0], 0x12);
  assert_int_equal (out[2], 0x85); /* QR, AA, RD */
  assert_int_equal (out[3], 0x80); /* RA, NOERROR */
  assert_int_equal (out[7], 2);    /* two answers */
  assert_int_equal (out[sizeof q], 0xc0);
  assert_int_equal (out[sizeof q + 1], 0x0c);
  assert_memory_equal (out + sizeof q + 12, &a[0].s_addr, 4);
  assert_memory_equal (out + sizeof q + 28, &a[1].s_addr, 4);
  n = pier_dns_answer (q, &dq, PIER_DNS_NXDOMAIN, NULL, 0, 600, out, sizeof out);
  assert_int_equal (n, sizeof q);
  assert_int_equal (out[3] & 0xf, PIER_DNS_NXDOMAIN);
  assert_int_equal (pier_dns_answer (q, &dq, 0, a, 2, 600, out, sizeof q + 20), 0);
  /* Refused: a response, two questions, a truncated name, a pointer. */
  uint8_t bad[sizeof q];
  memcpy (bad, q, sizeof q);
  bad[2] |= 0x80;
  assert_int_equal (pier_dns_parse_query (bad, sizeof bad, &dq), -1);
  memcpy (bad, q, sizeof q);
  bad[5] = 2;
  assert_int_equal (pier_dns_parse_query (bad, sizeof bad, &dq), -1);
  assert_int_equal (pier_dns_parse_query (q, 20, &dq), -1);
  memcpy (bad, q, sizeof q);
  bad[12] = 0xc0;
  assert_int_equal (pier_dns_parse_query (bad, sizeof bad, &dq), -1);
}

static const unit_known_bug bugs[] = {};

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_port_forms),
    cmocka_unit_test (test_port_errors),
    cmocka_unit_test (test_ports_string),
    cmocka_unit_test (test_resolv_conf),
    cmocka_unit_test (test_db_networks_and_leases),
    cmocka_unit_test (test_dns_wire),
  };
  unit_dir_setup (NULL);
  int rc = UNIT_RUN (tests, bugs, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
