/* Fuzz target: the layer extractor (archive/extract.c).  The input is a
 * layer (tar, maybe gzip or zstd) unpacked into a fresh directory inside
 * a scratch directory that also holds a sentinel; property: after the
 * extraction (successful or not) the scratch directory holds exactly the
 * layer directory and the untouched sentinel, so nothing was written
 * outside the layer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#include "archive/extract.h"

static char scratch[256];

static int
open_up (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) ftw;
  if (flag == FTW_D || flag == FTW_DNR)
    chmod (path, (st->st_mode & 07777) | 0700);
  return 0;
}

static int
rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st, (void) ftw;
  if (flag == FTW_DP)
    rmdir (path);
  else
    unlink (path);
  return 0;
}

/* Directories may be left without permissions: open them up (top down),
 * then remove (bottom up). */
static void
rm_rf (const char *path)
{
  nftw (path, open_up, 32, FTW_PHYS);
  nftw (path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

static void
cleanup (void)
{
  if (scratch[0])
    rm_rf (scratch);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc, (void) argv;
  const char *tmp = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
  snprintf (scratch, sizeof scratch, "%s/pier-fuzz-extract-XXXXXX", tmp);
  if (mkdtemp (scratch) == NULL)
    abort ();
  atexit (cleanup);
  char p[512];
  snprintf (p, sizeof p, "%s/sentinel", scratch);
  FUZZ_ASSERT (mkdir (p, 0755) == 0);
  snprintf (p, sizeof p, "%s/sentinel/file", scratch);
  int fd = open (p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  FUZZ_ASSERT (fd >= 0 && write (fd, "keep", 4) == 4);
  close (fd);
  return 0;
}

/* The scratch directory holds only "layer" and the sentinel, as made. */
static void
check_outside (void)
{
  DIR *d = opendir (scratch);
  FUZZ_ASSERT (d != NULL);
  struct dirent *de;
  while ((de = readdir (d)))
    FUZZ_ASSERT (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
                 || strcmp (de->d_name, "layer") == 0 || strcmp (de->d_name, "sentinel") == 0);
  closedir (d);
  char p[512];
  snprintf (p, sizeof p, "%s/sentinel", scratch);
  d = opendir (p);
  FUZZ_ASSERT (d != NULL);
  int n = 0;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      {
        FUZZ_ASSERT (strcmp (de->d_name, "file") == 0);
        n++;
      }
  closedir (d);
  FUZZ_ASSERT (n == 1);
  struct stat st;
  snprintf (p, sizeof p, "%s/sentinel/file", scratch);
  FUZZ_ASSERT (lstat (p, &st) == 0 && S_ISREG (st.st_mode) && st.st_size == 4 && st.st_nlink == 1);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (scratch[0] == '\0')
    LLVMFuzzerInitialize (NULL, NULL);
  int in = memfd_create ("layer", MFD_CLOEXEC);
  FUZZ_ASSERT (in >= 0);
  FUZZ_ASSERT (size == 0 || write (in, data, size) == (ssize_t) size);
  FUZZ_ASSERT (lseek (in, 0, SEEK_SET) == 0);
  char layer[512];
  snprintf (layer, sizeof layer, "%s/layer", scratch);
  rm_rf (layer);
  FUZZ_ASSERT (mkdir (layer, 0700) == 0);
  int dirfd = open (layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  FUZZ_ASSERT (dirfd >= 0);
  pier_extract_opts o = { .ignore_xattr_errors = true, .no_chown = geteuid () != 0 };
  pier_extract_result res;
  pier_error *err = NULL;
  if (pier_layer_extract (in, dirfd, &o, &res, &err) < 0)
    {
      FUZZ_ASSERT (err && err->msg);
      pier_error_free (&err);
    }
  close (dirfd);
  close (in);
  check_outside ();
  rm_rf (layer);
  return 0;
}
