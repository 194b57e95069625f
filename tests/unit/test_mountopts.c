/* Unit tests for runtime/mountopts: option strings to mount(2) flags,
 * mount_setattr attributes, propagation and filesystem data. */
#include "unit.h"

#include <sys/mount.h>
#include <linux/mount.h>

#include "runtime/mountopts.h"
#include "util/xalloc.h"

/* Parse options into a fresh mount; the caller frees with mount_done. */
static int
parse_opts (pier_mount *m, const char *const *opts, pier_error **err)
{
  memset (m, 0, sizeof *m);
  for (size_t i = 0; opts[i]; i++)
    strv_push (&m->options, opts[i]);
  return pier_mount_parse_options (m, err);
}

static void
mount_done (pier_mount *m)
{
  strv_free (m->options);
  free (m->data);
  free (m->uid_mappings);
  free (m->gid_mappings);
}

static void
test_flags (void **state)
{
  (void) state;
  pier_mount m;
  pier_error *err = NULL;
  assert_int_equal (
      parse_opts (&m, (const char *[]){ "nosuid", "nodev", "noexec", "ro", "strictatime", NULL }, &err), 0);
  assert_no_err (err);
  assert_true (m.flags == (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY | MS_STRICTATIME));
  assert_null (m.data);
  assert_int_equal (m.propagation, 0);
  assert_false (m.bind);
  mount_done (&m);
}

static void
test_later_option_wins (void **state)
{
  (void) state;
  pier_mount m;
  pier_error *err = NULL;
  assert_int_equal (
      parse_opts (&m, (const char *[]){ "ro", "nosuid", "rw", "suid", "noatime", "atime", NULL }, &err), 0);
  assert_true (m.flags == 0);
  mount_done (&m);
  assert_int_equal (parse_opts (&m, (const char *[]){ "rw", "ro", "defaults", NULL }, &err), 0);
  assert_true (m.flags == MS_RDONLY);
  mount_done (&m);
}

static void
test_propagation (void **state)
{
  (void) state;
  static const struct
  {
    const char *name;
    unsigned long flags;
  } cases[] = {
    { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
    { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
    { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
    { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      pier_mount m;
      pier_error *err = NULL;
      assert_true (pier_propagation_from_name (cases[i].name) == cases[i].flags);
      assert_int_equal (parse_opts (&m, (const char *[]){ "nosuid", cases[i].name, NULL }, &err), 0);
      assert_true (m.propagation == cases[i].flags);
      assert_true (m.flags == MS_NOSUID); /* propagation is not a mount flag */
      assert_null (m.data);
      mount_done (&m);
    }
  assert_true (pier_propagation_from_name ("rprivatex") == 0);
  assert_true (pier_propagation_from_name ("") == 0);
  assert_true (pier_propagation_from_name ("ro") == 0);
}

static void
test_data_keeps_unknown_options_in_order (void **state)
{
  (void) state;
  pier_mount m;
  pier_error *err = NULL;
  assert_int_equal (
      parse_opts (&m, (const char *[]){ "nosuid", "mode=755", "ro", "size=65536k", "uid=5", NULL }, &err), 0);
  assert_string_equal (m.data, "mode=755,size=65536k,uid=5");
  assert_true (m.flags == (MS_NOSUID | MS_RDONLY));
  mount_done (&m);
  /* The overlay options a engine passes, untouched. */
  assert_int_equal (
      parse_opts (&m, (const char *[]){ "lowerdir=/l1:/l2", "upperdir=/u", "workdir=/w", NULL }, &err), 0);
  assert_string_equal (m.data, "lowerdir=/l1:/l2,upperdir=/u,workdir=/w");
  mount_done (&m);
}

static void
test_bind_and_recursive_attributes (void **state)
{
  (void) state;
  pier_mount m;
  pier_error *err = NULL;
  assert_int_equal (parse_opts (&m, (const char *[]){ "bind", NULL }, &err), 0);
  assert_true (m.bind);
  assert_false (m.rbind);
  mount_done (&m);

  assert_int_equal (parse_opts (&m, (const char *[]){ "rbind", "rro", "rnosuid", "rnodev", NULL }, &err), 0);
  assert_true (m.bind && m.rbind);
  assert_true (m.rec_set == (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
  assert_true (m.rec_clear == 0);
  assert_true (m.flags == 0); /* recursive options are not MS_ flags */
  assert_null (m.data);
  mount_done (&m);

  /* rrw after rro: the attribute moves from "set" to "clear". */
  assert_int_equal (parse_opts (&m, (const char *[]){ "rbind", "rro", "rrw", "rnoexec", NULL }, &err), 0);
  assert_true (m.rec_set == MOUNT_ATTR_NOEXEC);
  assert_true (m.rec_clear == MOUNT_ATTR_RDONLY);
  mount_done (&m);
}

static void
test_idmap_needs_mappings (void **state)
{
  (void) state;
  pier_mount m;
  pier_error *err = NULL;
  assert_int_equal (parse_opts (&m, (const char *[]){ "rbind", "idmap", NULL }, &err), -1);
  assert_err_contains (err, "idmap", "uidMappings");
  pier_error_free (&err);
  mount_done (&m);

  memset (&m, 0, sizeof m);
  strv_push (&m.options, "idmap");
  m.uid_mappings = xcalloc (1, sizeof (pier_idmap));
  m.gid_mappings = xcalloc (1, sizeof (pier_idmap));
  m.n_uid_mappings = m.n_gid_mappings = 1;
  assert_int_equal (pier_mount_parse_options (&m, &err), 0);
  assert_no_err (err);
  assert_true (m.idmap);
  mount_done (&m);
}

static void
test_every_advertised_option_is_understood (void **state)
{
  (void) state;
  /* `features` lists these names: none may fall through to the data
   * string, where the kernel would reject it. */
  for (size_t i = 0; pier_mount_option_names[i]; i++)
    {
      pier_mount m;
      pier_error *err = NULL;
      memset (&m, 0, sizeof m);
      strv_push (&m.options, pier_mount_option_names[i]);
      m.uid_mappings = xcalloc (1, sizeof (pier_idmap));
      m.gid_mappings = xcalloc (1, sizeof (pier_idmap));
      m.n_uid_mappings = m.n_gid_mappings = 1;
      if (pier_mount_parse_options (&m, &err) < 0)
        fail_msg ("`%s`: %s", pier_mount_option_names[i], err->msg);
      if (m.data)
        fail_msg ("`%s` ended up in the data string `%s`", pier_mount_option_names[i], m.data);
      mount_done (&m);
    }
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_flags),
    cmocka_unit_test (test_later_option_wins),
    cmocka_unit_test (test_propagation),
    cmocka_unit_test (test_data_keeps_unknown_options_in_order),
    cmocka_unit_test (test_bind_and_recursive_attributes),
    cmocka_unit_test (test_idmap_needs_mappings),
    cmocka_unit_test (test_every_advertised_option_is_understood),
  };
  return unit_run ("test_mountopts", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
}
