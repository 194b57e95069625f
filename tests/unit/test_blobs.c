/* Unit tests for store/blobs: content-addressed, verified, crash-safe and
 * safe for concurrent writers.
 *
 * Built twice: as is (O_TMPFILE on the test's filesystem) and with
 * UNIT_BLOBS_NO_TMPFILE, where a seccomp filter makes every O_TMPFILE open
 * fail with EOPNOTSUPP, as on filesystems without it, so the named-tmp
 * path is held to the same tests. */
#include "unit.h"

#include "store/blobs.h"
#include "util/digest.h"
#include "util/xalloc.h"

#ifdef UNIT_BLOBS_NO_TMPFILE
#include <seccomp.h>
#endif

typedef struct fx
{
  char *root;
  pier_store *st;
} fx;

static int
fx_setup (void **state)
{
  static int n;
  pier_error *err = NULL;
  fx *f = xzalloc (sizeof *f);
  f->root = xasprintf ("%s/store-%d", unit_dir, n++);
  if (pier_store_open (f->root, &f->st, &err) < 0)
    fail_msg ("cannot open the store: %s", err->msg);
  *state = f;
  return 0;
}

static int
fx_teardown (void **state)
{
  fx *f = *state;
  pier_store_close (f->st);
  unit_rmrf (f->root);
  free (f->root);
  free (f);
  return 0;
}

static char *
digest_of (const void *data, size_t len)
{
  char hex[PIER_SHA256_HEX_LEN + 1];
  pier_sha256_hex (data, len, hex);
  return xasprintf ("sha256:%s", hex);
}

/* Entries of a store subdirectory, "." and ".." aside. */
static int
count_entries (const fx *f, const char *rel)
{
  char *p = xasprintf ("%s/%s", f->root, rel);
  DIR *d = opendir (p);
  int n = 0;
  struct dirent *de;
  if (d == NULL)
    fail_msg ("cannot open %s: %s", p, strerror (errno));
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      n++;
  closedir (d);
  free (p);
  return n;
}

static char *
blob_path (const fx *f, const char *digest)
{
  return xasprintf ("%s/blobs/sha256/%s", f->root, digest + 7);
}

static void
test_put_and_read_back (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  const char data[] = "hello, blob";
  char *want = digest_of (data, strlen (data));
  char *got = NULL;
  uint64_t size = 0;

  assert_int_equal (pier_blob_exists (f->st, want, &err), 0);
  assert_int_equal (pier_blob_put (f->st, data, strlen (data), want, &got, &err), 0);
  assert_no_err (err);
  assert_string_equal (got, want);
  assert_int_equal (pier_blob_exists (f->st, want, &err), 1);
  assert_int_equal (pier_blob_size (f->st, want, &size, &err), 0);
  assert_int_equal (size, strlen (data));
  assert_int_equal (pier_blob_verify (f->st, want, &err), 0);
  assert_no_err (err);

  int fd = pier_blob_open (f->st, want, &err);
  assert_true (fd >= 0);
  assert_true (fcntl (fd, F_GETFD) & FD_CLOEXEC);
  assert_int_equal (fcntl (fd, F_GETFL) & O_ACCMODE, O_RDONLY);
  char *content = unit_read_fd (fd);
  assert_string_equal (content, data);
  close (fd);

  /* Blobs are immutable: read-only on disk. */
  struct stat sb;
  char *p = blob_path (f, want);
  assert_int_equal (stat (p, &sb), 0);
  assert_int_equal (sb.st_mode & 0222, 0);
  assert_int_equal (count_entries (f, "tmp"), 0);

  free (p);
  free (content);
  free (got);
  free (want);
}

