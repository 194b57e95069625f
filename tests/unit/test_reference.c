/* Unit tests for image/reference: parsing and normalizing docker image
 * references.  The cases follow the behaviour of docker's
 * distribution/reference package (ParseNormalizedNamed, FamiliarString);
 * every case is its own test, named after what it checks. */
#include "unit.h"

#include "image/reference.h"
#include "util/xalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX64

typedef struct good_case
{
  const char *name;
  const char *input;
  const char *domain, *path, *tag, *digest;
  const char *full;     /* pier_ref_string */
  const char *familiar; /* pier_ref_familiar */
} good_case;

static const good_case good_cases[] = {
  { "bare_name", "busybox", "docker.io", "library/busybox", "latest", NULL,
    "docker.io/library/busybox:latest", "busybox:latest" },
  { "name_and_tag", "busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
    "docker.io/library/busybox:1.36", "busybox:1.36" },
  { "library_prefix", "library/debian", "docker.io", "library/debian", "latest", NULL,
    "docker.io/library/debian:latest", "debian:latest" },
  { "user_repo", "docker/docker", "docker.io", "docker/docker", "latest", NULL,
    "docker.io/docker/docker:latest", "docker/docker:latest" },
  { "docker_io_single", "docker.io/debian", "docker.io", "library/debian", "latest", NULL,
    "docker.io/library/debian:latest", "debian:latest" },
  { "docker_io_user", "docker.io/foo/bar:1", "docker.io", "foo/bar", "1", NULL, "docker.io/foo/bar:1",
    "foo/bar:1" },
  { "legacy_index", "index.docker.io/debian", "docker.io", "library/debian", "latest", NULL,
    "docker.io/library/debian:latest", "debian:latest" },
  { "legacy_index_user", "index.docker.io/docker/docker:tag", "docker.io", "docker/docker", "tag", NULL,
    "docker.io/docker/docker:tag", "docker/docker:tag" },
  { "library_nested_keeps_prefix", "docker.io/library/foo/bar", "docker.io", "library/foo/bar", "latest",
    NULL, "docker.io/library/foo/bar:latest", "library/foo/bar:latest" },
  { "localhost_domain", "localhost/debian", "localhost", "debian", "latest", NULL, "localhost/debian:latest",
    "localhost/debian:latest" },
  { "localhost_port", "localhost:5000/foo", "localhost:5000", "foo", "latest", NULL,
    "localhost:5000/foo:latest", "localhost:5000/foo:latest" },
  { "localhost_port_tag", "localhost:5000/x:y", "localhost:5000", "x", "y", NULL, "localhost:5000/x:y",
    "localhost:5000/x:y" },
  { "ipv4_port_nested", "127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker", "latest", NULL,
    "127.0.0.1:5000/docker/docker:latest", "127.0.0.1:5000/docker/docker:latest" },
  { "ipv4_short_port", "192.168.0.1:8/debian", "192.168.0.1:8", "debian", "latest", NULL,
    "192.168.0.1:8/debian:latest", "192.168.0.1:8/debian:latest" },
  { "dotted_name_alone_is_repo", "192.168.0.1", "docker.io", "library/192.168.0.1", "latest", NULL,
    "docker.io/library/192.168.0.1:latest", "192.168.0.1:latest" },
  { "dotted_name_port_is_tag", "192.168.0.1:80", "docker.io", "library/192.168.0.1", "80", NULL,
    "docker.io/library/192.168.0.1:80", "192.168.0.1:80" },
  { "localhost_alone_is_repo", "localhost", "docker.io", "library/localhost", "latest", NULL,
    "docker.io/library/localhost:latest", "localhost:latest" },
  { "localhost_port_alone_is_tag", "localhost:5000", "docker.io", "library/localhost", "5000", NULL,
    "docker.io/library/localhost:5000", "localhost:5000" },
  { "ipv6_port", "[fc00::1]:5000/docker", "[fc00::1]:5000", "docker", "latest", NULL,
    "[fc00::1]:5000/docker:latest", "[fc00::1]:5000/docker:latest" },
  { "ipv6_no_port", "[2001:DB8::1]/repo:t", "[2001:DB8::1]", "repo", "t", NULL, "[2001:DB8::1]/repo:t",
    "[2001:DB8::1]/repo:t" },
  { "uppercase_domain", "LOCALDOMAIN/debian", "LOCALDOMAIN", "debian", "latest", NULL,
    "LOCALDOMAIN/debian:latest", "LOCALDOMAIN/debian:latest" },
  { "deep_path", "sub-dom1.foo.com/bar/baz/quux:v2", "sub-dom1.foo.com", "bar/baz/quux", "v2", NULL,
    "sub-dom1.foo.com/bar/baz/quux:v2", "sub-dom1.foo.com/bar/baz/quux:v2" },
  { "punycode_domain", "xn--n3h.com/myimage", "xn--n3h.com", "myimage", "latest", NULL,
    "xn--n3h.com/myimage:latest", "xn--n3h.com/myimage:latest" },
  { "underscore_in_repo_with_tag", "foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", NULL,
    "docker.io/library/foo_bar.com:8080", "foo_bar.com:8080" },
  { "separators", "a.b/c_d/e__f/g-h/i---j", "a.b", "c_d/e__f/g-h/i---j", "latest", NULL,
    "a.b/c_d/e__f/g-h/i---j:latest", "a.b/c_d/e__f/g-h/i---j:latest" },
  { "digits_only", "123/456", "docker.io", "123/456", "latest", NULL, "docker.io/123/456:latest",
    "123/456:latest" },
  { "long_component", "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io",
    "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "latest", NULL,
    "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest" },
  { "digest_only", "busybox@" DIGEST, "docker.io", "library/busybox", NULL, DIGEST,
    "docker.io/library/busybox@" DIGEST, "busybox@" DIGEST },
  { "tag_and_digest", "busybox:1@" DIGEST, "docker.io", "library/busybox", "1", DIGEST,
    "docker.io/library/busybox:1@" DIGEST, "busybox:1@" DIGEST },
  { "registry_digest", "localhost:5000/a/b@" DIGEST, "localhost:5000", "a/b", NULL, DIGEST,
    "localhost:5000/a/b@" DIGEST, "localhost:5000/a/b@" DIGEST },
  { "tag_mixed_case", "foo/bar:Tag_With.Caps-1", "docker.io", "foo/bar", "Tag_With.Caps-1", NULL,
    "docker.io/foo/bar:Tag_With.Caps-1", "foo/bar:Tag_With.Caps-1" },
  { "tag_leading_underscore", "foo:_x", "docker.io", "library/foo", "_x", NULL, "docker.io/library/foo:_x",
    "foo:_x" },
  { "hex_prefix_is_a_name", "abcdef", "docker.io", "library/abcdef", "latest", NULL,
    "docker.io/library/abcdef:latest", "abcdef:latest" },
};

