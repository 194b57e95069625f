/* logfile.c - docker's json-file log driver: writer (in the monitor) and
 * reader (pier logs). */
#include "engine/logfile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/timestamp.h"
#include "util/units.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define LINE_MAX_BYTES 16384

struct partial
{
  char buf[LINE_MAX_BYTES];
  size_t len;
};

struct pier_logfile
{
  char *path;
  int fd;
  int64_t size, max_size;
  int max_file;
  struct partial out, err;
};

int
pier_logfile_open (const char *path, const char *max_size, const char *max_file, pier_logfile **out,
                   pier_error **err)
{
  pier_logfile *l = xzalloc (sizeof *l);
  l->max_size = -1;
  l->max_file = 1;
  if (max_size && (pier_parse_ram (max_size, &l->max_size) < 0 || l->max_size <= 0))
    {
      free (l);
      return pier_error_makex (err, EINVAL, "invalid max-size for the json-file log: %s", max_size);
    }
  if (max_file)
    {
      char *end;
      long n = strtol (max_file, &end, 10);
      if (*end || n < 1)
        {
          free (l);
          return pier_error_makex (err, EINVAL, "invalid max-file for the json-file log: %s", max_file);
        }
      l->max_file = (int) n;
    }
  l->path = xstrdup (path);
  l->fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (l->fd < 0)
    {
      int e = errno;
      free (l->path);
      free (l);
      return pier_error_make (err, e, "cannot open the log %s", path);
    }
  struct stat st;
  l->size = fstat (l->fd, &st) == 0 ? st.st_size : 0;
  *out = l;
  return 0;
}

static void
rotate (pier_logfile *l)
{
  if (l->max_file <= 1)
    {
      if (ftruncate (l->fd, 0) == 0)
        l->size = 0;
      return;
    }
  for (int i = l->max_file - 1; i >= 1; i--)
    {
      cleanup_free char *from = i == 1 ? xstrdup (l->path) : xasprintf ("%s.%d", l->path, i - 1);
      cleanup_free char *to = xasprintf ("%s.%d", l->path, i);
      rename (from, to);
    }
  int fd = open (l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd >= 0)
    {
      close (l->fd);
      l->fd = fd;
      l->size = 0;
    }
}

/* JSON string body for bytes: invalid UTF-8 becomes U+FFFD, as docker. */
static void
escape (const unsigned char *s, size_t n, char **out, size_t *olen, size_t *ocap)
{
  for (size_t i = 0; i < n;)
    {
      if (*olen + 16 > *ocap)
        {
          *ocap = *ocap * 2 + 64;
          *out = xrealloc (*out, *ocap);
        }
      unsigned char c = s[i];
      char *o = *out + *olen;
      if (c == '"' || c == '\\')
        {
          o[0] = '\\', o[1] = (char) c;
          *olen += 2, i++;
        }
      else if (c == '\n')
        memcpy (o, "\\n", 2), *olen += 2, i++;
      else if (c == '\r')
        memcpy (o, "\\r", 2), *olen += 2, i++;
      else if (c == '\t')
        memcpy (o, "\\t", 2), *olen += 2, i++;
      else if (c < 0x20 || c == 0x7f)
        *olen += (size_t) snprintf (o, 8, "\\u%04x", c), i++;
      else if (c < 0x80)
        o[0] = (char) c, *olen += 1, i++;
      else
        {
          size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
          bool ok = len > 0 && i + len <= n;
          for (size_t k = 1; ok && k < len; k++)
            ok = (s[i + k] & 0xc0) == 0x80;
          if (ok)
            {
              memcpy (o, s + i, len);
              *olen += len, i += len;
            }
          else
            memcpy (o, "\\ufffd", 6), *olen += 6, i++;
        }
    }
}

static void
emit (pier_logfile *l, const char *stream, const char *text, size_t n)
{
  char when[64];
  pier_time_now_rfc3339 (when, sizeof when);
  size_t cap = n * 2 + 128, len = 0;
  char *line = xmalloc (cap);
  memcpy (line, "{\"log\":\"", 8);
  len = 8;
  escape ((const unsigned char *) text, n, &line, &len, &cap);
  char tail[160];
  int tl = snprintf (tail, sizeof tail, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, when);
  if (len + (size_t) tl > cap)
    line = xrealloc (line, len + (size_t) tl + 1);
  memcpy (line + len, tail, (size_t) tl);
  len += (size_t) tl;
  if (l->max_size > 0 && l->size + (int64_t) len > l->max_size && l->size > 0)
    rotate (l);
  if (pier_write_all (l->fd, line, len) == 0)
    l->size += (int64_t) len;
  free (line);
}

