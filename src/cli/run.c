/* run.c - pier create, run, start and attach: docker's flags turned into
 * docker's ContainerCreate request, and the attached client's stream
 * loop (raw terminal, resize, detach keys, signal proxy). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/opt.h"
#include "cli/pier.h"
#include "engine/engine.h"
#include "engine/network.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/units.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct run_flags
{
  bool detach, interactive, tty, rm, privileged, read_only, oom_kill_disable;
  bool sig_proxy, publish_all;
  const char *name, *workdir, *user, *entrypoint, *hostname, *domainname, *restart, *stop_signal, *shm_size;
  const char *pid, *ipc, *uts, *userns, *memory, *memory_swap, *memory_reservation, *cpus, *cpuset_cpus;
  const char *cpuset_mems, *log_driver, *network, *detach_keys, *platform, *pull, *ip;
  const char *health_cmd, *health_interval, *health_timeout, *health_start_period, *health_start_interval;
  bool no_healthcheck, init;
  long health_retries;
  long stop_timeout, cpu_shares, cpu_quota, cpu_period, pids_limit, blkio_weight;
  char **env, **env_file, **group_add, **label, **ulimit, **tmpfs, **cap_add, **cap_drop, **security_opt;
  char **device, **device_read_bps, **device_write_bps, **sysctl, **log_opt, **attach;
  char **volume, **mount, **volumes_from;
  char **publish, **expose, **network_alias, **dns, **dns_search, **dns_option, **add_host;
  char **uidmap, **gidmap;
};

static void
run_flags_free (struct run_flags *f)
{
  char ***lists[] = { &f->env,           &f->env_file,     &f->group_add,       &f->label,
                      &f->ulimit,        &f->tmpfs,        &f->cap_add,         &f->cap_drop,
                      &f->security_opt,  &f->device,       &f->device_read_bps, &f->device_write_bps,
                      &f->sysctl,        &f->log_opt,      &f->attach,          &f->volume,
                      &f->mount,         &f->volumes_from, &f->publish,         &f->expose,
                      &f->network_alias, &f->dns,          &f->dns_search,      &f->dns_option,
                      &f->add_host,      &f->uidmap,       &f->gidmap };
  for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
    strv_free (*lists[i]);
}

#define RUN_OPTS(f)                                                                                          \
  { "d|detach", OPT_BOOL, &(f)->detach, "run in the background and print the container id", NULL },          \
      { "i|interactive", OPT_BOOL, &(f)->interactive, "keep stdin open", NULL },                             \
      { "t|tty", OPT_BOOL, &(f)->tty, "allocate a pseudo-terminal", NULL },                                  \
      { "rm", OPT_BOOL, &(f)->rm, "remove the container when it exits", NULL },                              \
      { "name", OPT_STRING, &(f)->name, "the container's name", "string" },                                  \
      { "e|env", OPT_LIST, &(f)->env, "set environment variables", "list" },                                 \
      { "env-file", OPT_LIST, &(f)->env_file, "read environment variables from a file", "list" },            \
      { "w|workdir", OPT_STRING, &(f)->workdir, "working directory inside the container", "string" },        \
      { "u|user", OPT_STRING, &(f)->user, "user[:group] to run as", "string" },                              \
      { "group-add", OPT_LIST, &(f)->group_add, "additional groups", "list" },                               \
      { "entrypoint", OPT_STRING, &(f)->entrypoint, "override the image's entrypoint", "string" },           \
      { "h|hostname", OPT_STRING, &(f)->hostname, "the container's host name", "string" },                   \
      { "domainname", OPT_STRING, &(f)->domainname, "the container's NIS domain name", "string" },           \
      { "l|label", OPT_LIST, &(f)->label, "set metadata", "list" },                                          \
      { "restart", OPT_STRING, &(f)->restart, "restart policy (no, on-failure[:N], always, unless-stopped)", \
        "string" },                                                                                          \
      { "stop-signal", OPT_STRING, &(f)->stop_signal, "signal to stop the container", "string" },            \
      { "stop-timeout", OPT_INT, &(f)->stop_timeout, "seconds to wait before killing", "int" },              \
      { "ulimit", OPT_LIST, &(f)->ulimit, "ulimit options", "list" },                                        \
      { "shm-size", OPT_STRING, &(f)->shm_size, "size of /dev/shm", "bytes" },                               \
      { "tmpfs", OPT_LIST, &(f)->tmpfs, "mount a tmpfs directory", "list" },                                 \
      { "v|volume", OPT_LIST, &(f)->volume, "bind mount a volume or host path (src:dst[:opts])", "list" },   \
      { "mount", OPT_LIST, &(f)->mount, "attach a mount (type=volume|bind|tmpfs,...)", "mount" },            \
      { "volumes-from", OPT_LIST, &(f)->volumes_from, "mount the volumes of a container", "list" },          \
      { "privileged", OPT_BOOL, &(f)->privileged, "give extended privileges", NULL },                        \
      { "cap-add", OPT_LIST, &(f)->cap_add, "add Linux capabilities", "list" },                              \
      { "cap-drop", OPT_LIST, &(f)->cap_drop, "drop Linux capabilities", "list" },                           \
      { "security-opt", OPT_LIST, &(f)->security_opt, "security options", "list" },                          \
      { "read-only", OPT_BOOL, &(f)->read_only, "mount the root filesystem read-only", NULL },               \
      { "pid", OPT_STRING, &(f)->pid, "PID namespace (host, container:<name|id>)", "string" },               \
      { "ipc", OPT_STRING, &(f)->ipc, "IPC namespace (host, private, shareable, container:<name|id>)",       \
        "string" },                                                                                          \
      { "uts", OPT_STRING, &(f)->uts, "UTS namespace (host)", "string" },                                    \
      { "userns", OPT_STRING, &(f)->userns, "user namespace (host, auto[:size=N])", "string" },              \
      { "uidmap", OPT_LIST, &(f)->uidmap, "user namespace uid map (container_id:host_id:amount)", "list" },  \
      { "gidmap", OPT_LIST, &(f)->gidmap, "user namespace gid map (container_id:host_id:amount)", "list" },  \
      { "m|memory", OPT_STRING, &(f)->memory, "memory limit", "bytes" },                                     \
      { "memory-swap", OPT_STRING, &(f)->memory_swap, "memory plus swap limit (-1: unlimited)", "bytes" },   \
      { "memory-reservation", OPT_STRING, &(f)->memory_reservation, "memory soft limit", "bytes" },          \
      { "oom-kill-disable", OPT_BOOL, &(f)->oom_kill_disable, "disable the OOM killer", NULL },              \
      { "cpus", OPT_STRING, &(f)->cpus, "number of CPUs", "decimal" },                                       \
      { "c|cpu-shares", OPT_INT, &(f)->cpu_shares, "CPU shares (relative weight)", "int" },                  \
      { "cpuset-cpus", OPT_STRING, &(f)->cpuset_cpus, "CPUs allowed (0-3, 0,1)", "string" },                 \
      { "cpuset-mems", OPT_STRING, &(f)->cpuset_mems, "memory nodes allowed", "string" },                    \
      { "cpu-quota", OPT_INT, &(f)->cpu_quota, "CPU CFS quota", "int" },                                     \
      { "cpu-period", OPT_INT, &(f)->cpu_period, "CPU CFS period", "int" },                                  \
      { "pids-limit", OPT_INT, &(f)->pids_limit, "process limit (-1: unlimited)", "int" },                   \
      { "blkio-weight", OPT_INT, &(f)->blkio_weight, "block IO weight (10-1000)", "int" },                   \
      { "device", OPT_LIST, &(f)->device, "add a host device", "list" },                                     \
      { "device-read-bps", OPT_LIST, &(f)->device_read_bps, "limit read rate from a device", "list" },       \
      { "device-write-bps", OPT_LIST, &(f)->device_write_bps, "limit write rate to a device", "list" },      \
      { "sysctl", OPT_LIST, &(f)->sysctl, "namespaced kernel parameters", "map" },                           \
      { "log-driver", OPT_STRING, &(f)->log_driver, "logging driver (json-file, none)", "string" },          \
      { "log-opt", OPT_LIST, &(f)->log_opt, "log driver options", "list" },                                  \
      { "network|net", OPT_STRING, &(f)->network,                                                            \
        "network (bridge, a network's name, none, host, container:<name|id>)", "string" },                   \
      { "p|publish", OPT_LIST, &(f)->publish, "publish a container's port to the host", "list" },            \
      { "P|publish-all", OPT_BOOL, &(f)->publish_all, "publish all exposed ports to free host ports",        \
        NULL },                                                                                              \
      { "expose", OPT_LIST, &(f)->expose, "expose a port or a range of ports", "list" },                     \
      { "network-alias", OPT_LIST, &(f)->network_alias, "network-scoped alias for the container", "list" },  \
      { "ip", OPT_STRING, &(f)->ip, "IPv4 address on a user-defined network", "string" },                    \
      { "dns", OPT_LIST, &(f)->dns, "custom DNS servers", "list" },                                          \
      { "dns-search", OPT_LIST, &(f)->dns_search, "custom DNS search domains", "list" },                     \
      { "dns-option", OPT_LIST, &(f)->dns_option, "DNS options", "list" },                                   \
      { "add-host", OPT_LIST, &(f)->add_host, "add a custom host-to-IP mapping (host:ip)", "list" },         \
      { "a|attach", OPT_LIST, &(f)->attach, "attach to STDIN, STDOUT or STDERR", "list" },                   \
      { "sig-proxy", OPT_BOOL, &(f)->sig_proxy, "proxy received signals to the process", NULL },             \
      { "detach-keys", OPT_STRING, &(f)->detach_keys, "key sequence for detaching", "string" },              \
      { "platform", OPT_STRING, &(f)->platform, "platform (linux/<this machine's arch> only)", "string" },   \
      { "pull", OPT_STRING, &(f)->pull, "pull image before running (always, missing, never)", "string" },    \
      { "health-cmd", OPT_STRING, &(f)->health_cmd, "command to run to check health", "string" },            \
      { "health-interval", OPT_STRING, &(f)->health_interval, "time between running the check (ms|s|m|h)",   \
        "duration" },                                                                                        \
      { "health-timeout", OPT_STRING, &(f)->health_timeout, "maximum time to allow one check to run",        \
        "duration" },                                                                                        \
      { "health-retries", OPT_INT, &(f)->health_retries, "consecutive failures needed to report unhealthy",  \
        "int" },                                                                                             \
      { "health-start-period", OPT_STRING, &(f)->health_start_period,                                        \
        "start period for the container to initialize before failures count", "duration" },                  \
      { "health-start-interval", OPT_STRING, &(f)->health_start_interval,                                    \
        "time between running the check during the start period", "duration" },                              \
      { "no-healthcheck", OPT_BOOL, &(f)->no_healthcheck, "disable any container-specified HEALTHCHECK",     \
        NULL },                                                                                              \
      { "init", OPT_BOOL, &(f)->init,                                                                        \
        "run an init inside the container that forwards signals and reaps "                                  \
        "processes",                                                                                         \
        NULL },                                                                                              \
      HELP_OPT

static int
bad (const char *verb, const char *fmt, const char *v)
{
  char msg[512];
  snprintf (msg, sizeof msg, fmt, v);
  return pier_cli_usage (verb, msg);
}

json_t *
pier_cli_restart_policy (const char *s)
{
  cleanup_free char *pol = xstrdup (s);
  char *colon = strchr (pol, ':');
  long max = 0;
  if (colon)
    {
      *colon++ = '\0';
      char *end;
      max = strtol (colon, &end, 10);
      if (*end || strcmp (pol, "on-failure") != 0 || max < 0 || max > INT_MAX)
        return NULL;
    }
  return json_pack ("{s:s, s:i}", "Name", pol, "MaximumRetryCount", (int) max);
}
/* "KEY=V" stays; a bare "KEY" takes the value from our environment, or
 * is dropped when unset (docker's rule). */
