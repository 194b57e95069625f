/* exec.c - run an extra process inside a running container. */
#include "runtime/container.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/process.h"
#include "runtime/seccomp.h"
#include "runtime/sync.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static bool
same_ns (pid_t pid, const char *name)
{
  char a[64], b[64];
  struct stat sa, sb;
  snprintf (a, sizeof a, "/proc/%d/ns/%s", (int) pid, name);
  snprintf (b, sizeof b, "/proc/self/ns/%s", name);
  if (stat (a, &sa) < 0 || stat (b, &sb) < 0)
    return true;
  return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

struct exec_child
{
  const pier_exec_request *r;
  pier_spec *spec;
  pier_seccomp *sc;
  int sync;
  int console;
  int listener;
  char *state_json;
  int nsfds[PIER_NS_COUNT];
  const pier_cgroup_join *join; /* how the process joins its cgroup, or NULL */
  bool wait_go;                 /* the process waits for the runtime's GO */
};

static void __attribute__ ((noreturn)) exec_final (struct exec_child *c)
{
  pier_error *err = NULL;
  cleanup_free char *exe = NULL;
  pier_process *p = c->r->process;
  if (p->terminal && pier_process_setup_terminal (p, c->console, false, &err) < 0)
    goto fail;
  if (c->console >= 0)
    close (c->console);
  if (p->has_oom_score_adj)
    {
      char b[16];
      int n = snprintf (b, sizeof b, "%d", p->oom_score_adj);
      pier_write_file_at (AT_FDCWD, "/proc/self/oom_score_adj", b, (size_t) n, NULL);
    }
  if (pier_process_find (p, &exe, &err) < 0)
    goto fail;
  pid_t self = 0;
  if (c->wait_go)
    {
      /* Our pid as the host sees it comes from the runtime, once we are
       * in our cgroup. */
      pier_sync_msg m;
      if (pier_sync_expect (c->sync, PIER_SYNC_GO, &m, &err) < 0)
        goto fail;
      self = (pid_t) m.value;
    }
  pier_exec_opts eo = { c->spec, c->sc, true, c->r->preserve_fds, c->state_json, c->listener, self };
  pier_process_exec (p, exe, &eo, &err);
fail:
  pier_sync_send (c->sync, PIER_SYNC_ERROR, err ? err->code : EIO, err ? err->msg : "exec failed", NULL);
  _exit (127);
}

static void __attribute__ ((noreturn)) exec_stage1 (struct exec_child *c)
{
  pier_error *err = NULL;
  pier_sync_msg m;
  /* No process in the container may open us through /proc while we are
   * still the runtime binary. */
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Into the container's v1 cgroups by ourselves (pier_cgroup_join): no
   * wait for the kernel's global lock; the runtime moves us if we cannot. */
  bool in_v1 = c->join && pier_cgroup_join_self_v1 (c->join);
  if (pier_sync_send (c->sync, PIER_SYNC_CGROUP, in_v1, NULL, NULL) < 0
      || pier_sync_expect (c->sync, PIER_SYNC_GO, &m, &err) < 0)
    _exit (1);
  /* GO's value: whether the runtime moved us into the v2 cgroup. */
  bool born_v2 = c->join && c->join->v2 >= 0 && m.value == 0;
  /* Namespaces the container's user namespace does not own (a network
   * namespace the engine made) first: inside it we could not join them. */
  for (int t = 0; t < PIER_NS_COUNT; t++)
    if (t != PIER_NS_USER && c->nsfds[t] >= 0 && c->nsfds[PIER_NS_USER] >= 0
        && !pier_ns_owned_by (c->nsfds[t], c->nsfds[PIER_NS_USER]))
      {
        if (setns (c->nsfds[t], pier_ns_table[t].flag) < 0)
          {
            pier_error_make (&err, errno, "cannot join the container's %s namespace",
                             pier_ns_table[t].oci_name);
            goto fail;
          }
        close (c->nsfds[t]);
        c->nsfds[t] = -1;
      }
  for (int t = 0; t < PIER_NS_COUNT; t++)
    if (c->nsfds[t] >= 0 && setns (c->nsfds[t], pier_ns_table[t].flag) < 0)
      {
        pier_error_make (&err, errno, "cannot join the container's %s namespace", pier_ns_table[t].oci_name);
        goto fail;
      }
  for (int t = 0; t < PIER_NS_COUNT; t++)
    if (c->nsfds[t] >= 0)
      close (c->nsfds[t]);
  /* Born in the v2 cgroup (CLONE_INTO_CGROUP); else the runtime moves
   * the process, which waits for it. */
  pid_t e = -1;
  bool in_v2 = false;
  if (born_v2)
    {
      struct clone_args_v2
      {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
            set_tid_size, cgroup;
      } ca = { 0 };
      ca.flags = CLONE_PARENT | 0x200000000ULL /* CLONE_INTO_CGROUP */;
      ca.cgroup = (uint64_t) c->join->v2;
      c->wait_go = c->listener >= 0;
      e = (pid_t) syscall (SYS_clone3, &ca, sizeof ca);
      in_v2 = e >= 0;
    }
  if (e < 0)
    {
      c->wait_go = c->listener >= 0 || born_v2;
      e = (pid_t) syscall (SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
    }
  if (e < 0)
    {
      pier_error_make (&err, errno, "fork");
      goto fail;
    }
  if (e == 0)
    exec_final (c);
  pier_sync_send (c->sync, PIER_SYNC_PID, e, born_v2 && !in_v2 ? "move-v2" : "", NULL);
  _exit (0);
fail:
  pier_sync_send (c->sync, PIER_SYNC_ERROR, err ? err->code : EIO, err ? err->msg : "failed", NULL);
  _exit (1);
}

int
pier_container_exec (const pier_exec_request *r, pid_t *out_pid, int *status, pier_error **err)
{
  pier_state *st = NULL;
  struct exec_child c = { 0 };
  int sp[2] = { -1, -1 }, rc = -1;
  pid_t stage1 = -1, e = -1;
  pier_sync_msg m;
  pier_cgroup cg = { NULL };
  pier_cgroup_join join = { -1, NULL, 0 };

  c.r = r;
  c.console = r->console_fd;
  for (int t = 0; t < PIER_NS_COUNT; t++)
    c.nsfds[t] = -1;
  if (pier_state_load (r->root, r->id, &st, err) < 0)
    return -1;
  const char *status_s = pier_state_status (r->root, st);
  if (strcmp (status_s, "stopped") == 0)
    {
      pier_error_makex (err, EINVAL, "cannot exec in container `%s`: it is stopped", r->id);
      goto out;
    }
  if (strcmp (status_s, "paused") == 0 && !r->ignore_paused)
    {
      pier_error_makex (err, EINVAL, "cannot exec in container `%s`: it is paused", r->id);
      goto out;
    }
  if (st->config && pier_spec_parse (st->config, st->bundle, &c.spec, err) < 0)
    goto out;
  if (r->process->args == NULL || r->process->args[0] == NULL)
    {
      pier_error_makex (err, EINVAL, "exec: no command given");
      goto out;
    }
  if (r->process->terminal && r->console_socket == NULL && c.console < 0)
    {
      pier_error_makex (err, EINVAL, "exec with a terminal needs --console-socket");
      goto out;
    }
  pier_caps_clamp_to_host (r->process);
  c.listener = -1;
  if (c.spec && c.spec->seccomp
      && pier_seccomp_compile_cached (c.spec->seccomp, r->seccomp_cache, &c.sc, err) < 0)
    goto out;
  if (c.sc && pier_seccomp_listener (c.sc))
    {
      json_t *sj = pier_state_to_json (st, status_s);
      c.state_json = json_dumps (sj, JSON_COMPACT);
      json_decref (sj);
      c.listener = pier_unix_connect (pier_seccomp_listener (c.sc), "seccomp listener", err);
      if (c.listener < 0)
        goto out;
    }
  /* Join every namespace the init has that we do not share; user first
   * (table order), mount last but time. */
  for (int t = 0; t < PIER_NS_COUNT; t++)
    {
      if (same_ns (st->pid, pier_ns_table[t].proc_name))
        continue;
      char p[64];
      snprintf (p, sizeof p, "/proc/%d/ns/%s", (int) st->pid, pier_ns_table[t].proc_name);
      c.nsfds[t] = open (p, O_RDONLY | O_CLOEXEC);
      if (c.nsfds[t] < 0 && t == PIER_NS_TIME)
        continue;
      if (c.nsfds[t] < 0)
        {
          pier_error_make (err, errno, "cannot open the container's %s namespace", pier_ns_table[t].oci_name);
          goto out;
        }
    }
  if (pier_proc_start_time (st->pid) != st->start_time)
    {
      pier_error_makex (err, ESRCH, "cannot exec in container `%s`: it stopped", r->id);
      goto out;
    }
  if (r->console_socket && c.console < 0)
    {
      c.console = pier_console_connect (r->console_socket, err);
      if (c.console < 0)
        goto out;
    }
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
    {
      pier_error_make (err, errno, "socketpair");
      goto out;
    }
  c.sync = sp[1];
  if (st->cgroup_path && *st->cgroup_path)
    {
      cg.path = st->cgroup_path;
      pier_cgroup_join_open (&cg, &join);
      c.join = &join;
    }
  stage1 = fork ();
  if (stage1 < 0)
    {
      pier_error_make (err, errno, "fork");
      goto out;
    }
  if (stage1 == 0)
    {
      close (sp[0]);
      exec_stage1 (&c);
    }
  close (sp[1]);
  sp[1] = -1;
  if (pier_sync_expect (sp[0], PIER_SYNC_CGROUP, &m, err) < 0)
    goto out;
  /* What stage1 could not do itself: the v1 cgroups, and the v2 one for
   * a process that joins a user namespace (which may not clone into a
   * cgroup it does not own). */
  bool v2_here = join.v2 >= 0 && c.nsfds[PIER_NS_USER] >= 0;
  if (cg.path && pier_cgroup_enter_some (&cg, stage1, m.value == 0, v2_here, err) < 0)
    goto out;
  if (pier_sync_send (sp[0], PIER_SYNC_GO, v2_here, NULL, err) < 0
      || pier_sync_expect (sp[0], PIER_SYNC_PID, &m, err) < 0)
    goto out;
  e = (pid_t) m.value;
  waitpid (stage1, NULL, 0);
  stage1 = -1;
  bool move_v2 = strcmp (m.text, "move-v2") == 0;
  if (move_v2 && pier_cgroup_enter_some (&cg, e, false, true, err) < 0)
    goto out;
  if ((c.listener >= 0 || move_v2) && pier_sync_send (sp[0], PIER_SYNC_GO, e, NULL, err) < 0)
    goto out;
  /* EOF means the exec succeeded (the socket is close-on-exec). */
  ssize_t n = TEMP_FAILURE_RETRY_INT (recv (sp[0], &m, sizeof m, 0));
  if (n > 0 && m.type == PIER_SYNC_ERROR)
    {
      m.text[sizeof m.text - 1] = '\0';
      pier_error_set (err, (int) m.value, m.text);
      waitpid (e, NULL, 0);
      e = -1;
      goto out;
    }
  if (r->pid_file && pier_write_pid_file (r->pid_file, e, err) < 0)
    goto out;
  *out_pid = e;
  if (!r->detach)
    {
      int ws = 0;
      pier_forward_signals (e);
      while (waitpid (e, &ws, 0) < 0 && errno == EINTR)
        ;
      pier_forward_signals (-1);
      *status = WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + WTERMSIG (ws);
    }
  e = -1;
  rc = 0;
out:
  if (stage1 > 0)
    {
      kill (stage1, SIGKILL);
      waitpid (stage1, NULL, 0);
    }
  /* A process that never got its GO (its cgroup move failed): not left
   * waiting, nor as our zombie. */
  if (e > 0)
    {
      kill (e, SIGKILL);
      waitpid (e, NULL, 0);
    }
  for (int t = 0; t < PIER_NS_COUNT; t++)
    if (c.nsfds[t] >= 0)
      close (c.nsfds[t]);
  if (sp[0] >= 0)
    close (sp[0]);
  if (sp[1] >= 0)
    close (sp[1]);
  if (c.console >= 0 && c.console != r->console_fd)
    close (c.console);
  if (c.listener >= 0)
    close (c.listener);
  pier_cgroup_join_close (&join);
  free (c.state_json);
  pier_seccomp_free (c.sc);
  pier_spec_free (c.spec);
  pier_state_free (st);
  return rc;
}
