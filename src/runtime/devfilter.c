#include "runtime/devfilter.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define INSN(c, d, s, o, i) ((struct bpf_insn){ (uint8_t) (c), (d), (s), (int16_t) (o), (int32_t) (i) })

struct prog
{
  struct bpf_insn *v;
  size_t n, cap;
};

static void
emit (struct prog *p, struct bpf_insn i)
{
  if (p->n == p->cap)
    p->v = xrealloc (p->v, (p->cap = p->cap ? p->cap * 2 : 64) * sizeof (struct bpf_insn));
  p->v[p->n++] = i;
}

/* One rule: jump to the end of the block when it does not match, else
 * return its verdict.  Registers: r2 type, r3 access, r4 major, r5 minor. */
static bool
emit_rule (struct prog *p, const pier_dev_rule *r)
{
  size_t start = p->n;
  size_t jumps[4];
  size_t nj = 0;
  if (r->type != 'a')
    {
      jumps[nj++] = p->n;
      emit (p, INSN (BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0,
                     r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
    }
  int acc = 0;
  for (const char *a = r->access; *a; a++)
    acc |= *a == 'r' ? BPF_DEVCG_ACC_READ : *a == 'w' ? BPF_DEVCG_ACC_WRITE : BPF_DEVCG_ACC_MKNOD;
  if (acc != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD))
    {
      /* The request must be a subset of what the rule names. */
      emit (p, INSN (BPF_ALU | BPF_MOV | BPF_X, 1, 3, 0, 0));
      emit (p, INSN (BPF_ALU | BPF_AND | BPF_K, 1, 0, 0, ~acc));
      jumps[nj++] = p->n;
      emit (p, INSN (BPF_JMP | BPF_JNE | BPF_K, 1, 0, 0, 0));
    }
  if (r->major >= 0)
    {
      jumps[nj++] = p->n;
      emit (p, INSN (BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t) r->major));
    }
  if (r->minor >= 0)
    {
      jumps[nj++] = p->n;
      emit (p, INSN (BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t) r->minor));
    }
  emit (p, INSN (BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, r->allow ? 1 : 0));
  emit (p, INSN (BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  for (size_t k = 0; k < nj; k++)
    p->v[jumps[k]].off = (int16_t) (p->n - jumps[k] - 1);
  (void) start;
  return nj == 0;
}

int
pier_devfilter_attach (const char *dir, const pier_dev_rule *rules, size_t n, const pier_dev_rule *defaults,
                       size_t n_defaults, pier_error **err)
{
  struct prog p = { 0 };
  char log[4096] = "";
  /* r1 = ctx; load type, access, major, minor. */
  emit (&p, INSN (BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0));
  emit (&p, INSN (BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xFFFF));
  emit (&p, INSN (BPF_LDX | BPF_MEM | BPF_W, 3, 1, 0, 0));
  emit (&p, INSN (BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16));
  emit (&p, INSN (BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0));
  emit (&p, INSN (BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0));
  /* Last match wins: test the rules from the last one back, and stop
   * after one that matches everything (the verifier rejects dead code). */
  bool final = false;
  for (size_t k = n_defaults; k > 0 && !final; k--)
    final = emit_rule (&p, &defaults[k - 1]);
  for (size_t k = n; k > 0 && !final; k--)
    final = emit_rule (&p, &rules[k - 1]);
  if (!final)
    {
      emit (&p, INSN (BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 0));
      emit (&p, INSN (BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    }

  union bpf_attr a;
  /* Load without a verifier log first (a log that overflows its buffer
   * fails the load with ENOSPC); on failure, load again for the message. */
  int prog = -1;
  for (int attempt = 0; attempt < 2 && prog < 0; attempt++)
    {
      memset (&a, 0, sizeof a);
      a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
      a.insns = (uint64_t) (uintptr_t) p.v;
      a.insn_cnt = (uint32_t) p.n;
      a.license = (uint64_t) (uintptr_t) "GPL";
      if (attempt == 1)
        {
          a.log_buf = (uint64_t) (uintptr_t) log;
          a.log_size = sizeof log;
          a.log_level = 1;
        }
      prog = (int) syscall (SYS_bpf, BPF_PROG_LOAD, &a, sizeof a);
    }
  free (p.v);
  if (prog < 0)
    return pier_error_make (err, errno, "cannot load the cgroup v2 device filter%s%s", *log ? ": " : "", log);
  cleanup_close int cg = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0)
    {
      close (prog);
      return pier_error_make (err, errno, "cannot open cgroup `%s`", dir);
    }
  memset (&a, 0, sizeof a);
  a.target_fd = (uint32_t) cg;
  a.attach_bpf_fd = (uint32_t) prog;
  a.attach_type = BPF_CGROUP_DEVICE;
  a.attach_flags = BPF_F_ALLOW_MULTI;
  int r = (int) syscall (SYS_bpf, BPF_PROG_ATTACH, &a, sizeof a);
  int e = errno;
  close (prog);
  if (r < 0)
    return pier_error_make (err, e, "cannot attach the device filter to `%s`", dir);
  return 0;
}