void
pier_cli_env_push (json_t *env, const char *kv)
{
  if (strchr (kv, '='))
    json_array_append_new (env, json_string (kv));
  else if (getenv (kv))
    {
      cleanup_free char *s = xasprintf ("%s=%s", kv, getenv (kv));
      json_array_append_new (env, json_string (s));
    }
}

int
pier_cli_env_file (const char *verb, const char *path, json_t *env)
{
  cleanup_free char *text = NULL;
  size_t len;
  pier_error *err = NULL;
  if (pier_read_file_at (AT_FDCWD, path, &text, &len, &err) < 0)
    return pier_cli_fail (err, PIER_EXIT_USAGE);
  char *save = NULL;
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      while (isspace ((unsigned char) *line))
        line++;
      size_t l = strlen (line);
      while (l && (line[l - 1] == '\r'))
        line[--l] = '\0';
      if (*line == '\0' || *line == '#')
        continue;
      if (*line == '=')
        return bad (verb, "invalid environment variable: %s", line);
      pier_cli_env_push (env, line);
    }
  return 0;
}

/* -p, -P, --expose, --network-alias, --ip, --dns*, --add-host. */
static int
net_flags (const char *verb, struct run_flags *f, json_t *body, json_t *hc)
{
  json_t *bindings = json_object ();
  json_t *exposed = json_object ();
  json_object_set_new (hc, "PortBindings", bindings);
  json_object_set_new (body, "ExposedPorts", exposed);
  json_object_set_new (hc, "PublishAllPorts", json_boolean (f->publish_all));
  for (size_t k = 0; f->publish && f->publish[k]; k++)
    {
      pier_error *err = NULL;
      if (pier_engine_port_parse (f->publish[k], bindings, exposed, &err) < 0)
        {
          int r = bad (verb, "invalid argument for -p: %s", err->msg);
          pier_error_free (&err);
          return r;
        }
    }
  for (size_t k = 0; f->expose && f->expose[k]; k++)
    {
      cleanup_json json_t *scratch = json_object ();
      pier_error *err = NULL;
      if (strchr (f->expose[k], ':') || pier_engine_port_parse (f->expose[k], scratch, exposed, &err) < 0)
        {
          pier_error_free (&err);
          return bad (verb, "invalid argument for --expose: %s", f->expose[k]);
        }
    }
  json_t *ep = json_object ();
  if (f->network_alias)
    {
      json_t *a = json_array ();
      for (size_t k = 0; f->network_alias[k]; k++)
        json_array_append_new (a, json_string (f->network_alias[k]));
      json_object_set_new (ep, "Aliases", a);
    }
  if (f->ip)
    json_object_set_new (ep, "IPAMConfig", json_pack ("{s:s}", "IPv4Address", f->ip));
  const char *netname = f->network ? f->network : "bridge";
  json_object_set_new (body, "NetworkingConfig", json_pack ("{s:{s:o}}", "EndpointsConfig", netname, ep));
  const struct
  {
    char **v;
    const char *key;
  } lists[] = { { f->dns, "Dns" },
                { f->dns_search, "DnsSearch" },
                { f->dns_option, "DnsOptions" },
                { f->add_host, "ExtraHosts" } };
  for (size_t k = 0; k < sizeof lists / sizeof *lists; k++)
    {
      json_t *a = json_array ();
      json_object_set_new (hc, lists[k].key, a);
      for (size_t j = 0; lists[k].v && lists[k].v[j]; j++)
        {
          const char *v = lists[k].v[j];
          if (strcmp (lists[k].key, "ExtraHosts") == 0)
            {
              const char *colon = strchr (v, ':');
              if (colon == NULL || colon == v || colon[1] == '\0')
                return bad (verb, "invalid argument for --add-host: %s (it should be host:ip)", v);
              unsigned char buf[16];
              if (inet_pton (AF_INET, colon + 1, buf) != 1 && inet_pton (AF_INET6, colon + 1, buf) != 1)
                return bad (verb, "invalid argument for --add-host: %s: invalid IP address", v);
            }
          if (strcmp (lists[k].key, "Dns") == 0)
            {
              unsigned char buf[16];
              if (inet_pton (AF_INET, v, buf) != 1 && inet_pton (AF_INET6, v, buf) != 1)
                return bad (verb, "invalid argument for --dns: %s is not an IP address", v);
            }
          json_array_append_new (a, json_string (v));
        }
    }
  return 0;
}