typedef struct bad_case
{
  const char *name;
  const char *input;
  const char *frag; /* the message must mention it (and the input) */
} bad_case;

static const bad_case bad_cases[] = {
  { "empty", "", "at least one component" },
  { "uppercase_official", "Busybox", "must be lowercase" },
  { "uppercase_docker_io", "docker.io/Foo", "must be lowercase" },
  { "uppercase_user_repo", "foo/Bar", "must be lowercase" },
  { "uppercase_after_domain", "LOCALDOMAIN/Debian", "must be lowercase" },
  { "uppercase_with_tag", "example.com/Repo:tag", "(Repo) must be lowercase" },
  { "empty_tag", "busybox:", "invalid tag" },
  { "tag_leading_dash", "busybox:-x", "invalid tag `-x`" },
  { "tag_leading_dot", "busybox:.x", "invalid tag" },
  { "tag_bad_char", "busybox:a+b", "invalid tag" },
  { "double_colon", "::", "invalid tag" },
  { "empty_digest", "busybox@", "invalid digest" },
  { "short_digest", "busybox@sha256:abc", "invalid digest" },
  { "uppercase_digest", "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
    "invalid digest" },
  { "other_algorithm", "busybox@sha512:" HEX64, "invalid digest" },
  { "two_digests", "busybox@" DIGEST "@" DIGEST, "invalid digest" },
  { "image_id", HEX64, "image id" },
  { "double_slash", "a//b", "empty path component" },
  { "trailing_slash", "foo/", "empty path component" },
  { "leading_slash", "/foo", "empty path component" },
  { "domain_only", "docker.io/", "empty path component" },
  { "registry_only", "localhost:5000/", "empty path component" },
  { "leading_dash", "-foo", "invalid repository name component `-foo`" },
  { "trailing_dash", "foo-", "invalid repository name component" },
  { "double_dot", "a..b", "invalid repository name component" },
  { "triple_underscore", "a___b", "invalid repository name component" },
  { "mixed_separators", "a_.b", "invalid repository name component" },
  { "dash_then_underscore", "a-_b", "invalid repository name component" },
  { "space", "foo bar", "invalid repository name component" },
  { "dollar", "$$$", "invalid repository name component" },
  { "bad_nested_component", "example.com/ok/-bad", "component `-bad`" },
  { "label_leading_dash", "-.com/foo", "invalid registry `-.com`" },
  { "label_trailing_dash", "a-.com/foo", "invalid registry" },
  { "empty_label", "a..com/foo", "invalid registry" },
  { "empty_port", "foo.com:/bar", "invalid registry `foo.com:`" },
  { "alpha_port", "foo.com:abc/bar", "invalid registry" },
  { "two_ports", "foo.com:1:2/bar", "invalid registry" },
  { "url_scheme", "docker://quay.io/foo", "invalid registry" },
  { "underscore_domain", "foo_bar.com/x", "invalid registry" },
  { "unclosed_ipv6", "[fc00::1/foo", "invalid registry" },
  { "brackets_without_colon_are_a_path", "[]/foo", "invalid repository name component `[]`" },
  { "empty_ipv6", "[]:5000/foo", "invalid registry" },
  { "non_hex_ipv6", "[g::1]/foo", "invalid registry" },
  { "junk_after_ipv6", "[::1]x/foo", "invalid registry" },
};

