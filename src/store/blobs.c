#include "store/blobs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* Blobs never change once named: read-only for everyone who may read the
 * store at all (the root directory is 0700). */
#define BLOB_MODE 0444

struct pier_blob_writer
{
  pier_store *st;
  int fd;
  char *tmpname; /* in tmp/; NULL for an O_TMPFILE */
  pier_sha256 *hash;
  uint64_t size;
  int failed;
};

static const char *
digest_hex (const char *digest)
{
  return digest + sizeof "sha256:" - 1;
}

static int
check_digest (const char *digest, pier_error **err)
{
  if (!pier_digest_valid (digest))
    return pier_error_makex (err, EINVAL, "`%s` is not a valid digest (sha256:<64 lowercase hex digits>)",
                             digest ? digest : "(null)");
  return 0;
}

static void
writer_free (pier_blob_writer *w)
{
  if (w == NULL)
    return;
  if (w->tmpname)
    unlinkat (pier_store_tmp_fd (w->st), w->tmpname, 0);
  cleanup_closep (&w->fd);
  free (w->tmpname);
  if (w->hash)
    {
      char hex[PIER_SHA256_HEX_LEN + 1];
      pier_sha256_final (w->hash, hex);
    }
  free (w);
}

pier_blob_writer *
pier_blob_begin (pier_store *st, pier_error **err)
{
  int tmpfd = pier_store_tmp_fd (st);
  pier_blob_writer *w = xzalloc (sizeof *w);
  w->st = st;

  /* An O_TMPFILE has no name until it is linked: a crash leaves nothing. */
  w->fd = openat (tmpfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, BLOB_MODE);
  if (w->fd < 0)
    {
      if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
        {
          pier_error_make (err, errno, "cannot create a temporary file in `%s/tmp`", pier_store_root (st));
          free (w);
          return NULL;
        }
      /* Not on this filesystem (or kernel): a named file that the next
       * pier_store_open removes once we are gone. */
      w->tmpname = pier_store_tmp_name (st);
      w->fd = openat (tmpfd, w->tmpname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, BLOB_MODE);
      if (w->fd < 0)
        {
          pier_error_make (err, errno, "cannot create `%s/tmp/%s`", pier_store_root (st), w->tmpname);
          free (w->tmpname);
          free (w);
          return NULL;
        }
    }
  w->hash = pier_sha256_new ();
  return w;
}

int
pier_blob_write (pier_blob_writer *w, const void *buf, size_t len, pier_error **err)
{
  if (w->failed)
    return pier_error_makex (err, EIO, "cannot write blob: an earlier write failed");
  if (pier_write_all (w->fd, buf, len) < 0)
    {
      w->failed = 1;
      return pier_error_make (err, errno, "cannot write blob to `%s/tmp`", pier_store_root (w->st));
    }
  pier_sha256_update (w->hash, buf, len);
  w->size += len;
  return 0;
}

int
pier_blob_write_fd (pier_blob_writer *w, int fd, const char *what, pier_error **err)
{
  char buf[1 << 16];
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return pier_error_make (err, errno, "cannot read %s", what);
      if (n == 0)
        return 0;
      if (pier_blob_write (w, buf, (size_t) n, err) < 0)
        return -1;
    }
}

uint64_t
pier_blob_written (const pier_blob_writer *w)
{
  return w->size;
}

void
pier_blob_abort (pier_blob_writer *w)
{
  writer_free (w);
}

/* Give the content its name.  EEXIST is success: the same name can only
 * hold the same content. */
