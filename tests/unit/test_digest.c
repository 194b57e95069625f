/* Unit tests for util/digest: SHA-256 against the FIPS 180-2 vectors. */
#include "unit.h"

#include "util/digest.h"
#include "util/xalloc.h"

static const struct
{
  const char *input;
  const char *hex;
} vectors[] = {
  { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
  { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
  { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};

static const char million_a[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

static void
test_known_vectors (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
    {
      char hex[PIER_SHA256_HEX_LEN + 1];
      memset (hex, 'X', sizeof hex);
      pier_sha256_hex (vectors[i].input, strlen (vectors[i].input), hex);
      assert_string_equal (hex, vectors[i].hex);
    }
}

static void
test_streaming_matches_one_shot (void **state)
{
  (void) state;
  char hex[PIER_SHA256_HEX_LEN + 1];
  char chunk[1000];
  memset (chunk, 'a', sizeof chunk);
  /* One million 'a' in uneven pieces. */
  pier_sha256 *h = pier_sha256_new ();
  size_t left = 1000000;
  for (size_t step = 1; left > 0; step = step % 997 + 3)
    {
      size_t n = step < left ? step : left;
      pier_sha256_update (h, chunk, n);
      left -= n;
    }
  pier_sha256_final (h, hex);
  assert_string_equal (hex, million_a);
}

static void
test_fd_digests_from_current_offset (void **state)
{
  (void) state;
  char *dir = unit_mkdtemp ();
  char *path = xasprintf ("%s/f", dir);
  char hex[PIER_SHA256_HEX_LEN + 1];
  pier_error *err = NULL;

  unit_write (path, "xyzabc");
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (lseek (fd, 3, SEEK_SET), 3);
  assert_int_equal (pier_sha256_fd (fd, hex, &err), 0);
  assert_no_err (err);
  assert_string_equal (hex, vectors[1].hex); /* sha256("abc") */
  close (fd);

  /* A directory cannot be read: the error says so. */
  fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (pier_sha256_fd (fd, hex, &err), -1);
  assert_int_equal (err->code, EISDIR);
  assert_err_contains (err, "cannot read");
  pier_error_free (&err);
  close (fd);

  unit_rmrf (dir);
  free (path);
  free (dir);
}

static void
test_digest_valid (void **state)
{
  (void) state;
  char buf[128];
  snprintf (buf, sizeof buf, "sha256:%s", vectors[0].hex);
  assert_true (pier_digest_valid (buf));

  const char *bad[] = {
    NULL,
    "",
    "sha256:",
    vectors[0].hex, /* no algorithm */
    "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",  /* uppercase */
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",   /* 63 */
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", /* 65 */
    "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/",
    "sha256:../../../../../../../../../../../../../../../../../../../../../etc",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (pier_digest_valid (bad[i]))
      fail_msg ("`%s` accepted as a digest", bad[i] ? bad[i] : "(null)");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_known_vectors),
    cmocka_unit_test (test_streaming_matches_one_shot),
    cmocka_unit_test (test_fd_digests_from_current_offset),
    cmocka_unit_test (test_digest_valid),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
