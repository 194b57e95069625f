#include "runtime/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct pier_seccomp
{
  scmp_filter_ctx ctx;
  char *listener;
  char *listener_metadata;
  unsigned flags;
  /* The compiled program, when it came from (or went to) the cache: it
   * is loaded as is, without libseccomp. */
  struct sock_filter *prog;
  size_t prog_len;
};

/* A cache file: this header, the ident text, then the program. */
#define CACHE_MAGIC "pierbpf1"
struct cache_head
{
  char magic[8];
  uint32_t flags;
  uint32_t count;     /* instructions */
  uint32_t ident_len; /* bytes of the profile's text, before them */
};

/* The flags libseccomp passes to seccomp(2) for the attributes we set. */
#define CACHED_FLAGS (SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW)

static const struct
{
  const char *name;
  uint32_t action; /* errno/trace get their value added */
} actions[] = {
  { "SCMP_ACT_KILL", SCMP_ACT_KILL },
  { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD },
  { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS },
  { "SCMP_ACT_TRAP", SCMP_ACT_TRAP },
  { "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO (0) },
  { "SCMP_ACT_TRACE", SCMP_ACT_TRACE (0) },
  { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW },
  { "SCMP_ACT_LOG", SCMP_ACT_LOG },
  { "SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY },
};

static const struct
{
  const char *name;
  enum scmp_compare op;
} operators[] = {
  { "SCMP_CMP_NE", SCMP_CMP_NE },
  { "SCMP_CMP_LT", SCMP_CMP_LT },
  { "SCMP_CMP_LE", SCMP_CMP_LE },
  { "SCMP_CMP_EQ", SCMP_CMP_EQ },
  { "SCMP_CMP_GE", SCMP_CMP_GE },
  { "SCMP_CMP_GT", SCMP_CMP_GT },
  { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

static const struct
{
  const char *name;
  uint32_t arch;
} archs[] = {
  { "SCMP_ARCH_X86", SCMP_ARCH_X86 },
  { "SCMP_ARCH_X86_64", SCMP_ARCH_X86_64 },
  { "SCMP_ARCH_X32", SCMP_ARCH_X32 },
  { "SCMP_ARCH_ARM", SCMP_ARCH_ARM },
  { "SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64 },
  { "SCMP_ARCH_MIPS", SCMP_ARCH_MIPS },
  { "SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64 },
  { "SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32 },
  { "SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL },
  { "SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64 },
  { "SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32 },
  { "SCMP_ARCH_PPC", SCMP_ARCH_PPC },
  { "SCMP_ARCH_PPC64", SCMP_ARCH_PPC64 },
  { "SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE },
  { "SCMP_ARCH_S390", SCMP_ARCH_S390 },
  { "SCMP_ARCH_S390X", SCMP_ARCH_S390X },
  { "SCMP_ARCH_PARISC", SCMP_ARCH_PARISC },
  { "SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64 },
  { "SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64 },
};

static const struct
{
  const char *name;
  unsigned flag;
} flags[] = {
  { "SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC },
  { "SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG },
  { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW },
  { "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 1U << 5 },
};

static int
parse_action (const char *name, json_t *errno_ret, const char *where, uint32_t def_errno, uint32_t *out,
              pier_error **err)
{
  for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
    if (strcmp (name, actions[i].name) == 0)
      {
        uint32_t a = actions[i].action;
        if (a == SCMP_ACT_ERRNO (0))
          a = SCMP_ACT_ERRNO (json_is_integer (errno_ret) ? (uint32_t) json_integer_value (errno_ret)
                                                          : def_errno);
        else if (a == SCMP_ACT_TRACE (0))
          a = SCMP_ACT_TRACE (json_is_integer (errno_ret) ? (uint32_t) json_integer_value (errno_ret)
                                                          : def_errno);
        *out = a;
        return 0;
      }
  return pier_error_makex (err, EINVAL, "%s: unknown seccomp action `%s`", where, name);
}

void
pier_seccomp_free (pier_seccomp *s)
{
  if (s == NULL)
    return;
  if (s->ctx)
    seccomp_release (s->ctx);
  free (s->listener);
  free (s->listener_metadata);
  free (s->prog);
  free (s);
}

int
pier_seccomp_compile (json_t *obj, pier_seccomp **out, pier_error **err)
{
  const char *def = NULL, *lp = NULL, *lm = NULL;
  json_t *arr = NULL, *v, *syscalls = NULL;
  size_t i;
  uint32_t def_action;
  const char *W = "linux.seccomp";

  if (pier_json_str (obj, "defaultAction", W, &def, err) < 0)
    return -1;
  if (def == NULL)
    return pier_error_makex (err, EINVAL, "linux.seccomp.defaultAction is required");
  if (parse_action (def, json_object_get (obj, "defaultErrnoRet"), "linux.seccomp.defaultAction", EPERM,
                    &def_action, err)
      < 0)
    return -1;
  pier_seccomp *s = xzalloc (sizeof *s);
  s->ctx = seccomp_init (def_action);
  if (s->ctx == NULL)
    {
      free (s);
      return pier_error_makex (err, EINVAL, "cannot initialise seccomp with action %s", def);
    }
  /* no_new_privs is the config's decision, not libseccomp's. */
  seccomp_attr_set (s->ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (pier_json_str (obj, "listenerPath", W, &lp, err) < 0
      || pier_json_str (obj, "listenerMetadata", W, &lm, err) < 0)
    goto fail;
  if (lp && *lp)
    s->listener = xstrdup (lp);
  if (lm && *lm)
    s->listener_metadata = xstrdup (lm);
  if (pier_json_arr (obj, "architectures", W, &arr, err) < 0)
    goto fail;
  json_array_foreach (arr, i, v)
  {
    size_t k;
    const char *a = json_string_value (v);
    for (k = 0; a && k < sizeof archs / sizeof archs[0]; k++)
      if (strcmp (a, archs[k].name) == 0)
        break;
    if (a == NULL || k == sizeof archs / sizeof archs[0])
      {
        pier_error_makex (err, EINVAL, "linux.seccomp.architectures[%zu]: unknown architecture `%s`", i,
                          a ? a : "(not a string)");
        goto fail;
      }
    int r = seccomp_arch_add (s->ctx, archs[k].arch);
    if (r < 0 && r != -EEXIST)
      {
        pier_error_make (err, -r, "cannot add seccomp architecture %s", a);
        goto fail;
      }
  }
  arr = NULL;
  if (pier_json_arr (obj, "flags", W, &arr, err) < 0)
    goto fail;
  json_array_foreach (arr, i, v)
  {
    size_t k;
    const char *f = json_string_value (v);
    for (k = 0; f && k < sizeof flags / sizeof flags[0]; k++)
      if (strcmp (f, flags[k].name) == 0)
        break;
    if (f == NULL || k == sizeof flags / sizeof flags[0])
      {
        pier_error_makex (err, EINVAL, "linux.seccomp.flags[%zu]: unknown flag `%s`", i, f ? f : "?");
        goto fail;
      }
    s->flags |= flags[k].flag;
    if (flags[k].flag == SECCOMP_FILTER_FLAG_TSYNC)
      seccomp_attr_set (s->ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    else if (flags[k].flag == SECCOMP_FILTER_FLAG_LOG)
      seccomp_attr_set (s->ctx, SCMP_FLTATR_CTL_LOG, 1);
    else if (flags[k].flag == SECCOMP_FILTER_FLAG_SPEC_ALLOW)
      seccomp_attr_set (s->ctx, SCMP_FLTATR_CTL_SSB, 1);
  }
  if (pier_json_arr (obj, "syscalls", W, &syscalls, err) < 0)
    goto fail;
  json_array_foreach (syscalls, i, v)
  {
    cleanup_free char *w = xasprintf ("linux.seccomp.syscalls[%zu]", i);
    const char *act = NULL;
    json_t *names = NULL, *args = NULL, *n;
    uint32_t action;
    size_t j;
    if (!json_is_object (v))
      {
        pier_error_makex (err, EINVAL, "%s must be an object", w);
        goto fail;
      }
    if (pier_json_str (v, "action", w, &act, err) < 0 || pier_json_arr (v, "names", w, &names, err) < 0
        || pier_json_arr (v, "args", w, &args, err) < 0)
      goto fail;
    if (act == NULL || names == NULL)
      {
        pier_error_makex (err, EINVAL, "%s needs names and action", w);
        goto fail;
      }
    if (parse_action (act, json_object_get (v, "errnoRet"), w, EPERM, &action, err) < 0)
      goto fail;
    if (action == SCMP_ACT_NOTIFY && s->listener == NULL)
      {
        pier_error_makex (err, EINVAL, "%s: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath", w);
        goto fail;
      }
    size_t nargs = json_array_size (args);
    struct scmp_arg_cmp cmps[6];
    int dup_index = 0;
    unsigned seen = 0;
    for (size_t a = 0; a < nargs; a++)
      {
        json_t *arg = json_array_get (args, a);
        uint64_t idx = 0, val = 0, val2 = 0;
        const char *op = NULL;
        cleanup_free char *wa = xasprintf ("%s.args[%zu]", w, a);
        size_t k;
        if (a >= 6 || !json_is_object (arg))
          {
            pier_error_makex (err, EINVAL, "%s is invalid (at most 6 objects)", wa);
            goto fail;
          }
        if (pier_json_u64 (arg, "index", wa, &idx, err) < 0 || pier_json_u64 (arg, "value", wa, &val, err) < 0
            || pier_json_u64 (arg, "valueTwo", wa, &val2, err) < 0
            || pier_json_str (arg, "op", wa, &op, err) < 0)
          goto fail;
        for (k = 0; op && k < sizeof operators / sizeof operators[0]; k++)
          if (strcmp (op, operators[k].name) == 0)
            break;
        if (op == NULL || k == sizeof operators / sizeof operators[0] || idx > 5)
          {
            pier_error_makex (err, EINVAL, "%s: bad index or unknown operator `%s`", wa, op ? op : "?");
            goto fail;
          }
        if (seen & (1U << idx))
          dup_index = 1;
        seen |= 1U << idx;
        cmps[a] = (struct scmp_arg_cmp){ (unsigned) idx, operators[k].op, val, val2 };
      }
    json_array_foreach (names, j, n)
    {
      const char *name = json_string_value (n);
      if (name == NULL)
        {
          pier_error_makex (err, EINVAL, "%s.names[%zu] must be a string", w, j);
          goto fail;
        }
      int nr = seccomp_syscall_resolve_name (name);
      if (nr == __NR_SCMP_ERROR)
        continue; /* unknown to this libseccomp/kernel: as runc, skip */
      if (action == def_action)
        continue;
      int r;
      if (!dup_index)
        r = seccomp_rule_add_array (s->ctx, action, nr, (unsigned) nargs, cmps);
      else
        {
          /* libseccomp cannot compare one argument twice in a rule:
               * one rule per comparison, as runc does. */
          r = 0;
          for (size_t a = 0; r >= 0 && a < nargs; a++)
            r = seccomp_rule_add_array (s->ctx, action, nr, 1, &cmps[a]);
        }
      if (r < 0)
        {
          pier_error_make (err, -r, "%s: cannot add rule for `%s`", w, name);
          goto fail;
        }
    }
  }
  *out = s;
  return 0;
fail:
  pier_seccomp_free (s);
  return -1;
}

int
pier_seccomp_load (pier_seccomp *s, int *notify_fd, pier_error **err)
{
  if (notify_fd)
    *notify_fd = -1;
  if (s->prog)
    {
      struct sock_fprog fp = { .len = (unsigned short) s->prog_len, .filter = s->prog };
      if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, s->flags & CACHED_FLAGS, &fp) != 0)
        return pier_error_make (err, errno, "cannot load the seccomp filter");
      return 0;
    }
  int r = seccomp_load (s->ctx);
  if (r < 0)
    return pier_error_make (err, -r, "cannot load the seccomp filter");
  if (s->listener && notify_fd)
    {
      int fd = seccomp_notify_fd (s->ctx);
      if (fd < 0)
        return pier_error_make (err, -fd, "cannot get the seccomp notify fd");
      *notify_fd = fd;
    }
  return 0;
}

/* What a cache entry is for: the profile as canonical JSON and the
 * libseccomp that compiles it (which syscall names it knows changes the
 * program).  An entry holds this text whole and is used only when it
 * matches byte for byte; its file name is just a hash of it. */
static char *
cache_ident (json_t *obj, char *name, size_t name_size)
{
  const struct scmp_version *v = seccomp_version ();
  cleanup_free char *dump = json_dumps (obj, JSON_COMPACT | JSON_SORT_KEYS);
  if (dump == NULL)
    return NULL;
  char *ident = xasprintf ("libseccomp %u.%u.%u\n%s", v->major, v->minor, v->micro, dump);
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *) ident; *p; p++)
    h = (h ^ *p) * 0x100000001b3ULL;
  snprintf (name, name_size, "%016llx.bpf", (unsigned long long) h);
  return ident;
}

static pier_seccomp *
cache_read (int dirfd, const char *name, const char *ident)
{
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  cleanup_free char *buf = NULL;
  size_t len = 0, ilen = strlen (ident);
  struct stat st;
  struct cache_head head;
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_uid != geteuid ()
      || (st.st_mode & 022) != 0 || pier_read_fd (fd, "a seccomp cache entry", &buf, &len, NULL) < 0
      || len < sizeof head)
    return NULL;
  memcpy (&head, buf, sizeof head);
  if (memcmp (head.magic, CACHE_MAGIC, 8) != 0 || head.ident_len != ilen || head.count == 0
      || head.count > BPF_MAXINSNS || len != sizeof head + ilen + head.count * sizeof (struct sock_filter)
      || memcmp (buf + sizeof head, ident, ilen) != 0)
    return NULL;
  pier_seccomp *s = xzalloc (sizeof *s);
  s->prog_len = head.count;
  s->prog = xmalloc (head.count * sizeof (struct sock_filter));
  memcpy (s->prog, buf + sizeof head + ilen, head.count * sizeof (struct sock_filter));
  s->flags = head.flags & CACHED_FLAGS;
  return s;
}

/* Export what libseccomp would load into s->prog. */
static int
export_prog (pier_seccomp *s)
{
  cleanup_close int fd = memfd_create ("seccomp-bpf", MFD_CLOEXEC);
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (fd < 0 || seccomp_export_bpf (s->ctx, fd) < 0 || lseek (fd, 0, SEEK_SET) < 0
      || pier_read_fd (fd, "the seccomp program", &buf, &len, NULL) < 0)
    return -1;
  if (len == 0 || len % sizeof (struct sock_filter) != 0 || len / sizeof (struct sock_filter) > BPF_MAXINSNS)
    return -1;
  s->prog = xmalloc (len);
  memcpy (s->prog, buf, len);
  s->prog_len = len / sizeof (struct sock_filter);
  return 0;
}

static void
cache_write (const char *dir, const char *name, const char *ident, const pier_seccomp *s)
{
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    return;
  cleanup_close int dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dirfd < 0)
    return;
  size_t ilen = strlen (ident), plen = s->prog_len * sizeof (struct sock_filter);
  cleanup_free char *buf = xmalloc (sizeof (struct cache_head) + ilen + plen);
  struct cache_head head
      = { .flags = s->flags & CACHED_FLAGS, .count = (uint32_t) s->prog_len, .ident_len = (uint32_t) ilen };
  memcpy (head.magic, CACHE_MAGIC, 8);
  memcpy (buf, &head, sizeof head);
  memcpy (buf + sizeof head, ident, ilen);
  memcpy (buf + sizeof head + ilen, s->prog, plen);
  pier_atomic_write (dirfd, name, buf, sizeof head + ilen + plen, 0600, NULL);
}

int
pier_seccomp_compile_cached (json_t *obj, const char *cache_dir, pier_seccomp **out, pier_error **err)
{
  char name[32];
  const char *lp = json_string_value (json_object_get (obj, "listenerPath"));
  cleanup_free char *ident = NULL;
  if (cache_dir != NULL && (lp == NULL || *lp == '\0'))
    ident = cache_ident (obj, name, sizeof name);
  if (ident)
    {
      cleanup_close int dirfd = open (cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      pier_seccomp *hit = dirfd >= 0 ? cache_read (dirfd, name, ident) : NULL;
      if (hit)
        {
          *out = hit;
          return 0;
        }
    }
  pier_seccomp *s = NULL;
  if (pier_seccomp_compile (obj, &s, err) < 0)
    return -1;
  if (ident && s->listener == NULL && export_prog (s) == 0)
    cache_write (cache_dir, name, ident, s);
  *out = s;
  return 0;
}

const char *
pier_seccomp_listener (const pier_seccomp *s)
{
  return s->listener;
}

const char *
pier_seccomp_listener_metadata (const pier_seccomp *s)
{
  return s->listener_metadata;
}

json_t *
pier_seccomp_features (void)
{
  json_t *j = json_object (), *a = json_array (), *o = json_array (), *ar = json_array (), *f = json_array ();
  for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
    json_array_append_new (a, json_string (actions[i].name));
  for (size_t i = 0; i < sizeof operators / sizeof operators[0]; i++)
    json_array_append_new (o, json_string (operators[i].name));
  for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
    json_array_append_new (ar, json_string (archs[i].name));
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    json_array_append_new (f, json_string (flags[i].name));
  json_object_set_new (j, "enabled", json_true ());
  json_object_set_new (j, "actions", a);
  json_object_set_new (j, "operators", o);
  json_object_set_new (j, "archs", ar);
  json_object_set_new (j, "knownFlags", f);
  json_object_set (j, "supportedFlags", f);
  return j;
}
