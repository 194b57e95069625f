/* system.c - pier system check | df | prune. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/opt.h"
#include "build/cache.h"
#include "cli/pier.h"
#include "engine/engine.h"
#include "engine/volumes.h"
#include "image/images.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

static int
cmd_check (struct pier_globals *g, int argc, char **argv)
{
  bool repair = false, help = false;
  int i = 1;
  char *msg = NULL;
  pier_opt opts[] = {
    { "repair", OPT_BOOL, &repair, "remove what is incomplete, damaged or orphaned", NULL },
    { "help", OPT_BOOL, &help, "print usage", NULL },
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_opt_parse (opts, argc, argv, &i, &msg) < 0)
    {
      int rc = pier_cli_usage ("system check", msg);
      free (msg);
      return rc;
    }
  if (help)
    {
      pier_opt_usage ("pier system check [--repair]", opts);
      return 0;
    }
  if (i != argc)
    return pier_cli_usage ("system check", "accepts no arguments");
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  cleanup_strv char **report = NULL;
  int problems = 0;
  if (pier_store_check (st, repair, &report, &problems, &err) < 0)
    {
      pier_store_close (st);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  pier_store_close (st);
  for (size_t k = 0; report && report[k]; k++)
    printf ("%s\n", report[k]);
  if (problems == 0)
    printf ("store %s: no problems found\n", g->root);
  else
    printf ("store %s: %d problem%s%s\n", g->root, problems, problems == 1 ? "" : "s",
            repair ? ", repaired" : " (pier system check --repair removes them)");
  return problems && !repair ? PIER_EXIT_ERROR : 0;
}

static int
cmd_df (struct pier_globals *g, int argc, char **argv)
{
  (void) argv;
  if (argc > 1)
    return pier_cli_usage ("system df",
                           "pier system df takes no flags yet (-v and --format are not supported)");
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  pier_db_layer *layers = NULL;
  pier_db_image *imgs = NULL;
  size_t n_layers = 0, n_imgs = 0;
  if (pier_db_list_images (pier_store_db (st), &imgs, &n_imgs, &err) < 0
      || pier_db_layer_list (pier_store_db (st), &layers, &n_layers, &err) < 0)
    {
      pier_store_close (st);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  /* Images share layers: the store holds each once. */
  double total = 0;
  for (size_t k = 0; k < n_layers; k++)
    total += (double) layers[k].size;
  cleanup_free char *size = pier_human_size (total);
  /* Containers: the images they use are active (their layers are not
   * reclaimable); their writable layers count as their size. */
  pier_db_container *cs = NULL;
  size_t n_cs = 0;
  if (pier_db_container_list (pier_store_db (st), &cs, &n_cs, &err) < 0)
    {
      pier_db_images_free (imgs, n_imgs);
      pier_db_layers_free (layers, n_layers);
      pier_store_close (st);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  size_t active_imgs = 0, active_cs = 0;
  double used = 0, cs_size = 0, cs_reclaim = 0;
  char **counted = NULL;
  for (size_t k = 0; k < n_imgs; k++)
    {
      bool in_use = false;
      for (size_t c = 0; c < n_cs && !in_use; c++)
        in_use = strcmp (cs[c].image_id, imgs[k].id) == 0;
      if (!in_use)
        continue;
      active_imgs++;
      for (size_t l = 0; l < imgs[k].n_layers; l++)
        {
          bool seen = false;
          for (size_t j = 0; counted && counted[j] && !seen; j++)
            seen = strcmp (counted[j], imgs[k].layers[l].chain_id) == 0;
          if (seen)
            continue;
          strv_push (&counted, imgs[k].layers[l].chain_id);
          for (size_t j = 0; j < n_layers; j++)
            if (strcmp (layers[j].chain_id, imgs[k].layers[l].chain_id) == 0)
              used += (double) layers[j].size;
        }
    }
  strv_free (counted);
  for (size_t c = 0; c < n_cs; c++)
    {
      cleanup_free char *upper = xasprintf ("%s/containers/%s/upper", g->root, cs[c].id);
      double sz = (double) pier_cli_dir_size (upper);
      bool live = strstr (cs[c].state, "\"Status\":\"running\"")
                  || strstr (cs[c].state, "\"Status\":\"paused\"")
                  || strstr (cs[c].state, "\"Status\":\"restarting\"");
      cs_size += sz;
      if (live)
        active_cs++;
      else
        cs_reclaim += sz;
    }
  pier_db_containers_free (cs, n_cs);
  cleanup_free char *irecl_s = pier_human_size (total - used);
  cleanup_free char *recl
      = total > 0 ? xasprintf ("%s (%d%%)", irecl_s, (int) ((total - used) * 100 / total)) : xstrdup ("0B");
  cleanup_free char *csize = pier_human_size (cs_size);
  cleanup_free char *crecl_s = pier_human_size (cs_reclaim);
  cleanup_free char *crecl
      = cs_size > 0 ? xasprintf ("%s (%d%%)", crecl_s, (int) (cs_reclaim * 100 / cs_size)) : xstrdup ("0B");
  printf ("%-15s %-7s %-7s %-10s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
  printf ("%-15s %-7zu %-7zu %-10s %s\n", "Images", n_imgs, active_imgs, size, recl);
  printf ("%-15s %-7zu %-7zu %-10s %s\n", "Containers", n_cs, active_cs, csize, crecl);
  /* Volumes: in use by a container (running or not) is active; the
   * size of the unused ones is reclaimable. */
  pier_engine *e = pier_engine_new (st, g->runroot);
  json_t *vols = NULL;
  size_t active_vols = 0;
  double vsize = 0, vreclaim = 0;
  if (pier_engine_volume_select (e, NULL, false, false, &vols, &err) < 0)
    {
      pier_engine_free (e);
      pier_db_images_free (imgs, n_imgs);
      pier_db_layers_free (layers, n_layers);
      pier_store_close (st);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  size_t vk;
  json_t *vv;
  json_array_foreach (vols, vk, vv)
  {
    double sz = (double) pier_engine_volume_size (e, json_string_value (json_object_get (vv, "Name")));
    vsize += sz;
    if (json_integer_value (json_object_get (json_object_get (vv, "UsageData"), "RefCount")) > 0)
      active_vols++;
    else
      vreclaim += sz;
  }
  pier_engine_free (e);
  cleanup_free char *vsize_s = pier_human_size (vsize);
  cleanup_free char *vrecl_s = pier_human_size (vreclaim);
  cleanup_free char *vrecl
      = vsize > 0 ? xasprintf ("%s (%d%%)", vrecl_s, (int) (vreclaim * 100 / vsize)) : xstrdup ("0B");
  printf ("%-15s %-7zu %-7zu %-10s %s\n", "Local Volumes", json_array_size (vols), active_vols, vsize_s,
          vrecl);
  json_decref (vols);
  size_t n_cache = 0;
  int64_t cache_size = 0;
  if (pier_build_cache_usage (st, &n_cache, &cache_size, &err) < 0)
    pier_error_free (&err);
  cleanup_free char *bsize = pier_human_size ((double) cache_size);
  printf ("%-15s %-7zu %-7d %-10s %s\n", "Build Cache", n_cache, 0, bsize, bsize);
  pier_db_images_free (imgs, n_imgs);
  pier_db_layers_free (layers, n_layers);
  pier_store_close (st);
  return 0;
}

/* system prune: images as image prune does; with --volumes, then the
 * anonymous volumes no container uses (docker's --volumes). */
/* docker system prune: stopped containers, unused networks, dangling (or,
 * with -a, unused) images, the build cache; anonymous volumes with
 * --volumes. */
static int
system_prune (struct pier_globals *g, int argc, char **argv)
{
  bool all = false, force = false, volumes = false;
  char **filters = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "a|all", OPT_BOOL, &all, "remove all unused images, not just dangling ones", NULL },
    { "f|force", OPT_BOOL, &force, "do not prompt for confirmation", NULL },
    { "filter", OPT_LIST, &filters, "provide filter values (label=, until= for images)", "filter" },
    { "volumes", OPT_BOOL, &volumes, "prune anonymous volumes", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("system prune", "pier system prune [OPTIONS]", opts, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  cleanup_strv char **f = filters;
  if (!force)
    {
      fprintf (
          stderr,
          "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one "
          "container\n%s  - %s\n  - %s\n\nAre you sure you want to continue? [y/N] ",
          volumes ? "  - all anonymous volumes not used by at least one container\n" : "",
          all ? "all images without at least one container associated to them" : "all dangling images",
          all ? "all build cache" : "unused build cache");
      char answer[16] = "";
      if (fgets (answer, sizeof answer, stdin) == NULL || (answer[0] != 'y' && answer[0] != 'Y'))
        return 0;
    }
  if ((rc = pier_cmd_container_prune (g, 2, (char *[]){ "container prune", "-f", NULL })) != 0)
    return rc;
  if ((rc = pier_cmd_network (g, 3, (char *[]){ "network", "prune", "-f", NULL })) != 0)
    return rc;
  if (volumes)
    {
      int64_t reclaimed = 0;
      cleanup_strv char **labels = NULL;
      for (size_t k = 0; f && f[k]; k++)
        if (strncmp (f[k], "label", 5) == 0)
          strv_push (&labels, f[k]);
      if ((rc = pier_cli_prune_volumes (g, labels, &reclaimed)) != 0)
        return rc;
      if (reclaimed > 0)
        {
          cleanup_free char *total = pier_human_size ((double) reclaimed);
          printf ("Total reclaimed space (volumes): %s\n", total);
        }
    }
  cleanup_strv char **args = NULL;
  strv_push (&args, "image prune");
  strv_push (&args, "-f");
  if (all)
    strv_push (&args, "-a");
  for (size_t k = 0; f && f[k]; k++)
    {
      strv_push (&args, "--filter");
      strv_push (&args, f[k]);
    }
  if ((rc = pier_cmd_image_prune (g, (int) strv_len (args), args)) != 0)
    return rc;
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  size_t removed = 0;
  int64_t reclaimed = 0;
  if (pier_build_cache_prune (st, all, -1, 0, &removed, &reclaimed, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else if (removed)
    {
      cleanup_free char *h = pier_human_size ((double) reclaimed);
      printf ("Deleted build cache objects: %zu\nTotal reclaimed space (build cache): %s\n", removed, h);
    }
  pier_store_close (st);
  return rc;
}

int
pier_cmd_system (struct pier_globals *g, int argc, char **argv)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0)
    {
      printf (
          "Usage: pier system COMMAND\n\nCommands:\n"
          "  check     Verify the store (blobs, layers, images); --repair removes what is broken\n"
          "  df        Show disk usage\n  prune     Remove unused data (stopped containers, unused networks, "
          "dangling images, build cache; --volumes, -a)\n"
          "  info      Show where pier keeps its state\n");
      return argc < 2 ? PIER_EXIT_USAGE : 0;
    }
  if (strcmp (argv[1], "check") == 0)
    return cmd_check (g, argc - 1, argv + 1);
  if (strcmp (argv[1], "df") == 0)
    return cmd_df (g, argc - 1, argv + 1);
  if (strcmp (argv[1], "prune") == 0)
    return system_prune (g, argc - 1, argv + 1);
  fprintf (stderr, "pier: 'system %s' is not a pier command.\nSee 'pier system --help'.\n", argv[1]);
  return PIER_EXIT_USAGE;
}