/* --health-* and --no-healthcheck: docker's Config.Healthcheck (its
 * checks and messages, durations in nanoseconds, unset fields left out
 * so the image's fill them in). */
static int
health_flags (const char *verb, struct run_flags *f, json_t *body)
{
  const struct
  {
    const char *v, *flag, *key;
  } durs[] = { { f->health_interval, "--health-interval", "Interval" },
               { f->health_timeout, "--health-timeout", "Timeout" },
               { f->health_start_period, "--health-start-period", "StartPeriod" },
               { f->health_start_interval, "--health-start-interval", "StartInterval" } };
  int64_t ns[4] = { 0 };
  bool any = f->health_cmd != NULL && *f->health_cmd != '\0';
  for (size_t k = 0; k < 4; k++)
    {
      if (durs[k].v == NULL)
        continue;
      if (pier_time_parse_duration (durs[k].v, &ns[k]) < 0)
        {
          char m[512];
          snprintf (m, sizeof m, "invalid argument \"%s\" for \"%s\" flag: time: invalid duration \"%s\"",
                    durs[k].v, durs[k].flag, durs[k].v);
          return pier_cli_usage (verb, m);
        }
      any |= ns[k] != 0;
    }
  any |= f->health_retries != 0;
  if (f->no_healthcheck)
    {
      if (any)
        return bad (verb, "%s", "--no-healthcheck conflicts with --health-* options");
      json_object_set_new (body, "Healthcheck", json_pack ("{s:[s]}", "Test", "NONE"));
      return 0;
    }
  if (!any)
    return 0;
  for (size_t k = 0; k < 4; k++)
    if (ns[k] < 0)
      {
        char m[128];
        snprintf (m, sizeof m, "%s cannot be negative", durs[k].flag);
        return pier_cli_usage (verb, m);
      }
  if (f->health_retries < 0)
    return bad (verb, "%s", "--health-retries cannot be negative");
  json_t *hc = json_object ();
  json_object_set_new (body, "Healthcheck", hc);
  if (f->health_cmd && *f->health_cmd)
    json_object_set_new (hc, "Test", json_pack ("[s, s]", "CMD-SHELL", f->health_cmd));
  for (size_t k = 0; k < 4; k++)
    if (ns[k])
      json_object_set_new (hc, durs[k].key, json_integer (ns[k]));
  if (f->health_retries)
    json_object_set_new (hc, "Retries", json_integer (f->health_retries));
  return 0;
}

