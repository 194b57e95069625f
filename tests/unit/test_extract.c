/* Unit tests for archive/extract: layers are built here with libarchive's
 * writer (pax), compressed with zlib / libzstd or libarchive's own
 * filters, and unpacked into scratch directories. */
#include "unit.h"

#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include "archive/extract.h"
#include "util/digest.h"

#define TAR_CAP (8u << 20)

/* A skipped test says why. */
#define skip_msg(why)                                                                                        \
  do                                                                                                         \
    {                                                                                                        \
      print_message ("[     SKIP ] %s\n", (why));                                                            \
      skip ();                                                                                               \
    }                                                                                                        \
  while (0)

static bool
is_root (void)
{
  return geteuid () == 0;
}

/* ---- building layers ---- */

typedef struct tb
{
  struct archive *a;
  unsigned char *buf;
  size_t used;
} tb;

static tb *
tb_new_filtered (int filter)
{
  tb *t = calloc (1, sizeof *t);
  assert_non_null (t);
  t->buf = malloc (TAR_CAP);
  assert_non_null (t->buf);
  t->a = archive_write_new ();
  assert_int_equal (archive_write_set_format_pax_restricted (t->a), ARCHIVE_OK);
  if (filter >= 0)
    assert_int_equal (archive_write_add_filter (t->a, filter), ARCHIVE_OK);
  assert_int_equal (archive_write_open_memory (t->a, t->buf, TAR_CAP, &t->used), ARCHIVE_OK);
  return t;
}

static tb *
tb_new (void)
{
  return tb_new_filtered (-1);
}

static struct archive_entry *
tb_entry (const char *name, mode_t type, mode_t perm)
{
  struct archive_entry *e = archive_entry_new ();
  archive_entry_copy_pathname (e, name);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, perm);
  archive_entry_set_mtime (e, 1000000000, 0);
  archive_entry_set_uid (e, 0);
  archive_entry_set_gid (e, 0);
  return e;
}

static void
tb_put (tb *t, struct archive_entry *e, const char *data, size_t len)
{
  assert_int_equal (archive_write_header (t->a, e), ARCHIVE_OK);
  if (len)
    assert_int_equal (archive_write_data (t->a, data, len), (la_ssize_t) len);
  archive_entry_free (e);
}

static void
tb_dir (tb *t, const char *name, mode_t perm)
{
  tb_put (t, tb_entry (name, AE_IFDIR, perm), NULL, 0);
}

static void
tb_file (tb *t, const char *name, const char *content, mode_t perm)
{
  struct archive_entry *e = tb_entry (name, AE_IFREG, perm);
  archive_entry_set_size (e, (la_int64_t) strlen (content));
  tb_put (t, e, content, strlen (content));
}

static void
tb_symlink (tb *t, const char *name, const char *target)
{
  struct archive_entry *e = tb_entry (name, AE_IFLNK, 0777);
  archive_entry_copy_symlink (e, target);
  tb_put (t, e, NULL, 0);
}

static void
tb_hardlink (tb *t, const char *name, const char *target)
{
  struct archive_entry *e = tb_entry (name, AE_IFREG, 0644);
  archive_entry_copy_hardlink (e, target);
  archive_entry_set_size (e, 0);
  tb_put (t, e, NULL, 0);
}

/* Finish and hand back the bytes (the caller frees them). */
static unsigned char *
tb_finish (tb *t, size_t *len)
{
  assert_int_equal (archive_write_close (t->a), ARCHIVE_OK);
  archive_write_free (t->a);
  unsigned char *b = t->buf;
  *len = t->used;
  free (t);
  return b;
}

