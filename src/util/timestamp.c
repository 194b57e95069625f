/* timestamp.c - RFC 3339 times, Go durations and unix timestamps, parsed
 * the way docker's command line and API parse them. */
#include "util/timestamp.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util/banned.h"

static bool
digits (const char **s, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++)
    {
      char c = (*s)[i];
      if (c < '0' || c > '9')
        return false;
      v = v * 10 + (c - '0');
    }
  *s += n;
  *out = v;
  return true;
}

/* Up to nine digits of a fraction of a second, as nanoseconds; more are
 * cut (as Go does). */
static bool
fraction (const char **s, long *nsec)
{
  const char *p = *s;
  long v = 0;
  int n = 0;
  for (; *p >= '0' && *p <= '9'; p++, n++)
    if (n < 9)
      v = v * 10 + (*p - '0');
  if (n == 0)
    return false;
  for (; n < 9; n++)
    v *= 10;
  *nsec = v;
  *s = p;
  return true;
}

static int
days_in_month (int year, int month)
{
  static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

/* YYYY-MM-DD[THH[:MM[:SS[.frac]]]][Z|+HH:MM|-HH:MM].  With full, the time
 * down to the second and the zone are required (RFC 3339 proper); without
 * a zone the time is local_offset seconds east of UTC. */
static bool
parse_datetime (const char *s, bool full, long local_offset, struct timespec *out)
{
  int year, mon, day, hour = 0, min = 0, sec = 0;
  long nsec = 0, offset = local_offset;
  bool have_sec = false, have_zone = false;
  if (s == NULL || !digits (&s, 4, &year) || *s++ != '-' || !digits (&s, 2, &mon) || *s++ != '-'
      || !digits (&s, 2, &day))
    return false;
  if (*s == 'T')
    {
      s++;
      if (!digits (&s, 2, &hour))
        return false;
      if (*s == ':')
        {
          s++;
          if (!digits (&s, 2, &min))
            return false;
          if (*s == ':')
            {
              s++;
              if (!digits (&s, 2, &sec))
                return false;
              have_sec = true;
              if (*s == '.')
                {
                  s++;
                  if (!fraction (&s, &nsec))
                    return false;
                }
            }
        }
    }
  if (*s == 'Z' || *s == 'z')
    {
      s++;
      offset = 0;
      have_zone = true;
    }
  else if (*s == '+' || *s == '-')
    {
      int sign = *s++ == '-' ? -1 : 1, oh, om;
      if (!digits (&s, 2, &oh) || *s++ != ':' || !digits (&s, 2, &om) || oh > 23 || om > 59)
        return false;
      offset = sign * (oh * 3600L + om * 60L);
      have_zone = true;
    }
  if (*s != '\0' || (full && (!have_sec || !have_zone)))
    return false;
  if (mon < 1 || mon > 12 || day < 1 || day > days_in_month (year, mon) || hour > 23 || min > 59 || sec > 59)
    return false;
  struct tm tm = {
    .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = hour, .tm_min = min, .tm_sec = sec
  };
  out->tv_sec = timegm (&tm) - offset;
  out->tv_nsec = nsec;
  return true;
}

int
pier_time_parse_rfc3339 (const char *s, struct timespec *out)
{
  return parse_datetime (s, true, 0, out) ? 0 : -1;
}

/* Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0". */
static bool
parse_go_duration (const char *s, int64_t *ns)
{
  static const struct
  {
    const char *unit;
    double ns;
  } units[] = {
    { "ns", 1 },   { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "\xce\xbcs", 1e3 },
    { "ms", 1e6 }, { "s", 1e9 },  { "m", 60e9 },        { "h", 3600e9 },
  };
  bool neg = false;
  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  if (strcmp (s, "0") == 0)
    {
      *ns = 0;
      return true;
    }
  if (*s == '\0')
    return false;
  double total = 0;
  while (*s)
    {
      double v = 0, scale = 1;
      bool any = false;
      for (; *s >= '0' && *s <= '9'; s++, any = true)
        v = v * 10 + (*s - '0');
      if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++, any = true)
          v += (*s - '0') * (scale /= 10);
      if (!any)
        return false;
      const char *u = s;
      while (*s && *s != '.' && (*s < '0' || *s > '9'))
        s++;
      size_t len = (size_t) (s - u);
      double unit = 0;
      for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
        if (strlen (units[k].unit) == len && memcmp (units[k].unit, u, len) == 0)
          unit = units[k].ns;
      if (unit == 0)
        return false;
      total += v * unit;
      if (total > 9.2e18)
        return false;
    }
  *ns = (int64_t) (neg ? -total : total);
  return true;
}