/* The ContainerCreate body for the flags and positional args. */
static int
build_body (const char *verb, struct run_flags *f, int argc, char **argv, json_t **out)
{
  cleanup_json json_t *body = json_object ();
  json_t *hc = json_object ();
  json_object_set_new (body, "HostConfig", hc);
  json_object_set_new (body, "Image", json_string (argv[0]));
  if (f->platform)
    {
#if defined(__x86_64__)
      const char *arch = "linux/amd64";
#elif defined(__aarch64__)
      const char *arch = "linux/arm64";
#elif defined(__i386__)
      const char *arch = "linux/386";
#else
      const char *arch = "linux";
#endif
      if (strcmp (f->platform, arch) != 0 && strcmp (f->platform, "linux") != 0)
        return bad (verb, "platform %s is not supported here (this machine runs images for its own platform)",
                    f->platform);
    }
  if (argc > 1)
    {
      json_t *cmd = json_array ();
      for (int k = 1; k < argc; k++)
        json_array_append_new (cmd, json_string (argv[k]));
      json_object_set_new (body, "Cmd", cmd);
    }
  if (f->entrypoint)
    json_object_set_new (body, "Entrypoint", json_pack ("[s]", f->entrypoint));
  json_t *env = json_array ();
  json_object_set_new (body, "Env", env);
  for (size_t k = 0; f->env_file && f->env_file[k]; k++)
    if (pier_cli_env_file (verb, f->env_file[k], env) != 0)
      return PIER_EXIT_USAGE;
  for (size_t k = 0; f->env && f->env[k]; k++)
    {
      if (f->env[k][0] == '=')
        return bad (verb, "invalid environment variable: %s", f->env[k]);
      pier_cli_env_push (env, f->env[k]);
    }
  if (f->workdir)
    {
      if (f->workdir[0] != '/')
        return bad (verb, "the working directory '%s' is invalid, it needs to be an absolute path",
                    f->workdir);
      json_object_set_new (body, "WorkingDir", json_string (f->workdir));
    }
  if (f->user)
    json_object_set_new (body, "User", json_string (f->user));
  if (f->hostname)
    json_object_set_new (body, "Hostname", json_string (f->hostname));
  if (f->domainname)
    json_object_set_new (body, "Domainname", json_string (f->domainname));
  json_t *labels = json_object ();
  json_object_set_new (body, "Labels", labels);
  for (size_t k = 0; f->label && f->label[k]; k++)
    {
      cleanup_free char *key = xstrdup (f->label[k]);
      char *eq = strchr (key, '=');
      if (eq)
        *eq = '\0';
      if (*key == '\0')
        return bad (verb, "invalid label '%s': empty name", f->label[k]);
      json_object_set_new (labels, key, json_string (eq ? eq + 1 : ""));
    }
  bool in = f->interactive;
  bool a_in = false, a_out = !f->detach, a_err = !f->detach;
  if (f->attach)
    {
      if (f->detach)
        return bad (verb, "%s", "conflicting options: cannot specify both --attach and --detach");
      a_out = a_err = false;
      for (size_t k = 0; f->attach[k]; k++)
        {
          if (strcasecmp (f->attach[k], "stdin") == 0)
            a_in = true;
          else if (strcasecmp (f->attach[k], "stdout") == 0)
            a_out = true;
          else if (strcasecmp (f->attach[k], "stderr") == 0)
            a_err = true;
          else
            return bad (
                verb,
                "invalid argument \"%s\" for \"-a, --attach\": valid streams are STDIN, STDOUT and STDERR",
                f->attach[k]);
        }
    }
  if (in && !f->detach)
    a_in = true;
  json_object_set_new (body, "AttachStdin", json_boolean (a_in));
  json_object_set_new (body, "AttachStdout", json_boolean (a_out));
  json_object_set_new (body, "AttachStderr", json_boolean (a_err));
  json_object_set_new (body, "Tty", json_boolean (f->tty));
  json_object_set_new (body, "OpenStdin", json_boolean (in));
  json_object_set_new (body, "StdinOnce", json_boolean (in && !f->detach));
  if (f->stop_signal)
    {
      if (pier_signal_parse (f->stop_signal) <= 0)
        return bad (verb, "invalid signal: %s", f->stop_signal);
      json_object_set_new (body, "StopSignal", json_string (f->stop_signal));
    }
  if (f->stop_timeout != LONG_MIN)
    json_object_set_new (body, "StopTimeout", json_integer (f->stop_timeout));
  int hrc = health_flags (verb, f, body);
  if (hrc != 0)
    return hrc;

  /* HostConfig */
  json_object_set_new (hc, "AutoRemove", json_boolean (f->rm));
  json_object_set_new (hc, "Privileged", json_boolean (f->privileged));
  json_object_set_new (hc, "ReadonlyRootfs", json_boolean (f->read_only));
  if (f->init)
    json_object_set_new (hc, "Init", json_true ());
  if (f->restart)
    {
      json_t *rp = pier_cli_restart_policy (f->restart);
      if (rp == NULL)
        return bad (verb, "invalid restart policy format: %s", f->restart);
      json_object_set_new (hc, "RestartPolicy", rp);
    }
  static const struct
  {
    size_t off;
    const char *key;
  } lists[] = {
    { offsetof (struct run_flags, cap_add), "CapAdd" },
    { offsetof (struct run_flags, cap_drop), "CapDrop" },
    { offsetof (struct run_flags, security_opt), "SecurityOpt" },
    { offsetof (struct run_flags, group_add), "GroupAdd" },
  };
  for (size_t k = 0; k < sizeof lists / sizeof *lists; k++)
    {
      char **v = *(char ***) ((char *) f + lists[k].off);
      json_t *a = json_array ();
      for (size_t j = 0; v && v[j]; j++)
        json_array_append_new (a, json_string (v[j]));
      json_object_set_new (hc, lists[k].key, a);
    }
  for (size_t j = 0; f->security_opt && f->security_opt[j]; j++)
    {
      const char *o = f->security_opt[j];
      if (strncmp (o, "seccomp", 7) != 0 && strncmp (o, "no-new-privileges", 17) != 0)
        return bad (
            verb,
            "invalid --security-opt: %s (pier supports seccomp=<file|unconfined> and no-new-privileges)", o);
    }
  if (net_flags (verb, f, body, hc) != 0)
    return PIER_EXIT_USAGE;
  const char *const mode_keys[] = { "PidMode", "IpcMode", "UTSMode", "UsernsMode", "NetworkMode" };
  const char *mode_vals[] = { f->pid, f->ipc, f->uts, f->userns, f->network };
  for (size_t k = 0; k < sizeof mode_keys / sizeof *mode_keys; k++)
    if (mode_vals[k])
      json_object_set_new (hc, mode_keys[k], json_string (mode_vals[k]));
  if (f->uidmap || f->gidmap)
    {
      /* podman's IDMappings; the engine checks them. */
      json_t *um = json_array (), *gm = json_array ();
      for (size_t j = 0; f->uidmap && f->uidmap[j]; j++)
        json_array_append_new (um, json_string (f->uidmap[j]));
      for (size_t j = 0; f->gidmap && f->gidmap[j]; j++)
        json_array_append_new (gm, json_string (f->gidmap[j]));
      json_object_set_new (hc, "IDMappings", json_pack ("{s:o, s:o}", "UidMap", um, "GidMap", gm));
    }
  const struct
  {
    const char *v;
    const char *key, *flag;
  } sizes[] = { { f->memory, "Memory", "--memory" },
                { f->memory_swap, "MemorySwap", "--memory-swap" },
                { f->memory_reservation, "MemoryReservation", "--memory-reservation" },
                { f->shm_size, "ShmSize", "--shm-size" } };
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
    {
      if (sizes[k].v == NULL)
        continue;
      int64_t b;
      if (strcmp (sizes[k].v, "-1") == 0 && strcmp (sizes[k].key, "MemorySwap") == 0)
        b = -1;
      else if (pier_parse_ram (sizes[k].v, &b) < 0 || b < 0)
        {
          char m[256];
          snprintf (m, sizeof m, "invalid argument \"%s\" for \"%s\" flag: invalid size: '%s'", sizes[k].v,
                    sizes[k].flag, sizes[k].v);
          return pier_cli_usage (verb, m);
        }
      json_object_set_new (hc, sizes[k].key, json_integer (b));
    }
  if (f->oom_kill_disable)
    json_object_set_new (hc, "OomKillDisable", json_true ());
  if (f->cpus)
    {
      char *end;
      double c = strtod (f->cpus, &end);
      if (*end || c <= 0)
        return bad (verb, "invalid argument \"%s\" for \"--cpus\" flag: failed to parse as a decimal number",
                    f->cpus);
      json_object_set_new (hc, "NanoCpus", json_integer ((json_int_t) (c * 1e9)));
    }
  if (f->cpu_quota && f->cpus)
    return bad (verb, "%s", "conflicting options: Nano CPUs and CPU Period cannot both be set");
  const struct
  {
    long v;
    const char *key;
  } ints[] = { { f->cpu_shares, "CpuShares" },
               { f->cpu_quota, "CpuQuota" },
               { f->cpu_period, "CpuPeriod" },
               { f->pids_limit, "PidsLimit" },
               { f->blkio_weight, "BlkioWeight" } };
  for (size_t k = 0; k < sizeof ints / sizeof *ints; k++)
    if (ints[k].v)
      json_object_set_new (hc, ints[k].key, json_integer (ints[k].v));
  if (f->blkio_weight && (f->blkio_weight < 10 || f->blkio_weight > 1000))
    return bad (verb, "%s", "range of blkio weight is from 10 to 1000");
  if (f->cpuset_cpus)
    json_object_set_new (hc, "CpusetCpus", json_string (f->cpuset_cpus));
  if (f->cpuset_mems)
    json_object_set_new (hc, "CpusetMems", json_string (f->cpuset_mems));
  json_t *ul = json_array ();
  json_object_set_new (hc, "Ulimits", ul);
  for (size_t k = 0; f->ulimit && f->ulimit[k]; k++)
    {
      cleanup_free char *s = xstrdup (f->ulimit[k]);
      char *eq = strchr (s, '=');
      if (eq == NULL)
        return bad (verb, "invalid ulimit argument: %s", f->ulimit[k]);
      *eq = '\0';
      char *end;
      long long soft = strtoll (eq + 1, &end, 10), hard = soft;
      if (*end == ':')
        hard = strtoll (end + 1, &end, 10);
      if (*end || end == eq + 1)
        return bad (verb, "invalid ulimit argument: %s", f->ulimit[k]);
      if (soft > hard)
        return bad (verb, "ulimit soft limit must be less than or equal to hard limit: %s", f->ulimit[k]);
      json_array_append_new (
          ul, json_pack ("{s:s, s:I, s:I}", "Name", s, "Soft", (json_int_t) soft, "Hard", (json_int_t) hard));
    }
  json_t *tmpfs = json_object ();
  json_object_set_new (hc, "Tmpfs", tmpfs);
  for (size_t k = 0; f->tmpfs && f->tmpfs[k]; k++)
    {
      cleanup_free char *s = xstrdup (f->tmpfs[k]);
      char *colon = strchr (s, ':');
      if (colon)
        *colon++ = '\0';
      if (*s != '/')
        return bad (verb, "invalid mount path for --tmpfs: %s (it must be absolute)", s);
      json_object_set_new (tmpfs, s, json_string (colon ? colon : ""));
    }
  int mrc = pier_cli_mount_flags (verb, f->volume, f->mount, f->volumes_from, body, hc);
  if (mrc != 0)
    return mrc;
  json_t *devs = json_array ();
  json_object_set_new (hc, "Devices", devs);
  for (size_t k = 0; f->device && f->device[k]; k++)
    {
      cleanup_free char *s = xstrdup (f->device[k]);
      char *parts[3] = { s, NULL, NULL };
      for (int j = 1; j < 3; j++)
        {
          char *c = parts[j - 1] ? strchr (parts[j - 1], ':') : NULL;
          if (c)
            *c = '\0', parts[j] = c + 1;
        }
      const char *perm = "rwm", *dst = parts[0];
      if (parts[1] && parts[2])
        dst = parts[1], perm = parts[2];
      else if (parts[1] && strspn (parts[1], "rwm") == strlen (parts[1]) && parts[1][0] != '/')
        perm = parts[1];
      else if (parts[1])
        dst = parts[1];
      json_array_append_new (devs, json_pack ("{s:s, s:s, s:s}", "PathOnHost", parts[0], "PathInContainer",
                                              dst, "CgroupPermissions", perm));
    }
  const struct
  {
    char **v;
    const char *key;
  } bps[] = { { f->device_read_bps, "BlkioDeviceReadBps" }, { f->device_write_bps, "BlkioDeviceWriteBps" } };
  for (size_t k = 0; k < 2; k++)
    {
      json_t *a = json_array ();
      json_object_set_new (hc, bps[k].key, a);
      for (size_t j = 0; bps[k].v && bps[k].v[j]; j++)
        {
          cleanup_free char *s = xstrdup (bps[k].v[j]);
          char *colon = strrchr (s, ':');
          int64_t rate;
          if (colon == NULL || (*colon = '\0', pier_parse_ram (colon + 1, &rate) < 0) || rate < 0)
            return bad (verb, "invalid device rate: %s (use /dev/<device>:<rate>[kmg])", bps[k].v[j]);
          json_array_append_new (a, json_pack ("{s:s, s:I}", "Path", s, "Rate", (json_int_t) rate));
        }
    }
  json_t *sysctls = json_object ();
  json_object_set_new (hc, "Sysctls", sysctls);
  for (size_t k = 0; f->sysctl && f->sysctl[k]; k++)
    {
      cleanup_free char *s = xstrdup (f->sysctl[k]);
      char *eq = strchr (s, '=');
      if (eq == NULL)
        return bad (verb, "invalid argument \"%s\" for \"--sysctl\" flag: must be in key=value format",
                    f->sysctl[k]);
      *eq = '\0';
      json_object_set_new (sysctls, s, json_string (eq + 1));
    }
  json_t *lopts = json_object ();
  for (size_t k = 0; f->log_opt && f->log_opt[k]; k++)
    {
      cleanup_free char *s = xstrdup (f->log_opt[k]);
      char *eq = strchr (s, '=');
      if (eq == NULL)
        {
          json_decref (lopts);
          return bad (verb, "invalid log opt: %s (key=value)", f->log_opt[k]);
        }
      *eq = '\0';
      json_object_set_new (lopts, s, json_string (eq + 1));
    }
  json_object_set_new (
      hc, "LogConfig",
      json_pack ("{s:s, s:o}", "Type", f->log_driver ? f->log_driver : "json-file", "Config", lopts));
  *out = steal_pointer (&body);
  return 0;
}