static void
test_good_case (void **state)
{
  const good_case *c = *state;
  pier_error *err = NULL;
  pier_ref *r = NULL;
  if (pier_ref_parse (c->input, &r, &err) < 0)
    fail_msg ("%s: `%s` refused: %s", c->name, c->input, err->msg);
  assert_no_err (err);
  assert_string_equal (r->domain, c->domain);
  assert_string_equal (r->path, c->path);
  if (c->tag)
    assert_string_equal (r->tag, c->tag);
  else
    assert_null (r->tag);
  if (c->digest)
    assert_string_equal (r->digest, c->digest);
  else
    assert_null (r->digest);

  char *full = pier_ref_string (r), *fam = pier_ref_familiar (r), *name = pier_ref_name (r);
  assert_string_equal (full, c->full);
  assert_string_equal (fam, c->familiar);
  char *want_name = xasprintf ("%s/%s", c->domain, c->path);
  assert_string_equal (name, want_name);

  /* Both forms parse back to the same reference. */
  const char *again[] = { full, fam };
  for (size_t i = 0; i < 2; i++)
    {
      pier_ref *r2 = NULL;
      if (pier_ref_parse (again[i], &r2, &err) < 0)
        fail_msg ("%s: `%s` does not parse back: %s", c->name, again[i], err->msg);
      char *s2 = pier_ref_string (r2);
      assert_string_equal (s2, full);
      free (s2);
      pier_ref_free (r2);
    }

  pier_ref *d = pier_ref_dup (r);
  char *sd = pier_ref_string (d);
  assert_string_equal (sd, full);
  free (sd);
  pier_ref_free (d);

  free (want_name);
  free (name);
  free (fam);
  free (full);
  pier_ref_free (r);
}

static void
test_bad_case (void **state)
{
  const bad_case *c = *state;
  pier_error *err = NULL;
  pier_ref *sentinel = (pier_ref *) &err, *r = sentinel;
  int rc = pier_ref_parse (c->input, &r, &err);
  if (rc == 0)
    fail_msg ("%s: `%s` accepted", c->name, c->input);
  assert_int_equal (rc, -1);
  assert_ptr_equal (r, sentinel); /* *out untouched on failure */
  if (*c->input)
    assert_err_contains (err, c->frag, c->input);
  else
    assert_err_contains (err, c->frag);
  assert_int_equal (err->code, EINVAL);
  pier_error_free (&err);
}

/* The 255-character limit applies to the normalized name, domain included,
 * as in docker: "docker.io/" counts. */