static int
link_into_place (pier_blob_writer *w, const char *hex, pier_error **err)
{
  int blobsfd = pier_store_blobs_fd (w->st);

  if (w->tmpname == NULL)
    {
      char proc[64];
      /* linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc link
       * does the same for any user. */
      snprintf (proc, sizeof proc, "/proc/self/fd/%d", w->fd);
      if (linkat (AT_FDCWD, proc, blobsfd, hex, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
        return pier_error_make (err, errno, "cannot link blob sha256:%s into place", hex);
      return 0;
    }
  /* link, not rename: a blob already in place stays as it is (its readers
   * keep their inode), and ours goes with the tmp name. */
  int tmpfd = pier_store_tmp_fd (w->st);
  if (linkat (tmpfd, w->tmpname, blobsfd, hex, 0) < 0 && errno != EEXIST)
    return pier_error_make (err, errno, "cannot link blob sha256:%s into place", hex);
  return 0;
}

int
pier_blob_commit (pier_blob_writer *w, const char *expected_digest, char **digest_out, pier_error **err)
{
  char hex[PIER_SHA256_HEX_LEN + 1];
  int ret = -1;

  if (expected_digest && check_digest (expected_digest, err) < 0)
    goto out;
  if (w->failed)
    {
      pier_error_makex (err, EIO, "cannot commit blob: an earlier write failed");
      goto out;
    }
  pier_sha256_final (w->hash, hex);
  w->hash = NULL;
  if (expected_digest && strcmp (digest_hex (expected_digest), hex) != 0)
    {
      pier_error_makex (err, EBADMSG, "blob content does not match its digest: expected %s, got sha256:%s",
                        expected_digest, hex);
      goto out;
    }
  if (TEMP_FAILURE_RETRY_INT (fsync (w->fd)) < 0)
    {
      pier_error_make (err, errno, "cannot fsync blob sha256:%s", hex);
      goto out;
    }
  if (link_into_place (w, hex, err) < 0)
    goto out;
  if (TEMP_FAILURE_RETRY_INT (fsync (pier_store_blobs_fd (w->st))) < 0)
    {
      pier_error_make (err, errno, "cannot fsync `%s/blobs/sha256`", pier_store_root (w->st));
      goto out;
    }
  if (digest_out)
    *digest_out = xasprintf ("sha256:%s", hex);
  ret = 0;
out:
  writer_free (w);
  return ret;
}

int
pier_blob_put (pier_store *st, const void *data, size_t len, const char *expected_digest, char **digest_out,
               pier_error **err)
{
  pier_blob_writer *w = pier_blob_begin (st, err);
  if (w == NULL)
    return -1;
  if (pier_blob_write (w, data, len, err) < 0)
    {
      pier_blob_abort (w);
      return -1;
    }
  return pier_blob_commit (w, expected_digest, digest_out, err);
}

int
pier_blob_open (pier_store *st, const char *digest, pier_error **err)
{
  if (check_digest (digest, err) < 0)
    return -1;
  int fd = openat (pier_store_blobs_fd (st), digest_hex (digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open blob %s", digest);
  return fd;
}

int
pier_blob_exists (pier_store *st, const char *digest, pier_error **err)
{
  struct stat s;
  if (check_digest (digest, err) < 0)
    return -1;
  if (fstatat (pier_store_blobs_fd (st), digest_hex (digest), &s, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return pier_error_make (err, errno, "cannot look up blob %s", digest);
    }
  return 1;
}

int
pier_blob_size (pier_store *st, const char *digest, uint64_t *size, pier_error **err)
{
  struct stat s;
  if (check_digest (digest, err) < 0)
    return -1;
  if (fstatat (pier_store_blobs_fd (st), digest_hex (digest), &s, AT_SYMLINK_NOFOLLOW) < 0)
    return pier_error_make (err, errno, "cannot look up blob %s", digest);
  *size = (uint64_t) s.st_size;
  return 0;
}

int
pier_blob_verify (pier_store *st, const char *digest, pier_error **err)
{
  char hex[PIER_SHA256_HEX_LEN + 1];
  cleanup_close int fd = pier_blob_open (st, digest, err);
  if (fd < 0)
    return -1;
  if (pier_sha256_fd (fd, hex, err) < 0)
    return pier_error_wrap (err, "cannot verify blob %s", digest);
  if (strcmp (hex, digest_hex (digest)) != 0)
    return pier_error_makex (err, EBADMSG, "blob %s is corrupt: its content has digest sha256:%s", digest,
                             hex);
  return 0;
}

int
pier_blob_delete (pier_store *st, const char *digest, pier_error **err)
{
  if (check_digest (digest, err) < 0)
    return -1;
  if (unlinkat (pier_store_blobs_fd (st), digest_hex (digest), 0) < 0)
    return pier_error_make (err, errno, "cannot delete blob %s", digest);
  if (TEMP_FAILURE_RETRY_INT (fsync (pier_store_blobs_fd (st))) < 0)
    return pier_error_make (err, errno, "cannot fsync `%s/blobs/sha256`", pier_store_root (st));
  return 0;
}