static unsigned char *
gzip_buf (const unsigned char *in, size_t len, size_t *out_len)
{
  z_stream z = { 0 };
  size_t cap = len + len / 2 + 1024;
  unsigned char *out = malloc (cap);
  assert_int_equal (deflateInit2 (&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (unsigned char *) in;
  z.avail_in = (uInt) len;
  z.next_out = out;
  z.avail_out = (uInt) cap;
  assert_int_equal (deflate (&z, Z_FINISH), Z_STREAM_END);
  *out_len = z.total_out;
  deflateEnd (&z);
  return out;
}

static unsigned char *
gunzip_buf (const unsigned char *in, size_t len, size_t *out_len)
{
  z_stream z = { 0 };
  unsigned char *out = malloc (TAR_CAP);
  assert_int_equal (inflateInit2 (&z, 16 + 15), Z_OK);
  z.next_in = (unsigned char *) in;
  z.avail_in = (uInt) len;
  z.next_out = out;
  z.avail_out = TAR_CAP;
  assert_int_equal (inflate (&z, Z_FINISH), Z_STREAM_END);
  *out_len = z.total_out;
  inflateEnd (&z);
  return out;
}

static unsigned char *
zstd_buf (const unsigned char *in, size_t len, size_t *out_len)
{
  size_t cap = ZSTD_compressBound (len);
  unsigned char *out = malloc (cap);
  size_t r = ZSTD_compress (out, cap, in, len, 3);
  assert_false (ZSTD_isError (r));
  *out_len = r;
  return out;
}

/* A readable fd holding exactly these bytes, at offset 0. */
static int
mem_fd (const void *data, size_t len)
{
  int fd = memfd_create ("layer", MFD_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, data, len), (ssize_t) len);
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  return fd;
}

static void
digest_of (const void *data, size_t len, char *out)
{
  char hex[PIER_SHA256_HEX_LEN + 1];
  pier_sha256_hex (data, len, hex);
  snprintf (out, PIER_DIGEST_STR_LEN + 1, "sha256:%s", hex);
}

/* A fresh empty layer directory; *dirfd is opened on it. */
static char *
new_layer (int *dirfd)
{
  static int n;
  char *p = NULL;
  assert_true (asprintf (&p, "%s/layer%d", unit_dir, n++) > 0);
  assert_int_equal (mkdir (p, 0755), 0);
  *dirfd = open (p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (*dirfd >= 0);
  return p;
}

static pier_extract_opts
default_opts (void)
{
  pier_extract_opts o = { 0 };
  o.no_chown = !is_root ();
  return o;
}

/* Extract bytes into a fresh layer; returns the result code. */
static int
extract_bytes (const void *data, size_t len, char **layer, pier_extract_result *res, pier_error **err,
               const pier_extract_opts *o)
{
  int dirfd;
  pier_extract_opts def = default_opts ();
  *layer = new_layer (&dirfd);
  int fd = mem_fd (data, len);
  int r = pier_layer_extract (fd, dirfd, o ? o : &def, res, err);
  close (fd);
  close (dirfd);
  return r;
}

static char *
at (const char *layer, const char *rel)
{
  char *p = NULL;
  assert_true (asprintf (&p, "%s/%s", layer, rel) > 0);
  return p;
}

static void
assert_content (const char *layer, const char *rel, const char *want)
{
  char *p = at (layer, rel);
  char *got = unit_read (p);
  if (got == NULL)
    fail_msg ("cannot read %s", p);
  assert_string_equal (got, want);
  free (got);
  free (p);
}

static bool
exists (const char *layer, const char *rel)
{
  struct stat st;
  char *p = at (layer, rel);
  bool r = lstat (p, &st) == 0;
  free (p);
  return r;
}

static struct stat
lstat_at (const char *layer, const char *rel)
{
  struct stat st;
  char *p = at (layer, rel);
  if (lstat (p, &st) < 0)
    fail_msg ("lstat %s: %s", p, strerror (errno));
  free (p);
  return st;
}

static int
count_entries (const char *dir)
{
  DIR *d = opendir (dir);
  assert_non_null (d);
  struct dirent *de;
  int n = 0;
  while ((de = readdir (d)))
    n += strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0;
  closedir (d);
  return n;
}

/* Extract tar (which it frees) into a fresh layer: it must fail with a
 * message holding every fragment. */
#define expect_refused(tar, len, ...)                                                                        \
  do                                                                                                         \
    {                                                                                                        \
      pier_error *err_ = NULL;                                                                               \
      char *layer_;                                                                                          \
      assert_int_equal (extract_bytes ((tar), (len), &layer_, NULL, &err_, NULL), -1);                       \
      assert_err_contains (err_, __VA_ARGS__);                                                               \
      pier_error_free (&err_);                                                                               \
      free (layer_);                                                                                         \
      free (tar);                                                                                            \
    }                                                                                                        \
  while (0)

static unsigned char *
sample_tar (size_t *len)
{
  tb *t = tb_new ();
  tb_dir (t, "./", 0755);
  tb_dir (t, "etc", 0755);
  tb_file (t, "etc/hostname", "pier\n", 0644);
  tb_dir (t, "usr/bin", 0755); /* parent "usr" missing on purpose */
  tb_file (t, "usr/bin/tool", "#!/bin/sh\necho hi\n", 0755);
  tb_symlink (t, "bin", "usr/bin");
  tb_symlink (t, "etc/abs", "/etc/passwd"); /* stored, never followed */
  tb_hardlink (t, "usr/bin/tool2", "usr/bin/tool");
  tb_dir (t, "ro", 0555);
  tb_file (t, "ro/inside", "x", 0444);
  return tb_finish (t, len);
}

static void
check_sample (const char *layer)
{
  assert_content (layer, "etc/hostname", "pier\n");
  assert_content (layer, "usr/bin/tool", "#!/bin/sh\necho hi\n");
  struct stat tool = lstat_at (layer, "usr/bin/tool");
  struct stat tool2 = lstat_at (layer, "usr/bin/tool2");
  assert_int_equal (tool.st_ino, tool2.st_ino);
  assert_int_equal (tool.st_mode & 07777, 0755);
  assert_int_equal (tool.st_mtim.tv_sec, 1000000000);
  struct stat bin = lstat_at (layer, "bin");
  assert_true (S_ISLNK (bin.st_mode));
  char target[64] = { 0 };
  char *p = at (layer, "etc/abs");
  assert_int_equal (readlink (p, target, sizeof target - 1), strlen ("/etc/passwd"));
  assert_string_equal (target, "/etc/passwd");
  free (p);
  struct stat ro = lstat_at (layer, "ro");
  assert_int_equal (ro.st_mode & 07777, 0555);
  /* directories get their times after their contents */
  assert_int_equal (ro.st_mtim.tv_sec, 1000000000);
  assert_int_equal (lstat_at (layer, "etc").st_mtim.tv_sec, 1000000000);
  assert_int_equal (lstat_at (layer, "usr").st_mode & 07777, 0755);
}

static void
test_plain (void **state)
{
  (void) state;
  size_t len;
  unsigned char *tar = sample_tar (&len);
  char want[PIER_DIGEST_STR_LEN + 1];
  digest_of (tar, len, want);
  pier_extract_result res;
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (tar, len, &layer, &res, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  check_sample (layer);
  assert_string_equal (res.diff_id, want);
  assert_string_equal (res.blob_digest, want);
  assert_int_equal (res.tar_size, len);
  assert_int_equal (res.blob_size, len);
  assert_int_equal (res.compression, PIER_COMPRESSION_NONE);
  assert_int_equal (res.entries, 10);
  assert_int_equal (res.unpacked_size, strlen ("pier\n") + strlen ("#!/bin/sh\necho hi\n") + 1);
  free (layer);
  free (tar);
}

static void
check_compressed (unsigned char *(*compress) (const unsigned char *, size_t, size_t *),
                  pier_compression want_c)
{
  size_t len, clen;
  unsigned char *tar = sample_tar (&len);
  unsigned char *z = compress (tar, len, &clen);
  char want_diff[PIER_DIGEST_STR_LEN + 1], want_blob[PIER_DIGEST_STR_LEN + 1];
  digest_of (tar, len, want_diff);
  digest_of (z, clen, want_blob);
  pier_extract_result res;
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (z, clen, &layer, &res, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  check_sample (layer);
  assert_string_equal (res.diff_id, want_diff);
  assert_string_equal (res.blob_digest, want_blob);
  assert_string_not_equal (res.diff_id, res.blob_digest);
  assert_int_equal (res.tar_size, len);
  assert_int_equal (res.blob_size, clen);
  assert_int_equal (res.compression, want_c);
  free (layer);
  free (z);
  free (tar);
}

static void
test_gzip (void **state)
{
  (void) state;
  check_compressed (gzip_buf, PIER_COMPRESSION_GZIP);
}

static void
test_zstd (void **state)
{
  (void) state;
  check_compressed (zstd_buf, PIER_COMPRESSION_ZSTD);
}

/* Two gzip members back to back are one stream (pigz does this). */
static void
test_gzip_multi_member (void **state)
{
  (void) state;
  size_t len, l1, l2;
  unsigned char *tar = sample_tar (&len);
  unsigned char *a = gzip_buf (tar, 1000, &l1);
  unsigned char *b = gzip_buf (tar + 1000, len - 1000, &l2);
  unsigned char *both = malloc (l1 + l2);
  memcpy (both, a, l1);
  memcpy (both + l1, b, l2);
  char want[PIER_DIGEST_STR_LEN + 1];
  digest_of (tar, len, want);
  pier_extract_result res;
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (both, l1 + l2, &layer, &res, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  check_sample (layer);
  assert_string_equal (res.diff_id, want);
  free (layer);
  free (both);
  free (a);
  free (b);
  free (tar);
}

/* Layers written through libarchive's own gzip and zstd filters. */
static void
check_filter (int filter, pier_compression want_c)
{
  tb *t = tb_new_filtered (filter);
  tb_dir (t, "d", 0750);
  tb_file (t, "d/f", "filtered\n", 0600);
  size_t clen;
  unsigned char *z = tb_finish (t, &clen);
  char want_blob[PIER_DIGEST_STR_LEN + 1];
  digest_of (z, clen, want_blob);
  pier_extract_result res;
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (z, clen, &layer, &res, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  assert_content (layer, "d/f", "filtered\n");
  assert_int_equal (lstat_at (layer, "d").st_mode & 07777, 0750);
  assert_string_equal (res.blob_digest, want_blob);
  assert_int_equal (res.compression, want_c);
  if (filter == ARCHIVE_FILTER_GZIP)
    {
      /* The DiffID is the digest of the stream zlib itself inflates. */
      size_t ulen;
      unsigned char *u = gunzip_buf (z, clen, &ulen);
      char want_diff[PIER_DIGEST_STR_LEN + 1];
      digest_of (u, ulen, want_diff);
      assert_string_equal (res.diff_id, want_diff);
      assert_int_equal (res.tar_size, ulen);
      free (u);
    }
  free (layer);
  free (z);
}

static void
test_libarchive_gzip_filter (void **state)
{
  (void) state;
  check_filter (ARCHIVE_FILTER_GZIP, PIER_COMPRESSION_GZIP);
}

static void
test_libarchive_zstd_filter (void **state)
{
  (void) state;
  check_filter (ARCHIVE_FILTER_ZSTD, PIER_COMPRESSION_ZSTD);
}

static void
test_whiteouts (void **state)
{
  (void) state;
  tb *t = tb_new ();
  tb_dir (t, "d", 0755);
  tb_file (t, "d/.wh.gone", "", 0644);
  tb_file (t, ".wh.top", "", 0644);
  tb_file (t, "d/kept", "k", 0644);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (tar, len, &layer, NULL, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  struct stat st = lstat_at (layer, "d/gone");
  assert_true (S_ISCHR (st.st_mode));
  assert_int_equal (st.st_rdev, makedev (0, 0));
  assert_true (S_ISCHR (lstat_at (layer, "top").st_mode));
  assert_false (exists (layer, "d/.wh.gone"));
  assert_false (exists (layer, ".wh.top"));
  assert_content (layer, "d/kept", "k");
  free (layer);
  free (tar);
}

static unsigned char *
opaque_tar (size_t *len)
{
  tb *t = tb_new ();
  tb_dir (t, "o", 0755);
  tb_file (t, "o/.wh..wh..opq", "", 0644);
  tb_file (t, "o/new", "n", 0644);
  return tb_finish (t, len);
}

static void
test_opaque_trusted (void **state)
{
  (void) state;
  if (!is_root ())
    skip_msg ("trusted.overlay.opaque needs CAP_SYS_ADMIN: run as root");
  size_t len;
  unsigned char *tar = opaque_tar (&len);
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (tar, len, &layer, NULL, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  char *p = at (layer, "o");
  char v[4] = { 0 };
  assert_int_equal (lgetxattr (p, "trusted.overlay.opaque", v, sizeof v), 1);
  assert_string_equal (v, "y");
  assert_false (exists (layer, "o/.wh..wh..opq"));
  assert_content (layer, "o/new", "n");
  free (p);
  free (layer);
  free (tar);
}

static bool
user_xattrs_work (void)
{
  char *p = at (unit_dir, "xattr-probe");
  unit_write (p, "");
  bool ok = setxattr (p, "user.pier.probe", "1", 1, 0) == 0;
  unlink (p);
  free (p);
  return ok;
}

static void
test_opaque_userxattr (void **state)
{
  (void) state;
  if (!user_xattrs_work ())
    skip_msg ("the scratch filesystem has no user.* xattrs");
  size_t len;
  unsigned char *tar = opaque_tar (&len);
  pier_error *err = NULL;
  char *layer;
  pier_extract_opts o = default_opts ();
  o.userxattr = true;
  int r_ = extract_bytes (tar, len, &layer, NULL, &err, &o);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  char *p = at (layer, "o");
  char v[4] = { 0 };
  assert_int_equal (lgetxattr (p, "user.overlay.opaque", v, sizeof v), 1);
  assert_string_equal (v, "y");
  assert_true (lgetxattr (p, "trusted.overlay.opaque", v, sizeof v) < 0);
  free (p);
  free (layer);
  free (tar);
}

static void
test_xattrs (void **state)
{
  (void) state;
  if (!user_xattrs_work ())
    skip_msg ("the scratch filesystem has no user.* xattrs");
  tb *t = tb_new ();
  struct archive_entry *e = tb_entry ("f", AE_IFREG, 0644);
  archive_entry_xattr_add_entry (e, "user.pier", "v1", 2);
  archive_entry_xattr_add_entry (e, "user.overlay.redirect", "/x", 2); /* must be dropped */
  archive_entry_set_size (e, 1);
  tb_put (t, e, "f", 1);
  e = tb_entry ("d", AE_IFDIR, 0755);
  archive_entry_xattr_add_entry (e, "user.dir", "dv", 2);
  tb_put (t, e, NULL, 0);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (tar, len, &layer, NULL, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  char *p = at (layer, "f");
  char v[8] = { 0 };
  assert_int_equal (lgetxattr (p, "user.pier", v, sizeof v), 2);
  assert_string_equal (v, "v1");
  assert_true (lgetxattr (p, "user.overlay.redirect", v, sizeof v) < 0);
  free (p);
  p = at (layer, "d");
  memset (v, 0, sizeof v);
  assert_int_equal (lgetxattr (p, "user.dir", v, sizeof v), 2);
  assert_string_equal (v, "dv");
  free (p);
  free (layer);
  free (tar);
}

/* security.capability survives the chown (set after it). */
static void
test_file_capability (void **state)
{
  (void) state;
  if (!is_root ())
    skip_msg ("security.capability and chown need root");
  /* vfs_cap_data v2: cap_net_bind_service (bit 10) permitted+effective. */
  unsigned char cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00 };
  tb *t = tb_new ();
  struct archive_entry *e = tb_entry ("capped", AE_IFREG, 0755);
  archive_entry_set_uid (e, 1234);
  archive_entry_set_gid (e, 4321);
  archive_entry_xattr_add_entry (e, "security.capability", cap, sizeof cap);
  archive_entry_set_size (e, 1);
  tb_put (t, e, "c", 1);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (tar, len, &layer, NULL, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  char *p = at (layer, "capped");
  unsigned char got[32];
  assert_int_equal (lgetxattr (p, "security.capability", got, sizeof got), sizeof cap);
  assert_memory_equal (got, cap, sizeof cap);
  struct stat st = lstat_at (layer, "capped");
  assert_int_equal (st.st_uid, 1234);
  assert_int_equal (st.st_gid, 4321);
  free (p);
  free (layer);
  free (tar);
}

static void
test_owner_and_setuid (void **state)
{
  (void) state;
  if (!is_root ())
    skip_msg ("chown to other users needs root");
  tb *t = tb_new ();
  struct archive_entry *e = tb_entry ("suid", AE_IFREG, 04755);
  archive_entry_set_uid (e, 1000);
  archive_entry_set_gid (e, 1000);
  archive_entry_set_size (e, 1);
  tb_put (t, e, "s", 1);
  e = tb_entry ("sgid-dir", AE_IFDIR, 02775);
  archive_entry_set_uid (e, 7);
  archive_entry_set_gid (e, 8);
  tb_put (t, e, NULL, 0);
  e = tb_entry ("link", AE_IFLNK, 0777);
  archive_entry_copy_symlink (e, "suid");
  archive_entry_set_uid (e, 55);
  archive_entry_set_gid (e, 66);
  tb_put (t, e, NULL, 0);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (tar, len, &layer, NULL, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  struct stat st = lstat_at (layer, "suid");
  assert_int_equal (st.st_mode & 07777, 04755);
  assert_int_equal (st.st_uid, 1000);
  st = lstat_at (layer, "sgid-dir");
  assert_int_equal (st.st_mode & 07777, 02775);
  assert_int_equal (st.st_uid, 7);
  assert_int_equal (st.st_gid, 8);
  st = lstat_at (layer, "link");
  assert_int_equal (st.st_uid, 55); /* lchown: the link, not its target */
  assert_int_equal (lstat_at (layer, "suid").st_uid, 1000);
  free (layer);
  free (tar);
}

static void
test_devices_and_fifo (void **state)
{
  (void) state;
  tb *t = tb_new ();
  struct archive_entry *e = tb_entry ("fifo", AE_IFIFO, 0640);
  tb_put (t, e, NULL, 0);
  bool root = is_root ();
  if (root)
    {
      e = tb_entry ("null", AE_IFCHR, 0666);
      archive_entry_set_rdevmajor (e, 1);
      archive_entry_set_rdevminor (e, 3);
      tb_put (t, e, NULL, 0);
      e = tb_entry ("blk", AE_IFBLK, 0600);
      archive_entry_set_rdevmajor (e, 7);
      archive_entry_set_rdevminor (e, 0);
      tb_put (t, e, NULL, 0);
    }
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (tar, len, &layer, NULL, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  struct stat st = lstat_at (layer, "fifo");
  assert_true (S_ISFIFO (st.st_mode));
  assert_int_equal (st.st_mode & 07777, 0640);
  assert_int_equal (st.st_mtim.tv_sec, 1000000000);
  if (root)
    {
      st = lstat_at (layer, "null");
      assert_true (S_ISCHR (st.st_mode));
      assert_int_equal (st.st_rdev, makedev (1, 3));
      assert_int_equal (st.st_mode & 07777, 0666);
      st = lstat_at (layer, "blk");
      assert_true (S_ISBLK (st.st_mode));
      assert_int_equal (st.st_rdev, makedev (7, 0));
    }
  free (layer);
  free (tar);
  if (!root)
    skip_msg ("device nodes need CAP_MKNOD: only the fifo was checked");
}

/* A later entry with the same name replaces the earlier one. */
static void
test_replace (void **state)
{
  (void) state;
  tb *t = tb_new ();
  tb_file (t, "x", "first", 0644);
  tb_file (t, "x", "second", 0600);
  tb_dir (t, "y", 0755);
  tb_file (t, "y/z", "z", 0644);
  tb_file (t, "y", "now a file", 0644);
  tb_symlink (t, "s", "x");
  tb_file (t, "s", "not through the link", 0644);
  tb_dir (t, "twice", 0700);
  tb_file (t, "twice/in", "i", 0644);
  tb_dir (t, "twice", 0751); /* the later metadata wins */
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  pier_error *err = NULL;
  char *layer;
  int r_ = extract_bytes (tar, len, &layer, NULL, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  assert_content (layer, "x", "second");
  assert_int_equal (lstat_at (layer, "x").st_mode & 07777, 0600);
  assert_content (layer, "y", "now a file");
  assert_true (S_ISREG (lstat_at (layer, "s").st_mode));
  assert_content (layer, "s", "not through the link");
  assert_int_equal (lstat_at (layer, "twice").st_mode & 07777, 0751);
  assert_content (layer, "twice/in", "i");
  free (layer);
  free (tar);
}

/* A directory replaced by a symlink to the host: later entries under its
 * name must not follow the link (nor land in the removed directory). */
static void
test_dir_replaced_by_symlink (void **state)
{
  (void) state;
  char *victim = at (unit_dir, "victim2");
  assert_int_equal (mkdir (victim, 0755), 0);
  tb *t = tb_new ();
  tb_dir (t, "d", 0755);
  tb_file (t, "d/f1", "1", 0644);
  tb_symlink (t, "d", victim);
  tb_file (t, "d/f2", "2", 0644);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  expect_refused (tar, len, "d/f2", "symbolic link");
  assert_int_equal (count_entries (victim), 0);
  free (victim);
}

/* A sparse file (GNU sparse in pax) keeps its holes. */
static void
test_sparse (void **state)
{
  (void) state;
  const off_t size = 8 << 20;
  char *src = at (unit_dir, "sparse-src");
  int sfd = open (src, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true (sfd >= 0);
  assert_int_equal (pwrite (sfd, "head", 4, 0), 4);
  assert_int_equal (pwrite (sfd, "tail", 4, size - 4), 4);
  close (sfd);
  /* Let libarchive's disk reader find the holes, as `tar --sparse`. */
  struct archive *disk = archive_read_disk_new ();
  struct archive_entry *e = archive_entry_new ();
  archive_entry_copy_sourcepath (e, src);
  sfd = open (src, O_RDONLY | O_CLOEXEC);
  assert_int_equal (archive_read_disk_entry_from_file (disk, e, sfd, NULL), ARCHIVE_OK);
  if (archive_entry_sparse_count (e) == 0)
    {
      close (sfd);
      archive_entry_free (e);
      archive_read_free (disk);
      free (src);
      skip_msg ("the scratch filesystem reports no holes");
    }
  archive_entry_copy_pathname (e, "sparse");
  tb *t = tb_new ();
  assert_int_equal (archive_write_header (t->a, e), ARCHIVE_OK);
  /* The pax writer takes the whole logical file and drops what falls in
   * the holes of the entry's sparse map. */
  static char zeros[65536];
  la_int64_t off, slen, pos = 0;
  archive_entry_sparse_reset (e);
  for (;;)
    {
      bool more = archive_entry_sparse_next (e, &off, &slen) == ARCHIVE_OK;
      la_int64_t hole_end = more ? off : size;
      while (pos < hole_end)
        {
          size_t n = (size_t) (hole_end - pos < (la_int64_t) sizeof zeros ? hole_end - pos
                                                                          : (la_int64_t) sizeof zeros);
          assert_int_equal (archive_write_data (t->a, zeros, n), (la_ssize_t) n);
          pos += (la_int64_t) n;
        }
      if (!more)
        break;
      char *buf = malloc ((size_t) slen);
      assert_int_equal (pread (sfd, buf, (size_t) slen, off), slen);
      assert_int_equal (archive_write_data (t->a, buf, (size_t) slen), slen);
      pos += slen;
      free (buf);
    }
  close (sfd);
  archive_entry_free (e);
  archive_read_free (disk);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  assert_true (len < 1 << 20); /* the holes are not in the tar */
  pier_error *err = NULL;
  char *layer;
  pier_extract_result res;
  int r_ = extract_bytes (tar, len, &layer, &res, &err, NULL);
  assert_no_err (err);
  assert_int_equal (r_, 0);
  assert_no_err (err);
  struct stat st = lstat_at (layer, "sparse");
  assert_int_equal (st.st_size, size);
  assert_true (st.st_blocks * 512 < size / 2);
  assert_int_equal (res.unpacked_size, size);
  char *p = at (layer, "sparse");
  int fd = open (p, O_RDONLY | O_CLOEXEC);
  char b[5] = { 0 };
  assert_int_equal (pread (fd, b, 4, 0), 4);
  assert_string_equal (b, "head");
  assert_int_equal (pread (fd, b, 4, size - 4), 4);
  assert_string_equal (b, "tail");
  assert_int_equal (pread (fd, b, 4, size / 2), 4);
  assert_memory_equal (b, "\0\0\0\0", 4);
  close (fd);
  free (p);
  free (layer);
  free (tar);
  free (src);
}

/* ---- hostile layers ---- */

static void
test_dotdot (void **state)
{
  (void) state;
  tb *t = tb_new ();
  tb_file (t, "../escape", "x", 0644);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  expect_refused (tar, len, "../escape");
  char *p = at (unit_dir, "escape");
  struct stat st;
  assert_true (lstat (p, &st) < 0);
  free (p);

  t = tb_new ();
  tb_dir (t, "a", 0755);
  tb_file (t, "a/../../escape2", "x", 0644);
  tar = tb_finish (t, &len);
  expect_refused (tar, len, "a/../../escape2");
}

static void
test_absolute (void **state)
{
  (void) state;
  tb *t = tb_new ();
  tb_file (t, "/abs", "x", 0644);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  expect_refused (tar, len, "/abs");
  struct stat st;
  assert_true (lstat ("/abs", &st) < 0);
}

static void
test_symlink_write_through (void **state)
{
  (void) state;
  char *victim = at (unit_dir, "victim");
  assert_int_equal (mkdir (victim, 0755), 0);
  tb *t = tb_new ();
  tb_symlink (t, "link", victim);
  tb_file (t, "link/pwned", "gotcha", 0644);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  expect_refused (tar, len, "link/pwned");

  /* the same through a relative link and a directory made on the way */
  t = tb_new ();
  tb_symlink (t, "rel", "../../victim");
  tb_file (t, "rel/sub/pwned", "gotcha", 0644);
  tar = tb_finish (t, &len);
  expect_refused (tar, len, "rel/sub/pwned");

  /* and a hardlink placed through the link */
  t = tb_new ();
  tb_file (t, "f", "f", 0644);
  tb_symlink (t, "link", victim);
  tb_hardlink (t, "link/pwned", "f");
  tar = tb_finish (t, &len);
  expect_refused (tar, len, "link/pwned");

  DIR *d = opendir (victim);
  assert_non_null (d);
  struct dirent *de;
  int n = 0;
  while ((de = readdir (d)))
    n += de->d_name[0] != '.';
  closedir (d);
  assert_int_equal (n, 0);
  free (victim);
}

static void
test_hardlink_escape (void **state)
{
  (void) state;
  tb *t = tb_new ();
  tb_hardlink (t, "passwd", "../../etc/passwd");
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  expect_refused (tar, len, "passwd");

  t = tb_new ();
  tb_hardlink (t, "passwd", "/etc/passwd");
  tar = tb_finish (t, &len);
  expect_refused (tar, len, "/etc/passwd");

  /* not (yet) in this layer */
  t = tb_new ();
  tb_hardlink (t, "early", "later");
  tb_file (t, "later", "l", 0644);
  tar = tb_finish (t, &len);
  expect_refused (tar, len, "early", "later", "not in this layer");

  /* through a symlink of the layer to the host */
  t = tb_new ();
  tb_symlink (t, "etc", "/etc");
  tb_hardlink (t, "passwd", "etc/passwd");
  tar = tb_finish (t, &len);
  expect_refused (tar, len, "passwd", "symbolic link");
}

static void
test_symlink_loop (void **state)
{
  (void) state;
  tb *t = tb_new ();
  tb_symlink (t, "a", "b");
  tb_symlink (t, "b", "a");
  tb_symlink (t, "self", "self");
  tb_file (t, "a/x", "x", 0644);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  expect_refused (tar, len, "a/x", "symbolic link");
}

static void
test_long_names (void **state)
{
  (void) state;
  char comp[300];
  memset (comp, 'n', sizeof comp - 1);
  comp[sizeof comp - 1] = '\0';
  tb *t = tb_new ();
  tb_file (t, comp, "x", 0644);
  size_t len;
  unsigned char *tar = tb_finish (t, &len);
  expect_refused (tar, len, "longer than 255");

  size_t big = 5000;
  char *path = malloc (big + 1);
  for (size_t i = 0; i < big; i++)
    path[i] = i % 100 == 99 ? '/' : 'p';
  path[big] = '\0';
  t = tb_new ();
  tb_file (t, path, "x", 0644);
  tar = tb_finish (t, &len);
  expect_refused (tar, len, "longer than 4095");
  free (path);
}

static void
test_truncated_gzip (void **state)
{
  (void) state;
  size_t len, clen;
  unsigned char *tar = sample_tar (&len);
  unsigned char *z = gzip_buf (tar, len, &clen);
  expect_refused (z, clen / 2, "gzip");
  z = gzip_buf (tar, len, &clen);
  /* cut only the 8-byte trailer (CRC and size): every entry is there */
  expect_refused (z, clen - 4, "gzip stream is truncated");
  z = zstd_buf (tar, len, &clen);
  expect_refused (z, clen - 3, "zstd stream is truncated");
  free (tar);
}

static void
test_corrupt_gzip (void **state)
{
  (void) state;
  size_t len, clen;
  unsigned char *tar = sample_tar (&len);
  unsigned char *z = gzip_buf (tar, len, &clen);
  for (size_t i = 20; i < clen - 8; i += 7)
    z[i] ^= 0x5a;
  expect_refused (z, clen, "gzip");
  free (tar);
}

static void
test_garbage (void **state)
{
  (void) state;
  size_t len = 10000;
  unsigned char *junk = malloc (len);
  for (size_t i = 0; i < len; i++)
    junk[i] = (unsigned char) (i * 7919 + 13);
  expect_refused (junk, len, "tar");
  junk = malloc (1);
  expect_refused (junk, 0, "empty");
}

static void
test_not_empty (void **state)
{
  (void) state;
  int dirfd;
  char *layer = new_layer (&dirfd);
  char *p = at (layer, "already");
  unit_write (p, "");
  size_t len;
  unsigned char *tar = sample_tar (&len);
  int fd = mem_fd (tar, len);
  pier_error *err = NULL;
  pier_extract_opts o = default_opts ();
  assert_int_equal (pier_layer_extract (fd, dirfd, &o, NULL, &err), -1);
  assert_err_contains (err, "not empty", "already");
  pier_error_free (&err);
  close (fd);
  close (dirfd);
  free (p);
  free (layer);
  free (tar);
}

static void
test_into_new (void **state)
{
  (void) state;
  char *parent = at (unit_dir, "layers");
  assert_int_equal (mkdir (parent, 0700), 0);
  int pfd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (pfd >= 0);
  size_t len;
  unsigned char *tar = sample_tar (&len);
  pier_extract_opts o = default_opts ();
  o.sync = true;
  pier_extract_result res;
  pier_error *err = NULL;

  /* success: only <name> is there */
  int fd = mem_fd (tar, len);
  assert_int_equal (pier_layer_extract_into_new (pfd, "good", fd, &o, &res, &err), 0);
  assert_no_err (err);
  close (fd);
  char *good = at (parent, "good");
  check_sample (good);
  assert_int_equal (count_entries (parent), 1);

  /* an existing layer is not replaced */
  fd = mem_fd (tar, len);
  assert_int_equal (pier_layer_extract_into_new (pfd, "good", fd, &o, &res, &err), -1);
  assert_int_equal (err->code, EEXIST);
  pier_error_free (&err);
  close (fd);
  assert_int_equal (count_entries (parent), 1);

  /* failure half way (after some entries were written): nothing left */
  tb *t = tb_new ();
  tb_dir (t, "d", 0755);
  tb_file (t, "d/f", "f", 0644);
  tb_dir (t, "ro", 0500);
  tb_file (t, "../bad", "x", 0644);
  size_t blen;
  unsigned char *bad = tb_finish (t, &blen);
  fd = mem_fd (bad, blen);
  assert_int_equal (pier_layer_extract_into_new (pfd, "bad", fd, &o, &res, &err), -1);
  assert_err_contains (err, "entry `../bad`", "not allowed");
  pier_error_free (&err);
  close (fd);
  assert_int_equal (count_entries (parent), 1);

  /* truncated input: nothing left either */
  size_t clen;
  unsigned char *z = gzip_buf (tar, len, &clen);
  fd = mem_fd (z, clen - 100);
  assert_int_equal (pier_layer_extract_into_new (pfd, "cut", fd, &o, &res, &err), -1);
  assert_non_null (err);
  pier_error_free (&err);
  close (fd);
  assert_int_equal (count_entries (parent), 1);

  assert_int_equal (pier_layer_extract_into_new (pfd, "../x", 0, &o, &res, &err), -1);
  assert_err_contains (err, "../x");
  pier_error_free (&err);

  close (pfd);
  free (z);
  free (bad);
  free (good);
  free (tar);
  free (parent);
}

/* A pipe, not a seekable file: the magic may arrive in pieces. */
static void
test_pipe_input (void **state)
{
  (void) state;
  size_t len, clen;
  unsigned char *tar = sample_tar (&len);
  unsigned char *z = zstd_buf (tar, len, &clen);
  int p[2];
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      close (p[0]);
      for (size_t off = 0; off < clen; off += 3)
        if (write (p[1], z + off, clen - off < 3 ? clen - off : 3) < 0)
          _exit (1);
      _exit (0);
    }
  close (p[1]);
  int dirfd;
  char *layer = new_layer (&dirfd);
  pier_extract_opts o = default_opts ();
  pier_extract_result res;
  pier_error *err = NULL;
  assert_int_equal (pier_layer_extract (p[0], dirfd, &o, &res, &err), 0);
  assert_no_err (err);
  check_sample (layer);
  char want[PIER_DIGEST_STR_LEN + 1];
  digest_of (z, clen, want);
  assert_string_equal (res.blob_digest, want);
  int status;
  assert_int_equal (waitpid (pid, &status, 0), pid);
  close (p[0]);
  close (dirfd);
  free (layer);
  free (z);
  free (tar);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_plain),
    cmocka_unit_test (test_gzip),
    cmocka_unit_test (test_zstd),
    cmocka_unit_test (test_gzip_multi_member),
    cmocka_unit_test (test_libarchive_gzip_filter),
    cmocka_unit_test (test_libarchive_zstd_filter),
    cmocka_unit_test (test_whiteouts),
    cmocka_unit_test (test_opaque_trusted),
    cmocka_unit_test (test_opaque_userxattr),
    cmocka_unit_test (test_xattrs),
    cmocka_unit_test (test_file_capability),
    cmocka_unit_test (test_owner_and_setuid),
    cmocka_unit_test (test_devices_and_fifo),
    cmocka_unit_test (test_replace),
    cmocka_unit_test (test_dir_replaced_by_symlink),
    cmocka_unit_test (test_sparse),
    cmocka_unit_test (test_dotdot),
    cmocka_unit_test (test_absolute),
    cmocka_unit_test (test_symlink_write_through),
    cmocka_unit_test (test_hardlink_escape),
    cmocka_unit_test (test_symlink_loop),
    cmocka_unit_test (test_long_names),
    cmocka_unit_test (test_truncated_gzip),
    cmocka_unit_test (test_corrupt_gzip),
    cmocka_unit_test (test_garbage),
    cmocka_unit_test (test_not_empty),
    cmocka_unit_test (test_into_new),
    cmocka_unit_test (test_pipe_input),
  };
  unit_dir_setup (NULL);
  int rc = unit_run ("test_extract", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