/* ---------------------------------------------------------------- client */

static struct termios saved_tio;
static bool tio_saved;

static void
restore_terminal (void)
{
  if (tio_saved)
    tcsetattr (0, TCSADRAIN, &saved_tio);
  tio_saved = false;
}

/* Our terminal's size (stdout's, else stdin's) into a; 0 x 0 without one. */
static void
term_size (pier_attach *a)
{
  struct winsize ws;
  if (ioctl (1, TIOCGWINSZ, &ws) == 0 || ioctl (0, TIOCGWINSZ, &ws) == 0)
    a->rows = ws.ws_row, a->cols = ws.ws_col;
}

static void
send_size (int fd)
{
  pier_attach a = { false, false, false, 0, 0 };
  term_size (&a);
  if (a.rows || a.cols)
    {
      uint16_t rc[2] = { a.rows, a.cols };
      pier_msg_send (fd, PIER_MSG_RESIZE, rc, sizeof rc);
    }
}

/* The container name refers to, and whether it has a terminal and an
 * open stdin (start -a/-i and attach stream by them). */
static int
stream_target (pier_engine *e, const char *name, char **id, bool *tty, bool *open_stdin, pier_error **err)
{
  cleanup_json json_t *obj = NULL;
  if (pier_engine_find (e, name, id, err) < 0 || pier_engine_inspect (e, *id, &obj, err) < 0)
    return -1;
  json_t *cfg = json_object_get (obj, "Config");
  *tty = json_is_true (json_object_get (cfg, "Tty"));
  *open_stdin = json_is_true (json_object_get (cfg, "OpenStdin"));
  return 0;
}

