/* Unit tests for registry/: docker's config.json keys and credentials,
 * logout, and the error texts docker prints for registry answers and
 * failed connections.  No network: what talks to a registry is covered by
 * tests/system/test_registry.py. */
#include "unit.h"

#include <sys/stat.h>

#include "registry/client.h"
#include "registry/registry.h"
#include "util/xalloc.h"

static void
test_auth_key (void **state)
{
  (void) state;
  const char *cases[][2] = {
    { NULL, "https://index.docker.io/v1/" },
    { "", "https://index.docker.io/v1/" },
    { "docker.io", "https://index.docker.io/v1/" },
    { "index.docker.io", "https://index.docker.io/v1/" },
    { "https://index.docker.io/v1/", "https://index.docker.io/v1/" },
    { "registry-1.docker.io", "https://index.docker.io/v1/" },
    { "127.0.0.1:5000", "127.0.0.1:5000" },
    { "http://127.0.0.1:5000/v2/", "127.0.0.1:5000" },
    { "https://registry.example/some/path", "registry.example" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char *k = pier_registry_auth_key (cases[i][0]);
      if (strcmp (k, cases[i][1]) != 0)
        fail_msg ("key of `%s` is `%s`, want `%s`", cases[i][0] ? cases[i][0] : "(null)", k, cases[i][1]);
      free (k);
    }
}

static void
write_config (const char *dir, const char *text)
{
  char *p = xasprintf ("%s/config.json", dir);
  FILE *f = fopen (p, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
  free (p);
}

static void
test_lookup_credentials (void **state)
{
  (void) state;
  char *dir = unit_mkdtemp ();
  pier_registry_opts o = { .config_dir = dir };
  pier_error *err = NULL;
  char *user = NULL, *pw = NULL;

  /* No file: no credentials, no error. */
  assert_int_equal (reg_auth_lookup (&o, "127.0.0.1:5000", &user, &pw, &err), 0);
  assert_null (user);
  assert_null (pw);

  /* "alice:pa:ss" (a colon in the password), under docker's other spelling. */
  write_config (dir, "{\"auths\": {\"http://127.0.0.1:5000/v2/\": {\"auth\": \"YWxpY2U6cGE6c3M=\"},"
                     " \"https://index.docker.io/v1/\": {\"auth\": \"Ym9iOng=\"}}}");
  assert_int_equal (reg_auth_lookup (&o, "127.0.0.1:5000", &user, &pw, &err), 0);
  assert_no_err (err);
  assert_string_equal (user, "alice");
  assert_string_equal (pw, "pa:ss");
  free (user);
  free (pw);
  assert_int_equal (reg_auth_lookup (&o, "https://index.docker.io/v1/", &user, &pw, &err), 0);
  assert_string_equal (user, "bob");
  assert_string_equal (pw, "x");
  free (user);
  free (pw);
  assert_int_equal (reg_auth_lookup (&o, "other:1", &user, &pw, &err), 0);
  assert_null (user);

  write_config (dir, "{\"auths\": {\"127.0.0.1:5000\": {\"auth\": \"bm9jb2xvbg==\"}}}");
  assert_int_equal (reg_auth_lookup (&o, "127.0.0.1:5000", &user, &pw, &err), -1);
  assert_err_contains (err, "not user:password");
  pier_error_free (&err);
  unit_rmrf (dir);
  free (dir);
}

static void
test_logout (void **state)
{
  (void) state;
  char *dir = unit_mkdtemp ();
  pier_registry_opts o = { .config_dir = dir };
  pier_error *err = NULL;
  write_config (dir, "{\"auths\": {\"127.0.0.1:5000\": {\"auth\": \"YTpi\"}, \"http://127.0.0.1:5000\": "
                     "{\"auth\": \"YTpi\"}, \"keep:1\": {\"auth\": \"YTpi\"}}, \"psFormat\": \"x\"}");
  assert_int_equal (pier_registry_logout ("127.0.0.1:5000", &o, &err), 0);
  assert_no_err (err);
  char *p = xasprintf ("%s/config.json", dir);
  struct stat st;
  assert_int_equal (stat (p, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);
  FILE *f = fopen (p, "r");
  char buf[4096] = "";
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose (f);
  assert_null (strstr (buf, "127.0.0.1:5000"));
  assert_non_null (strstr (buf, "keep:1"));
  assert_non_null (strstr (buf, "psFormat")); /* the rest of docker's file stays */
  assert_int_equal (pier_registry_logout ("127.0.0.1:5000", &o, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "Not logged in to 127.0.0.1:5000");
  pier_error_free (&err);
  free (p);
  unit_rmrf (dir);
  free (dir);
}

static void
test_error_texts (void **state)
{
  (void) state;
  reg_resp r = { 0 };
  r.status = 404;
  r.body = xstrdup (
      "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\",\"detail\":{}}]}");
  r.len = strlen (r.body);
  char *t = reg_error_text (&r);
  assert_string_equal (t, "manifest unknown: manifest unknown");
  free (t);
  free (r.body);
  r.body = xstrdup (
      "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known to registry\"}]}");
  r.len = strlen (r.body);
  t = reg_error_text (&r);
  assert_string_equal (t, "name unknown: repository name not known to registry");
  free (t);
  free (r.body);
  r.body = xstrdup ("{\"details\":\"incorrect username or password\"}");
  r.len = strlen (r.body);
  t = reg_error_text (&r);
  assert_string_equal (t, "incorrect username or password");
  free (t);
  free (r.body);
  r.body = NULL;
  r.len = 0;
  r.status = 401; /* a HEAD answer: no body */
  t = reg_error_text (&r);
  assert_string_equal (t, "unauthorized: authentication required");
  free (t);
  r.status = 502;
  t = reg_error_text (&r);
  assert_string_equal (t, "unexpected status 502");
  free (t);

  pier_error *err = NULL;
  reg_transfer_error (&err, "Get", "http://127.0.0.1:5999/v2/", CURLE_COULDNT_CONNECT, ECONNREFUSED, "");
  assert_err_contains (
      err, "Get \"http://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused");
  pier_error_free (&err);
  reg_transfer_error (&err, "Head", "https://reg.example/v2/x", CURLE_PEER_FAILED_VERIFICATION, 0,
                      "SSL certificate problem: self-signed certificate in certificate chain");
  assert_err_contains (err,
                       "Head \"https://reg.example/v2/x\": x509: certificate signed by unknown authority");
  pier_error_free (&err);
}

static void
test_registries_file (void **state)
{
  (void) state;
  char *dir = unit_mkdtemp ();
  char *path = xasprintf ("%s/registries.json", dir);
  pier_registry_opts o = { .registries_conf = path };
  pier_error *err = NULL;
  json_t *conf = NULL;

  assert_int_equal (reg_conf_load (&o, &conf, &err), 0); /* absent: empty */
  assert_false (reg_conf_insecure (conf, "x:1"));
  assert_null (reg_conf_mirrors (conf, "docker.io"));
  json_decref (conf);

  FILE *f = fopen (path, "w");
  fputs ("{\"insecure-registries\": [\"http://x:1\"], \"registry-mirrors\": [\"https://hub-mirror\"],"
         " \"mirrors\": {\"docker.io\": [\"http://m2:5000\"], \"x:1\": [\"https://m3\"]}}",
         f);
  fclose (f);
  assert_int_equal (reg_conf_load (&o, &conf, &err), 0);
  assert_no_err (err);
  assert_true (reg_conf_insecure (conf, "x:1"));
  assert_false (reg_conf_insecure (conf, "x:2"));
  char **m = reg_conf_mirrors (conf, "docker.io");
  assert_int_equal (strv_len (m), 2);
  assert_string_equal (m[0], "https://hub-mirror");
  assert_string_equal (m[1], "http://m2:5000");
  strv_free (m);
  m = reg_conf_mirrors (conf, "x:1");
  assert_int_equal (strv_len (m), 1);
  strv_free (m);
  json_decref (conf);

  const char *bad[] = { "[1]", "{\"insecure-registries\": \"x\"}", "{\"registry-mirrors\": [\"ftp://m\"]}",
                        "{\"mirrors\": {\"x\": \"http://m\"}}", "{oops" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      f = fopen (path, "w");
      fputs (bad[i], f);
      fclose (f);
      conf = NULL;
      if (reg_conf_load (&o, &conf, &err) == 0)
        fail_msg ("`%s` accepted as a registries file", bad[i]);
      assert_err_contains (err, "registries file");
      pier_error_free (&err);
    }
  free (path);
  unit_rmrf (dir);
  free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_auth_key),        cmocka_unit_test (test_lookup_credentials),
    cmocka_unit_test (test_logout),          cmocka_unit_test (test_error_texts),
    cmocka_unit_test (test_registries_file),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
