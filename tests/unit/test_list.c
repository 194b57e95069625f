/* Unit tests for image/list: what `image prune` selects leaves out the
 * images containers were made from. */
#include "unit.h"

#include "image/images.h"
#include "store/db.h"
#include "util/xalloc.h"

static char *
tiny_tar (void)
{
  char *path = xasprintf ("%s/tiny.tar", unit_dir);
  char *cmd = xasprintf ("mkdir -p %s/r && echo hi > %s/r/f && tar -cf %s -C %s/r .", unit_dir, unit_dir,
                         path, unit_dir);
  assert_int_equal (system (cmd), 0);
  free (cmd);
  return path;
}

static char *
import (pier_store *st, const char *tar, const char *tag, const char *msg)
{
  pier_error *err = NULL;
  char *id = NULL;
  int fd = open (tar, O_RDONLY | O_CLOEXEC);
  assert_true (fd >= 0);
  pier_import_opts o = { tag, msg, NULL, tar };
  assert_int_equal (pier_image_import (st, fd, &o, &id, &err), 0);
  assert_no_err (err);
  close (fd);
  return id;
}

static size_t
count (pier_store *st, pier_image_filter_use use, char *const *args)
{
  pier_error *err = NULL;
  pier_image_filter *f = NULL;
  pier_image_summary *s = NULL;
  size_t n = 0;
  assert_int_equal (pier_image_filter_parse (st, use, args, &f, &err), 0);
  assert_int_equal (pier_image_list (st, f, &s, &n, &err), 0);
  assert_no_err (err);
  pier_image_summaries_free (s, n);
  pier_image_filter_free (f);
  return n;
}

static void
test_prune_skips_images_in_use (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_store *st = NULL;
  char *root = xasprintf ("%s/store", unit_dir);
  char *tar = tiny_tar ();
  assert_int_equal (pier_store_open (root, &st, &err), 0);
  char *used = import (st, tar, NULL, "used");
  char *unused = import (st, tar, NULL, "unused");
  char *tagged = import (st, tar, "x:1", "tagged");
  char *all[] = { "dangling=false", NULL };
  char *dangling[] = { "dangling=true", NULL };
  assert_int_equal (count (st, PIER_IMAGE_FILTER_PRUNE, dangling), 2);
  assert_int_equal (count (st, PIER_IMAGE_FILTER_PRUNE, all), 3);
  pier_db_container c
      = { "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "c1", used, 1, "{}", "{}" };
  assert_int_equal (pier_db_container_add (pier_store_db (st), &c, &err), 0);
  assert_no_err (err);
  assert_int_equal (count (st, PIER_IMAGE_FILTER_PRUNE, dangling), 1);
  assert_int_equal (count (st, PIER_IMAGE_FILTER_PRUNE, all), 2);
  /* Listing still shows it. */
  assert_int_equal (count (st, PIER_IMAGE_FILTER_LIST, NULL), 3);
  free (used);
  free (unused);
  free (tagged);
  pier_store_close (st);
  free (tar);
  free (root);
}

static const unit_known_bug bugs[] = {};

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_prune_skips_images_in_use, unit_dir_setup, unit_dir_teardown),
  };
  return UNIT_RUN (tests, bugs, argc, argv);
}