static void
test_streaming_writer (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  size_t len = 3 * 1024 * 1024 + 17;
  unsigned char *data = xmalloc (len);
  char *got = NULL;

  for (size_t i = 0; i < len; i++)
    data[i] = (unsigned char) (i * 7 + (i >> 11));
  char *want = digest_of (data, len);
  pier_blob_writer *w = pier_blob_begin (f->st, &err);
  assert_non_null (w);
  for (size_t off = 0; off < len; off += 65537)
    assert_int_equal (pier_blob_write (w, data + off, off + 65537 > len ? len - off : 65537, &err), 0);
  assert_int_equal (pier_blob_written (w), len);
  /* Without an expected digest the writer says what it was. */
  assert_int_equal (pier_blob_commit (w, NULL, &got, &err), 0);
  assert_no_err (err);
  assert_string_equal (got, want);
  assert_int_equal (pier_blob_verify (f->st, want, &err), 0);
  free (got);
  free (want);
  free (data);
}

static void
test_mismatch_leaves_nothing (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  const char data[] = "the real content";
  char *real = digest_of (data, strlen (data));
  char *claimed = digest_of ("something else", 14);
  char *got = NULL;

  assert_int_equal (pier_blob_put (f->st, data, strlen (data), claimed, &got, &err), -1);
  assert_null (got);
  assert_err_contains (err, "does not match", claimed, real);
  assert_int_equal (err->code, EBADMSG);
  pier_error_free (&err);
  assert_int_equal (pier_blob_exists (f->st, claimed, &err), 0);
  assert_int_equal (pier_blob_exists (f->st, real, &err), 0);
  assert_int_equal (count_entries (f, "blobs/sha256"), 0);
  assert_int_equal (count_entries (f, "tmp"), 0);
  free (claimed);
  free (real);
}

static void
test_dedup (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  const char data[] = "same bytes twice";
  char *want = digest_of (data, strlen (data));
  char *p = blob_path (f, want);
  struct stat first, second;

  assert_int_equal (pier_blob_put (f->st, data, strlen (data), want, NULL, &err), 0);
  assert_int_equal (stat (p, &first), 0);
  assert_int_equal (pier_blob_put (f->st, data, strlen (data), want, NULL, &err), 0);
  assert_int_equal (pier_blob_put (f->st, data, strlen (data), NULL, NULL, &err), 0);
  assert_no_err (err);
  assert_int_equal (stat (p, &second), 0);
  /* The blob in place is left as it was: its readers keep their inode. */
  assert_int_equal (first.st_ino, second.st_ino);
  assert_int_equal (count_entries (f, "blobs/sha256"), 1);
  assert_int_equal (count_entries (f, "tmp"), 0);
  free (p);
  free (want);
}

static void
test_abort_leaves_nothing (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  pier_blob_writer *w = pier_blob_begin (f->st, &err);
  assert_non_null (w);
  assert_int_equal (pier_blob_write (w, "partial", 7, &err), 0);
  pier_blob_abort (w);
  pier_blob_abort (NULL);
  assert_int_equal (count_entries (f, "tmp"), 0);
  assert_int_equal (count_entries (f, "blobs/sha256"), 0);
}

static void
test_bad_digests_refused (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  const char *bad[] = {
    "sha256:../../../../etc/passwd",
    "sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
    "sha256:abc",
    "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "",
  };
  uint64_t size;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      assert_int_equal (pier_blob_open (f->st, bad[i], &err), -1);
      assert_err_contains (err, "not a valid digest");
      assert_int_equal (err->code, EINVAL);
      pier_error_free (&err);
      assert_int_equal (pier_blob_exists (f->st, bad[i], &err), -1);
      pier_error_free (&err);
      assert_int_equal (pier_blob_size (f->st, bad[i], &size, &err), -1);
      pier_error_free (&err);
      assert_int_equal (pier_blob_verify (f->st, bad[i], &err), -1);
      pier_error_free (&err);
      assert_int_equal (pier_blob_delete (f->st, bad[i], &err), -1);
      pier_error_free (&err);
      assert_int_equal (pier_blob_put (f->st, "x", 1, bad[i], NULL, &err), -1);
      assert_err_contains (err, "not a valid digest");
      pier_error_free (&err);
    }
  assert_int_equal (pier_blob_open (f->st, NULL, &err), -1);
  pier_error_free (&err);
  assert_int_equal (count_entries (f, "tmp"), 0);
  assert_int_equal (count_entries (f, "blobs/sha256"), 0);
}