/* "ctrl-p,ctrl-q" -> bytes. */
static size_t
parse_detach_keys (const char *spec, char *out, size_t cap)
{
  size_t n = 0;
  cleanup_free char *copy = xstrdup (spec);
  char *save = NULL;
  for (char *k = strtok_r (copy, ",", &save); k && n < cap; k = strtok_r (NULL, ",", &save))
    {
      if (strncmp (k, "ctrl-", 5) == 0 && strlen (k) == 6)
        {
          char c = (char) tolower ((unsigned char) k[5]);
          if (c >= 'a' && c <= 'z')
            out[n++] = (char) (c - 'a' + 1);
          else if (c == '@')
            out[n++] = 0;
          else if (c == '[')
            out[n++] = 27;
          else
            return 0;
        }
      else if (strlen (k) == 1)
        out[n++] = k[0];
      else
        return 0;
    }
  return n;
}

/* While a container runs attached, the CLI keeps no store open (its
 * lock would hold off GC): the engine is opened for each call. */
static int
pier_cli_stream (struct pier_globals *g, const char *id, int fd, bool tty, bool in, bool sig_proxy,
                 const char *detach_keys)
{
  char keys[16];
  size_t nkeys = parse_detach_keys (detach_keys ? detach_keys : "ctrl-p,ctrl-q", keys, sizeof keys);
  size_t matched = 0;
  bool stdin_open = in;
  int code = -1;
  if (detach_keys && nkeys == 0)
    {
      fprintf (stderr, "Error: invalid detach keys: %s\n", detach_keys);
      return PIER_EXIT_USAGE;
    }
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGWINCH);
  if (sig_proxy && !tty)
    for (int s = 1; s < 32; s++)
      if (s != SIGCHLD && s != SIGKILL && s != SIGSTOP && s != SIGWINCH && s != SIGPIPE && s != SIGURG
          && s != SIGTSTP && s != SIGTTIN && s != SIGTTOU && s != SIGCONT)
        sigaddset (&set, s);
  sigprocmask (SIG_BLOCK, &set, NULL);
  int sfd = signalfd (-1, &set, SFD_CLOEXEC);
  if (tty && in && isatty (0))
    {
      struct termios raw;
      if (tcgetattr (0, &saved_tio) == 0)
        {
          tio_saved = true;
          raw = saved_tio;
          cfmakeraw (&raw);
          raw.c_oflag |= OPOST; /* as docker: output processing stays */
          tcsetattr (0, TCSADRAIN, &raw);
          atexit (restore_terminal);
        }
    }
  if (tty)
    send_size (fd);
  char buf[PIER_MSG_MAX + 1];
  for (;;)
    {
      struct pollfd p[3] = { { fd, POLLIN, 0 }, { sfd, POLLIN, 0 }, { stdin_open ? 0 : -1, POLLIN, 0 } };
      if (poll (p, 3, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[1].revents)
        {
          struct signalfd_siginfo si;
          if (read (sfd, &si, sizeof si) == sizeof si)
            {
              if (si.ssi_signo == SIGWINCH)
                {
                  if (tty)
                    send_size (fd);
                }
              else
                {
                  char sig[16];
                  snprintf (sig, sizeof sig, "%u", si.ssi_signo);
                  pier_engine *ke = pier_cli_engine (g);
                  if (ke)
                    {
                      pier_engine_kill (ke, id, sig, NULL);
                      pier_cli_engine_close (ke);
                    }
                }
            }
        }
      if (p[2].revents)
        {
          char ibuf[4096];
          ssize_t n = read (0, ibuf, sizeof ibuf);
          if (n <= 0)
            {
              stdin_open = false;
              pier_msg_send (fd, PIER_MSG_STDIN_EOF, NULL, 0);
            }
          else
            {
              if (tty && nkeys)
                for (ssize_t k = 0; k < n; k++)
                  {
                    matched = ibuf[k] == keys[matched] ? matched + 1 : (ibuf[k] == keys[0] ? 1 : 0);
                    if (matched == nkeys)
                      {
                        restore_terminal ();
                        fprintf (stderr, "\r\nread escape sequence\r\n");
                        close (sfd);
                        return 0;
                      }
                  }
              pier_msg_send (fd, PIER_MSG_STDIN, ibuf, (size_t) n);
            }
        }
      if (p[0].revents)
        {
          ssize_t n = recv (fd, buf, sizeof buf, 0);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            break;
          if (buf[0] == PIER_MSG_STDOUT)
            pier_write_all (1, buf + 1, (size_t) n - 1);
          else if (buf[0] == PIER_MSG_STDERR)
            pier_write_all (2, buf + 1, (size_t) n - 1);
          else if (buf[0] == PIER_MSG_EXIT && n >= 5)
            {
              int32_t c;
              memcpy (&c, buf + 1, 4);
              code = c;
              break;
            }
        }
    }
  restore_terminal ();
  close (sfd);
  sigprocmask (SIG_UNBLOCK, &set, NULL);
  if (code < 0)
    {
      /* The connection ended without an exit report: ask the record. */
      int c = 0;
      pier_error *err = NULL;
      pier_engine *we = pier_cli_engine (g);
      if (we == NULL)
        return PIER_EXIT_USAGE;
      int r = pier_engine_wait (we, id, &c, &err);
      pier_cli_engine_close (we);
      if (r < 0)
        return pier_cli_fail (err, PIER_EXIT_USAGE);
      code = c;
    }
  return code;
}