void
pier_logfile_write (pier_logfile *l, const char *stream, const char *buf, size_t n)
{
  struct partial *p = strcmp (stream, "stderr") == 0 ? &l->err : &l->out;
  while (n > 0)
    {
      const char *nl = memchr (buf, '\n', n);
      size_t take = nl ? (size_t) (nl - buf) + 1 : n;
      if (p->len + take > sizeof p->buf)
        take = sizeof p->buf - p->len;
      memcpy (p->buf + p->len, buf, take);
      p->len += take;
      buf += take;
      n -= take;
      if (p->buf[p->len - 1] == '\n' || p->len == sizeof p->buf)
        {
          emit (l, stream, p->buf, p->len);
          p->len = 0;
        }
    }
}

void
pier_logfile_close (pier_logfile *l)
{
  if (l == NULL)
    return;
  if (l->out.len)
    emit (l, "stdout", l->out.buf, l->out.len);
  if (l->err.len)
    emit (l, "stderr", l->err.buf, l->err.len);
  close (l->fd);
  free (l->path);
  free (l);
}

static int
read_one (const char *path, int64_t start, int64_t *end, pier_log_entry **out, size_t *n, size_t *cap,
          pier_error **err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return pier_error_make (err, errno, "cannot read the log %s", path);
    }
  if (start > 0 && lseek (fd, start, SEEK_SET) < 0)
    return pier_error_make (err, errno, "cannot read the log %s", path);
  cleanup_free char *text = NULL;
  size_t len;
  if (pier_read_fd (fd, path, &text, &len, err) < 0)
    return -1;
  /* Only whole lines: a line being written is read next time. */
  size_t used = 0;
  for (char *line = text; (size_t) (line - text) < len;)
    {
      char *nl = memchr (line, '\n', len - (size_t) (line - text));
      if (nl == NULL)
        break;
      *nl = '\0';
      used = (size_t) (nl - text) + 1;
      json_t *j = json_loads (line, 0, NULL);
      line = nl + 1;
      if (j == NULL)
        continue;
      if (*n == *cap)
        {
          *cap = *cap ? *cap * 2 : 64;
          *out = xrealloc (*out, *cap * sizeof **out);
        }
      pier_log_entry *e = &(*out)[(*n)++];
      const char *lg = json_string_value (json_object_get (j, "log"));
      size_t ll = json_string_length (json_object_get (j, "log"));
      e->text = lg ? xstrndup (lg, ll) : xstrdup ("");
      e->stream = xstrdup (json_string_value (json_object_get (j, "stream")) ?: "stdout");
      e->time = xstrdup (json_string_value (json_object_get (j, "time")) ?: "");
      struct timespec ts;
      e->time_ns = pier_time_parse_rfc3339 (e->time, &ts) == 0 ? pier_time_ns (&ts) : -1;
      json_decref (j);
    }
  if (end)
    *end = start + (int64_t) used;
  return 0;
}

int
pier_logfile_read (const char *path, bool rotated, int64_t *offset, pier_log_entry **out, size_t *n,
                   pier_error **err)
{
  pier_log_entry *es = NULL;
  size_t cnt = 0, cap = 0;
  if (rotated)
    {
      int last = 0;
      for (int i = 1; i < 100; i++)
        {
          cleanup_free char *p = xasprintf ("%s.%d", path, i);
          if (access (p, F_OK) < 0)
            break;
          last = i;
        }
      for (int i = last; i >= 1; i--)
        {
          cleanup_free char *p = xasprintf ("%s.%d", path, i);
          if (read_one (p, 0, NULL, &es, &cnt, &cap, err) < 0)
            {
              pier_log_entries_free (es, cnt);
              return -1;
            }
        }
    }
  if (read_one (path, offset ? *offset : 0, offset, &es, &cnt, &cap, err) < 0)
    {
      pier_log_entries_free (es, cnt);
      return -1;
    }
  *out = es;
  *n = cnt;
  return 0;
}

void
pier_log_entries_free (pier_log_entry *e, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (e[i].stream);
      free (e[i].text);
      free (e[i].time);
    }
  free (e);
}