static void
test_name_length_limit (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_ref *r = NULL;
  const char *domain = "example.com/";
  size_t room = PIER_REF_NAME_MAX - strlen (domain);
  char *path = xmalloc (room + 2);
  memset (path, 'a', room + 1);
  path[room + 1] = '\0';

  /* 256 characters: refused. */
  char *s = xasprintf ("%s%s:tag", domain, path);
  assert_int_equal (pier_ref_parse (s, &r, &err), -1);
  assert_err_contains (err, "not be more than 255 characters");
  pier_error_free (&err);
  free (s);

  /* 255 characters: accepted; the tag does not count. */
  path[room] = '\0';
  s = xasprintf ("%s%s:tag", domain, path);
  assert_int_equal (pier_ref_parse (s, &r, &err), 0);
  char *name = pier_ref_name (r);
  assert_int_equal (strlen (name), PIER_REF_NAME_MAX);
  free (name);
  pier_ref_free (r);
  free (s);

  /* docker's own long vector: 127 "a/" and an "a" is 255 characters as
   * written, but "docker.io/" is prefixed before the limit applies. */
  char *many = xmalloc (2 * 127 + 2);
  for (size_t i = 0; i < 127; i++)
    memcpy (many + 2 * i, "a/", 2);
  memcpy (many + 254, "a", 2);
  r = NULL;
  assert_int_equal (pier_ref_parse (many, &r, &err), -1);
  assert_null (r);
  assert_err_contains (err, "255 characters");
  pier_error_free (&err);
  free (many);
  free (path);
}

static void
test_tag_length_limit (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_ref *r = NULL;
  char tag[PIER_REF_TAG_MAX + 2];
  memset (tag, 'x', sizeof tag - 1);
  tag[PIER_REF_TAG_MAX] = '\0';
  char *s = xasprintf ("foo:%s", tag);
  assert_int_equal (pier_ref_parse (s, &r, &err), 0);
  assert_int_equal (strlen (r->tag), PIER_REF_TAG_MAX);
  pier_ref_free (r);
  r = NULL;
  free (s);

  tag[PIER_REF_TAG_MAX] = 'x';
  tag[PIER_REF_TAG_MAX + 1] = '\0';
  s = xasprintf ("foo:%s", tag);
  assert_int_equal (pier_ref_parse (s, &r, &err), -1);
  assert_null (r);
  assert_err_contains (err, "invalid tag");
  pier_error_free (&err);
  free (s);
}

static void
test_null_err_allowed (void **state)
{
  (void) state;
  pier_ref *r = NULL;
  assert_int_equal (pier_ref_parse ("UPPER", &r, NULL), -1);
  assert_null (r);
  assert_int_equal (pier_ref_parse (NULL, &r, NULL), -1);
  pier_ref_free (NULL);
  assert_null (pier_ref_dup (NULL));
}

static void
test_id_prefix (void **state)
{
  (void) state;
  static const struct
  {
    const char *s;
    bool want;
  } cases[] = {
    { "a", true },    { "abc123", true },   { HEX64, true },         { "sha256:abc", true },
    { DIGEST, true }, { HEX64 "0", false }, { "", false },           { "sha256:", false },
    { "ABC", false }, { "xyz", false },     { "abc:latest", false }, { "sha512:abc", false },
    { NULL, false },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (pier_ref_is_id_prefix (cases[i].s) != cases[i].want)
      fail_msg ("pier_ref_is_id_prefix (%s) should be %s", cases[i].s ? cases[i].s : "NULL",
                cases[i].want ? "true" : "false");
}

int
main (int argc, char **argv)
{
  static const struct CMUnitTest fixed[] = {
    cmocka_unit_test (test_name_length_limit),
    cmocka_unit_test (test_tag_length_limit),
    cmocka_unit_test (test_null_err_allowed),
    cmocka_unit_test (test_id_prefix),
  };
  size_t nfixed = sizeof fixed / sizeof fixed[0];
  size_t ngood = sizeof good_cases / sizeof good_cases[0], nbad = sizeof bad_cases / sizeof bad_cases[0];
  struct CMUnitTest *tests = xcalloc (nfixed + ngood + nbad, sizeof *tests);
  size_t n = 0;
  memcpy (tests, fixed, sizeof fixed);
  n += nfixed;
  for (size_t i = 0; i < ngood; i++)
    {
      struct CMUnitTest t = cmocka_unit_test_prestate (test_good_case, (void *) &good_cases[i]);
      t.name = good_cases[i].name;
      tests[n++] = t;
    }
  for (size_t i = 0; i < nbad; i++)
    {
      struct CMUnitTest t = cmocka_unit_test_prestate (test_bad_case, (void *) &bad_cases[i]);
      t.name = bad_cases[i].name;
      tests[n++] = t;
    }
  int rc = unit_run ("test_reference", tests, n, NULL, 0, argc, argv);
  free (tests);
  return rc;
}
