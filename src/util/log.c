#include "util/log.h"
#include "util/timestamp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util/banned.h"

static int log_fd = -1;
static int log_json;
static int log_stderr = 1;
static const char *log_program = "pier";
static enum pier_log_level log_level = PIER_LOG_WARNING;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static int
utf8_valid (const char *s)
{
  const unsigned char *p = (const unsigned char *) s;
  while (*p)
    {
      int n = *p < 0x80             ? 0
              : (*p & 0xE0) == 0xC0 ? 1
              : (*p & 0xF0) == 0xE0 ? 2
              : (*p & 0xF8) == 0xF0 ? 3
                                    : -1;
      if (n < 0)
        return 0;
      p++;
      for (int i = 0; i < n; i++, p++)
        if ((*p & 0xC0) != 0x80)
          return 0;
    }
  return 1;
}

int
pier_log_init (const char *path, int json, enum pier_log_level level)
{
  log_json = json;
  log_level = level;
  if (path == NULL || *path == '\0')
    {
      if (log_fd >= 0)
        close (log_fd);
      log_fd = -1;
      return 0;
    }
  int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  if (log_fd >= 0)
    close (log_fd);
  log_fd = fd;
  return 0;
}

void
pier_log_set_program (const char *name)
{
  log_program = name;
}

void
pier_log_set_stderr (int enabled)
{
  log_stderr = enabled;
}

static void
write_all (int fd, const char *buf, size_t len)
{
  while (len > 0)
    {
      ssize_t w = write (fd, buf, len);
      if (w <= 0)
        return;
      buf += w;
      len -= (size_t) w;
    }
}

void
pier_log (enum pier_log_level level, const char *fmt, ...)
{
  char msg[4096];
  va_list ap;

  if (level > log_level)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);

  if (log_fd >= 0)
    {
      char ts[64];
      pier_time_now_rfc3339 (ts, sizeof ts);
      if (log_json)
        {
          /* JSON strings must be UTF-8: anything else becomes '?'. */
          if (!utf8_valid (msg))
            for (char *c = msg; *c; c++)
              if ((unsigned char) *c >= 0x80)
                *c = '?';
          json_t *o = json_pack ("{s:s, s:s, s:s}", "level", level_names[level], "msg", msg, "time", ts);
          char *line = o ? json_dumps (o, JSON_COMPACT) : NULL;
          if (line)
            {
              write_all (log_fd, line, strlen (line));
              write_all (log_fd, "\n", 1);
            }
          free (line);
          json_decref (o);
        }
      else
        {
          char line[4300];
          int n = snprintf (line, sizeof line, "%s %s: %s\n", ts, level_names[level], msg);
          if (n > 0)
            write_all (log_fd, line, (size_t) n < sizeof line ? (size_t) n : sizeof line - 1);
        }
    }
  /* Errors are printed by main(); only lesser levels are echoed here. */
  if (log_stderr && level != PIER_LOG_ERROR)
    {
      char line[4200];
      int n = snprintf (line, sizeof line, "%s: %s: %s\n", log_program, level_names[level], msg);
      if (n > 0)
        write_all (2, line, (size_t) n < sizeof line ? (size_t) n : sizeof line - 1);
    }
}