int
pier_time_parse_duration (const char *s, int64_t *ns)
{
  return s && parse_go_duration (s, ns) ? 0 : -1;
}

/* Go's Duration.String: "1h2m3.5s", "1m0s", "500ms", "1.5µs", "0s". */
void
pier_time_format_duration (int64_t ns, char *buf, size_t n)
{
  static const char *const small[] = { "ns", "\xc2\xb5s", "ms" };
  uint64_t u = ns < 0 ? (uint64_t) - (ns + 1) + 1 : (uint64_t) ns;
  const char *sign = ns < 0 ? "-" : "";
  char frac[16] = "";
  if (u == 0)
    {
      snprintf (buf, n, "0s");
      return;
    }
  if (u < 1000000000)
    {
      /* The largest unit under a second, with the rest as a fraction. */
      int k = u < 1000 ? 0 : u < 1000000 ? 1 : 2;
      uint64_t div = k == 0 ? 1 : k == 1 ? 1000 : 1000000;
      uint64_t whole = u / div, rest = u % div;
      if (rest)
        {
          int digits = k == 1 ? 3 : 6;
          snprintf (frac, sizeof frac, ".%0*llu", digits, (unsigned long long) rest);
          size_t l = strlen (frac);
          while (frac[l - 1] == '0')
            frac[--l] = '\0';
        }
      snprintf (buf, n, "%s%llu%s%s", sign, (unsigned long long) whole, frac, small[k]);
      return;
    }
  uint64_t secs = u / 1000000000, rest = u % 1000000000;
  if (rest)
    {
      snprintf (frac, sizeof frac, ".%09llu", (unsigned long long) rest);
      size_t l = strlen (frac);
      while (frac[l - 1] == '0')
        frac[--l] = '\0';
    }
  uint64_t h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
  if (h)
    snprintf (buf, n, "%s%lluh%llum%llu%ss", sign, (unsigned long long) h, (unsigned long long) m,
              (unsigned long long) s, frac);
  else if (m)
    snprintf (buf, n, "%s%llum%llu%ss", sign, (unsigned long long) m, (unsigned long long) s, frac);
  else
    snprintf (buf, n, "%s%llu%ss", sign, (unsigned long long) s, frac);
}

/* Go's strconv.ParseInt, then an optional ".<digits>" of nanoseconds. */
static bool
parse_unix (const char *s, struct timespec *out)
{
  bool neg = false;
  int64_t sec = 0;
  long nsec = 0;
  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  if (*s < '0' || *s > '9')
    return false;
  for (; *s >= '0' && *s <= '9'; s++)
    {
      if (sec > (INT64_MAX - 9) / 10)
        return false;
      sec = sec * 10 + (*s - '0');
    }
  if (*s == '.')
    {
      s++;
      if (!fraction (&s, &nsec))
        return false;
    }
  if (*s != '\0')
    return false;
  out->tv_sec = (time_t) (neg ? -sec : sec);
  out->tv_nsec = nsec;
  return true;
}

int
pier_time_parse_user (const char *value, const struct timespec *now, struct timespec *out, pier_error **err)
{
  int64_t d = 0;
  if (strcmp (value, "0") != 0 && parse_go_duration (value, &d))
    {
      /* now - d, in whole seconds (Go's Time.Unix) */
      __int128 ns = (__int128) now->tv_sec * 1000000000 + now->tv_nsec - d;
      __int128 sec = ns / 1000000000 - (ns % 1000000000 < 0 ? 1 : 0);
      out->tv_sec = (time_t) sec;
      out->tv_nsec = 0;
      return 0;
    }
  struct tm lt;
  time_t t = now->tv_sec;
  long local_offset = localtime_r (&t, &lt) ? lt.tm_gmtoff : 0;
  if (parse_datetime (value, false, local_offset, out))
    return 0;
  /* A value with a '-' was meant as a date (negative unix times are not
   * taken, as docker's). */
  if (strchr (value, '-') == NULL && parse_unix (value, out))
    return 0;
  return pier_error_makex (err, EINVAL, "failed to parse value as time or duration: \"%s\"", value);
}

int
pier_time_cmp (const struct timespec *a, const struct timespec *b)
{
  if (a->tv_sec != b->tv_sec)
    return a->tv_sec < b->tv_sec ? -1 : 1;
  return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

void
pier_time_format_rfc3339 (const struct timespec *t, char *buf, size_t n)
{
  struct tm tm;
  gmtime_r (&t->tv_sec, &tm);
  size_t l = strftime (buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (buf + l, n - l, ".%09ldZ", t->tv_nsec);
}

void
pier_time_now_rfc3339 (char *buf, size_t n)
{
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  pier_time_format_rfc3339 (&now, buf, n);
}