static int
create_container (struct pier_globals *g, const char *verb, struct run_flags *f, int argc, char **argv,
                  const pier_attach *a, int *monitor, pier_store **st_out, pier_engine **e_out, char **id_out)
{
  cleanup_json json_t *body = NULL;
  int rc = build_body (verb, f, argc, argv, &body);
  if (rc != 0)
    return rc;
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_USAGE;
  if ((rc = pier_cli_pull_for_run (st, argv[0], f->pull, f->platform)) != 0)
    {
      pier_store_close (st);
      return rc;
    }
  pier_engine *e = pier_engine_new (st, g->runroot);
  pier_error *err = NULL;
  cleanup_strv char **warnings = NULL;
  /* `run`: the monitor loads while the container is recorded (without
   * one, the start forks it). */
  if (monitor && pier_engine_prespawn (e, body, a, monitor, NULL) < 0)
    *monitor = -1;
  if (pier_engine_create (e, f->name, body, id_out, &warnings, &err) < 0)
    {
      if (monitor)
        pier_engine_prespawn_cancel (*monitor);
      pier_engine_free (e);
      pier_store_close (st);
      return pier_cli_fail (err, PIER_EXIT_USAGE);
    }
  for (size_t k = 0; warnings && warnings[k]; k++)
    fprintf (stderr, "WARNING: %s\n", warnings[k]);
  *st_out = st;
  *e_out = e;
  return 0;
}

static void
init_flags (struct run_flags *f)
{
  memset (f, 0, sizeof *f);
  f->stop_timeout = LONG_MIN;
  f->sig_proxy = true;
}

