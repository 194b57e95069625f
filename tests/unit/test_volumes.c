/* Unit tests for volumes: the volumes table (store/db_volumes), docker's
 * volume name rule, the local driver's options, and copy-up (what a new
 * volume takes from the image: owners, modes, symlinks, hard links,
 * special files, extended attributes). */
#include "unit.h"

#include <sys/xattr.h>

#include "engine/volumes.h"
#include "engine/volumes_int.h"
#include "store/db.h"
#include "store/db_volumes.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <sys/mount.h>

static void
test_db_volumes (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_db *db = NULL;
  cleanup_free char *path = xasprintf ("%s/vol.db", unit_dir);
  if (pier_db_open (path, &db, &err) < 0)
    fail_msg ("open: %s", err->msg);
  pier_db_volume a = { (char *) "alpha", (char *) "local", 2000, false, (char *) "{\"k\":\"v\"}", NULL };
  pier_db_volume b = { (char *) "beta", (char *) "local", 1000, true, NULL, NULL };
  assert_int_equal (pier_db_volume_add (db, &b, &err), 0);
  assert_int_equal (pier_db_volume_add (db, &a, &err), 0);
  assert_no_err (err);
  assert_int_equal (pier_db_volume_add (db, &a, &err), -1);
  assert_int_equal (err->code, EEXIST);
  pier_error_free (&err);

  pier_db_volume *got = NULL;
  assert_int_equal (pier_db_volume_get (db, "beta", &got, &err), 0);
  assert_string_equal (got->name, "beta");
  assert_true (got->anonymous);
  assert_string_equal (got->labels, "null");
  assert_string_equal (got->options, "null");
  assert_int_equal (got->created, 1000);
  pier_db_volume_free (got);

  pier_db_volume *vs = NULL;
  size_t n = 0;
  assert_int_equal (pier_db_volume_list (db, &vs, &n, &err), 0);
  assert_int_equal (n, 2);
  assert_string_equal (vs[0].name, "alpha"); /* by name */
  assert_string_equal (vs[0].labels, "{\"k\":\"v\"}");
  assert_false (vs[0].anonymous);
  pier_db_volumes_free (vs, n);

  assert_int_equal (pier_db_volume_delete (db, "alpha", &err), 0);
  assert_int_equal (pier_db_volume_delete (db, "alpha", &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  assert_int_equal (pier_db_volume_get (db, "alpha", &got, &err), -1);
  assert_err_contains (err, "no such volume: alpha");
  pier_error_free (&err);
  pier_db_close (db);
}

static void
test_names (void **state)
{
  (void) state;
  assert_true (pier_volume_name_valid ("db"));
  assert_true (pier_volume_name_valid ("my_vol.1-x"));
  assert_true (pier_volume_name_valid ("0abc"));
  assert_false (pier_volume_name_valid ("a"));
  assert_false (pier_volume_name_valid (""));
  assert_false (pier_volume_name_valid (NULL));
  assert_false (pier_volume_name_valid ("_vol"));
  assert_false (pier_volume_name_valid (".."));
  assert_false (pier_volume_name_valid ("a/b"));
  assert_false (pier_volume_name_valid ("vol name"));
}

static void
test_options (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_volopts o;
  assert_int_equal (pier_volopts_parse (NULL, &o, &err), 0);
  assert_null (o.type);

  json_t *j
      = json_pack ("{s:s, s:s, s:s}", "type", "tmpfs", "device", "tmpfs", "o", "size=1m,ro,uid=1000,noexec");
  assert_int_equal (pier_volopts_parse (j, &o, &err), 0);
  assert_string_equal (o.type, "tmpfs");
  assert_string_equal (o.data, "size=1m,uid=1000");
  assert_true (o.ro);
  assert_true (o.flags & MS_NOEXEC);
  assert_false (o.bind);
  pier_volopts_clear (&o);
  json_decref (j);

  j = json_pack ("{s:s, s:s, s:s}", "type", "none", "device", "/srv/data", "o", "bind");
  assert_int_equal (pier_volopts_parse (j, &o, &err), 0);
  assert_true (o.bind);
  assert_false (o.recursive);
  pier_volopts_clear (&o);
  json_decref (j);

  static const struct
  {
    const char *json, *msg;
  } bad[] = {
    { "{\"colour\":\"red\"}", "invalid option: \"colour\"" },
    { "{\"size\":\"1g\"}", "quota size requested but no quota support" },
    { "{\"type\":\"tmpfs\"}", "missing required option: \"device\"" },
    { "{\"device\":\"tmpfs\"}", "missing required option: \"type\"" },
    { "{\"type\":\"none\",\"device\":\"rel\",\"o\":\"bind\"}", "a bind device must be an absolute path" },
    { "{\"type\":\"tmpfs\",\"device\":\"tmpfs\",\"o\":\"remount\"}", "remount" },
    { "{\"type\":1}", "must be a string" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      j = json_loads (bad[i].json, 0, NULL);
      assert_non_null (j);
      assert_int_equal (pier_volopts_parse (j, &o, &err), -1);
      assert_err_contains (err, bad[i].msg);
      assert_int_equal (err->code, EINVAL);
      pier_error_free (&err);
      json_decref (j);
    }
}

static void
test_copy_up (void **state)
{
  (void) state;
  pier_error *err = NULL;
  cleanup_free char *src = xasprintf ("%s/src", unit_dir);
  cleanup_free char *dst = xasprintf ("%s/dst", unit_dir);
  assert_int_equal (mkdir (src, 0750), 0);
  assert_int_equal (mkdir (dst, 0755), 0);
  int s = open (src, O_RDONLY | O_DIRECTORY);
  int d = open (dst, O_RDONLY | O_DIRECTORY);
  assert_true (s >= 0 && d >= 0);
  int f = openat (s, "file", O_WRONLY | O_CREAT, 0600);
  assert_int_equal (write (f, "data\n", 5), 5);
  assert_int_equal (fchmod (f, 04640), 0);
  bool xattrs = fsetxattr (f, "user.pier", "yes", 3, 0) == 0;
  close (f);
  struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
  assert_int_equal (utimensat (s, "file", old, 0), 0);
  assert_int_equal (linkat (s, "file", s, "hard", 0), 0);
  assert_int_equal (symlinkat ("/etc/passwd", s, "abs-link"), 0);
  assert_int_equal (mkfifoat (s, "fifo", 0620), 0);
  assert_int_equal (fchmodat (s, "fifo", 0620, 0), 0); /* past the umask */
  assert_int_equal (mkdirat (s, "sub", 0700), 0);
  assert_int_equal (mkdirat (s, "sub/deeper", 0755), 0);
  f = openat (s, "sub/deeper/x", O_WRONLY | O_CREAT, 0644);
  close (f);

  assert_int_equal (pier_copy_up (s, d, &err), 0);
  assert_no_err (err);

  struct stat a, b;
  assert_int_equal (fstat (d, &a), 0);
  assert_int_equal (a.st_mode & 07777, 0750); /* the root takes the source's mode */
  assert_int_equal (fstatat (d, "file", &a, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (a.st_mode & 07777, 04640);
  assert_int_equal (a.st_size, 5);
  assert_int_equal (a.st_mtim.tv_sec, 1000000000);
  assert_int_equal (fstatat (d, "hard", &b, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (a.st_ino, b.st_ino);
  char t[64] = "";
  assert_int_equal (readlinkat (d, "abs-link", t, sizeof t - 1), 11);
  assert_string_equal (t, "/etc/passwd");
  assert_int_equal (fstatat (d, "fifo", &a, AT_SYMLINK_NOFOLLOW), 0);
  assert_true (S_ISFIFO (a.st_mode));
  assert_int_equal (a.st_mode & 07777, 0620);
  assert_int_equal (fstatat (d, "sub", &a, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (a.st_mode & 07777, 0700);
  assert_int_equal (fstatat (d, "sub/deeper/x", &a, AT_SYMLINK_NOFOLLOW), 0);
  if (xattrs)
    {
      char v[8] = "";
      assert_int_equal (getxattr (dst, "user.pier", v, sizeof v), -1); /* on the file, not the root */
      cleanup_free char *fp = xasprintf ("%s/file", dst);
      assert_int_equal (getxattr (fp, "user.pier", v, sizeof v), 3);
      assert_memory_equal (v, "yes", 3);
    }
  /* The destination must be empty: nothing is overwritten. */
  assert_int_equal (pier_copy_up (s, d, &err), -1);
  assert_int_equal (err->code, EEXIST);
  pier_error_free (&err);
  close (s);
  close (d);
}

static const unit_known_bug bugs[] = {};

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_db_volumes),
    cmocka_unit_test (test_names),
    cmocka_unit_test (test_options),
    cmocka_unit_test (test_copy_up),
  };
  unit_dir_setup (NULL);
  int rc = UNIT_RUN (tests, bugs, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