static void
test_verify_finds_corruption (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  const char data[] = "pristine";
  char *want = digest_of (data, strlen (data));
  char *p = blob_path (f, want);

  assert_int_equal (pier_blob_put (f->st, data, strlen (data), want, NULL, &err), 0);
  assert_int_equal (chmod (p, 0644), 0);
  unit_write (p, "tampered");
  assert_int_equal (pier_blob_verify (f->st, want, &err), -1);
  assert_err_contains (err, want, "corrupt");
  assert_int_equal (err->code, EBADMSG);
  pier_error_free (&err);
  free (p);
  free (want);
}

static void
test_delete (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *d = NULL;
  uint64_t size;

  assert_int_equal (pier_blob_put (f->st, "doomed", 6, NULL, &d, &err), 0);
  assert_int_equal (pier_blob_delete (f->st, d, &err), 0);
  assert_no_err (err);
  assert_int_equal (pier_blob_exists (f->st, d, &err), 0);
  assert_int_equal (pier_blob_delete (f->st, d, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "cannot delete blob", d);
  pier_error_free (&err);
  assert_int_equal (pier_blob_open (f->st, d, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  assert_int_equal (pier_blob_size (f->st, d, &size, &err), -1);
  pier_error_free (&err);
  free (d);
}

#define N_WRITERS 8
#define SHARED_LEN (512 * 1024)

static unsigned char *
shared_content (void)
{
  unsigned char *b = xmalloc (SHARED_LEN);
  for (size_t i = 0; i < SHARED_LEN; i++)
    b[i] = (unsigned char) (i % 251);
  return b;
}

/* Child: its own store handle (no sqlite across fork), the shared blob in
 * small chunks so that writers interleave, then its own blob. */
static int
writer_child (const char *root, int k)
{
  pier_error *err = NULL;
  pier_store *st = NULL;
  unsigned char *shared = shared_content ();
  char *mine = xasprintf ("blob of writer %d", k);
  char *want = digest_of (shared, SHARED_LEN);
  int ok = 0;

  if (pier_store_open (root, &st, &err) < 0)
    goto out;
  for (int round = 0; round < 3; round++)
    {
      pier_blob_writer *w = pier_blob_begin (st, &err);
      if (w == NULL)
        goto out;
      for (size_t off = 0; off < SHARED_LEN; off += 4096)
        if (pier_blob_write (w, shared + off, 4096, &err) < 0)
          {
            pier_blob_abort (w);
            goto out;
          }
      if (pier_blob_commit (w, want, NULL, &err) < 0)
        goto out;
      if (pier_blob_put (st, mine, strlen (mine), NULL, NULL, &err) < 0)
        goto out;
    }
  ok = 1;
out:
  if (err)
    fprintf (stderr, "writer %d: %s\n", k, err->msg);
  pier_error_free (&err);
  pier_store_close (st);
  free (want);
  free (mine);
  free (shared);
  return ok ? 0 : 1;
}

static void
test_concurrent_writers (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  pid_t pids[N_WRITERS];

  fflush (NULL);
  for (int k = 0; k < N_WRITERS; k++)
    {
      pids[k] = fork ();
      assert_true (pids[k] >= 0);
      if (pids[k] == 0)
        _exit (writer_child (f->root, k));
    }
  for (int k = 0; k < N_WRITERS; k++)
    {
      int status = 0;
      assert_int_equal (waitpid (pids[k], &status, 0), pids[k]);
      if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fail_msg ("writer %d failed (status %#x)", k, status);
    }

  unsigned char *shared = shared_content ();
  char *d = digest_of (shared, SHARED_LEN);
  assert_int_equal (pier_blob_verify (f->st, d, &err), 0);
  assert_no_err (err);
  free (d);
  free (shared);
  for (int k = 0; k < N_WRITERS; k++)
    {
      char *mine = xasprintf ("blob of writer %d", k);
      d = digest_of (mine, strlen (mine));
      assert_int_equal (pier_blob_verify (f->st, d, &err), 0);
      assert_no_err (err);
      free (d);
      free (mine);
    }
  assert_int_equal (count_entries (f, "blobs/sha256"), N_WRITERS + 1);
  assert_int_equal (count_entries (f, "tmp"), 0);
}

/* A writer killed half-way leaves no blob, and at most a tmp entry that
 * the next open removes. */
static void
test_crashed_writer_cleaned (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  pier_store *st = NULL;
  int ready[2];

  assert_int_equal (pipe2 (ready, O_CLOEXEC), 0);
  fflush (NULL);
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      pier_blob_writer *w = pier_blob_begin (f->st, NULL);
      if (w == NULL || pier_blob_write (w, "half", 4, NULL) < 0)
        _exit (1);
      if (write (ready[1], "r", 1) != 1)
        _exit (1);
      pause ();
      _exit (1);
    }
  close (ready[1]);
  char c;
  assert_int_equal (read (ready[0], &c, 1), 1);
  close (ready[0]);
#ifdef UNIT_BLOBS_NO_TMPFILE
  assert_int_equal (count_entries (f, "tmp"), 1);
#else
  assert_int_equal (count_entries (f, "tmp"), 0);
#endif
  /* While the writer lives its entry is not stale. */
  assert_int_equal (pier_store_clean_tmp (f->st, &err), 0);
  kill (pid, SIGKILL);
  int status;
  assert_int_equal (waitpid (pid, &status, 0), pid);

  assert_int_equal (pier_store_open (f->root, &st, &err), 0);
  assert_no_err (err);
  assert_int_equal (count_entries (f, "tmp"), 0);
  assert_int_equal (count_entries (f, "blobs/sha256"), 0);
  pier_store_close (st);
}

#ifdef UNIT_BLOBS_NO_TMPFILE
/* The filter is in place: writers really use named tmp files here. */
static void
test_fallback_is_active (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  int fd = openat (pier_store_tmp_fd (f->st), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  assert_int_equal (fd, -1);
  assert_int_equal (errno, EOPNOTSUPP);
  pier_blob_writer *w = pier_blob_begin (f->st, &err);
  assert_non_null (w);
  assert_int_equal (count_entries (f, "tmp"), 1);
  pier_blob_abort (w);
  assert_int_equal (count_entries (f, "tmp"), 0);
}
#endif

static const unit_known_bug bugs[] = {};

#define BLOB_TEST(t) cmocka_unit_test_setup_teardown (t, fx_setup, fx_teardown)

int
main (int argc, char **argv)
{
#ifdef UNIT_BLOBS_NO_TMPFILE
  /* O_TMPFILE is __O_TMPFILE | O_DIRECTORY; the first bit alone marks it. */
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);
  if (ctx == NULL
      || seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EOPNOTSUPP), SCMP_SYS (openat), 1,
                           SCMP_A2 (SCMP_CMP_MASKED_EQ, __O_TMPFILE, __O_TMPFILE))
             < 0
      || seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EOPNOTSUPP), SCMP_SYS (open), 1,
                           SCMP_A1 (SCMP_CMP_MASKED_EQ, __O_TMPFILE, __O_TMPFILE))
             < 0
      || seccomp_load (ctx) < 0)
    {
      fprintf (stderr, "cannot install the seccomp filter hiding O_TMPFILE\n");
      return 1;
    }
  seccomp_release (ctx);
#endif
  const struct CMUnitTest tests[] = {
#ifdef UNIT_BLOBS_NO_TMPFILE
    BLOB_TEST (test_fallback_is_active),
#endif
    BLOB_TEST (test_put_and_read_back),       BLOB_TEST (test_streaming_writer),
    BLOB_TEST (test_mismatch_leaves_nothing), BLOB_TEST (test_dedup),
    BLOB_TEST (test_abort_leaves_nothing),    BLOB_TEST (test_bad_digests_refused),
    BLOB_TEST (test_verify_finds_corruption), BLOB_TEST (test_delete),
    BLOB_TEST (test_concurrent_writers),      BLOB_TEST (test_crashed_writer_cleaned),
  };
  unit_dir_setup (NULL);
  int rc = UNIT_RUN (tests, bugs, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