int
pier_cmd_create (struct pier_globals *g, int argc, char **argv)
{
  struct run_flags f;
  init_flags (&f);
  int i = 1, rc = 0;
  pier_opt opts[] = { RUN_OPTS (&f), { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("create", "pier create [OPTIONS] IMAGE [COMMAND] [ARG...]", opts, argc, argv, &i, 1, -1,
                      &rc)
      < 0)
    {
      run_flags_free (&f);
      return rc;
    }
  pier_store *st = NULL;
  pier_engine *e = NULL;
  cleanup_free char *id = NULL;
  rc = create_container (g, "create", &f, argc - i, argv + i, NULL, NULL, &st, &e, &id);
  if (rc == 0)
    printf ("%s\n", id);
  pier_engine_free (e);
  pier_store_close (st);
  run_flags_free (&f);
  return rc;
}

int
pier_cmd_run (struct pier_globals *g, int argc, char **argv)
{
  struct run_flags f;
  init_flags (&f);
  int i = 1, rc = 0;
  pier_opt opts[] = { RUN_OPTS (&f), { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("run", "pier run [OPTIONS] IMAGE [COMMAND] [ARG...]", opts, argc, argv, &i, 1, -1, &rc)
      < 0)
    {
      run_flags_free (&f);
      return rc;
    }
  pier_store *st = NULL;
  pier_engine *e = NULL;
  cleanup_free char *id = NULL;
  pier_error *err = NULL;
  int code = 125, client = -1, monitor = -1;
  bool attach_in = f.interactive && !f.detach;
  bool attach_out = !f.detach, attach_err = !f.detach;
  if (f.attach)
    {
      attach_in = attach_out = attach_err = false;
      for (size_t k = 0; f.attach[k]; k++)
        {
          attach_in |= strcasecmp (f.attach[k], "stdin") == 0;
          attach_out |= strcasecmp (f.attach[k], "stdout") == 0;
          attach_err |= strcasecmp (f.attach[k], "stderr") == 0;
        }
    }
  pier_attach a = { attach_in, attach_out, attach_err, 0, 0 };
  if (f.tty)
    term_size (&a);
  rc = create_container (g, "run", &f, argc - i, argv + i, &a, &monitor, &st, &e, &id);
  if (rc != 0)
    {
      run_flags_free (&f);
      return rc;
    }
  if (pier_engine_start_prespawned (e, id, monitor, &a, f.detach ? NULL : &client, &code, &err) < 0)
    {
      rc = pier_cli_fail (err, code);
      goto out;
    }
  if (f.detach)
    {
      printf ("%s\n", id);
      rc = 0;
      goto out;
    }
  /* No store stays open while the container runs: a long `run` must not
   * hold the store's lock. */
  pier_engine_free (e);
  pier_store_close (st);
  e = NULL;
  st = NULL;
  rc = pier_cli_stream (g, id, client, f.tty, attach_in, f.sig_proxy, f.detach_keys);
  close (client);
out:
  pier_engine_free (e);
  pier_store_close (st);
  run_flags_free (&f);
  return rc;
}

int
pier_cmd_start (struct pier_globals *g, int argc, char **argv)
{
  bool attach = false, interactive = false;
  const char *detach_keys = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "a|attach", OPT_BOOL, &attach, "attach STDOUT/STDERR and forward signals", NULL },
    { "i|interactive", OPT_BOOL, &interactive, "attach the container's STDIN", NULL },
    { "detach-keys", OPT_STRING, &detach_keys, "key sequence for detaching", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("start", "pier start [OPTIONS] CONTAINER [CONTAINER...]", opts, argc, argv, &i, 1, -1,
                      &rc)
      < 0)
    return rc;
  if ((attach || interactive) && argc - i > 1)
    return pier_cli_usage ("start", "you cannot start and attach multiple containers at once");
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  pier_engine *e = pier_engine_new (st, g->runroot);
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      cleanup_free char *id = NULL;
      int code = PIER_EXIT_ERROR, client = -1;
      bool tty, open_stdin;
      if (stream_target (e, argv[i], &id, &tty, &open_stdin, &err) < 0)
        {
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          continue;
        }
      bool in = interactive && open_stdin;
      pier_attach a = { in, attach || interactive, attach || interactive, 0, 0 };
      if (tty)
        term_size (&a);
      if (pier_engine_start (e, id, &a, attach || interactive ? &client : NULL, &code, &err) < 0)
        {
          rc = pier_cli_fail (err, attach || interactive ? code : PIER_EXIT_ERROR);
          continue;
        }
      if (attach || interactive)
        {
          /* One container only: no store stays open while it runs. */
          pier_engine_free (e);
          pier_store_close (st);
          rc = pier_cli_stream (g, id, client, tty, in, !tty, detach_keys);
          close (client);
          return rc;
        }
      else
        printf ("%s\n", argv[i]);
    }
  pier_engine_free (e);
  pier_store_close (st);
  return rc;
}

int
pier_cmd_attach (struct pier_globals *g, int argc, char **argv)
{
  bool no_stdin = false, sig_proxy = true;
  const char *detach_keys = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "no-stdin", OPT_BOOL, &no_stdin, "do not attach STDIN", NULL },
    { "sig-proxy", OPT_BOOL, &sig_proxy, "proxy received signals to the process", NULL },
    { "detach-keys", OPT_STRING, &detach_keys, "key sequence for detaching", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("attach", "pier attach [OPTIONS] CONTAINER", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  pier_engine *e = pier_engine_new (st, g->runroot);
  pier_error *err = NULL;
  cleanup_free char *id = NULL;
  int client = -1;
  bool tty, open_stdin;
  if (stream_target (e, argv[i], &id, &tty, &open_stdin, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else
    {
      bool in = !no_stdin && open_stdin;
      pier_attach a = { in, true, true, 0, 0 };
      if (pier_engine_attach (e, id, &a, &client, &err) < 0)
        rc = pier_cli_fail (err, PIER_EXIT_ERROR);
      else
        {
          pier_engine_free (e);
          pier_store_close (st);
          rc = pier_cli_stream (g, id, client, tty, in, sig_proxy && !tty, detach_keys);
          close (client);
          return rc;
        }
    }
  pier_engine_free (e);
  pier_store_close (st);
  return rc;
}
