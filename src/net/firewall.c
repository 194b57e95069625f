/* firewall.c - pier's nftables table through libnftables (firewall.h). */
#include "net/firewall.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/nft_dl.h"
#include "util/cleanup.h"
#include "util/sbuf.h"
#include "util/xalloc.h"

#include "util/banned.h"

static int
run (const char *script, pier_error **err)
{
  if (pier_nft_dl_open (err) < 0)
    return -1;
  struct nft_ctx *ctx = nft_ctx_new (NFT_CTX_DEFAULT);
  if (ctx == NULL)
    return pier_error_makex (err, ENOMEM, "cannot start libnftables");
  nft_ctx_buffer_output (ctx);
  nft_ctx_buffer_error (ctx);
  int r = nft_run_cmd_from_buffer (ctx, script);
  if (r != 0)
    {
      const char *e = nft_ctx_get_error_buffer (ctx);
      pier_error_makex (err, EIO, "nftables refused pier's rules: %s", e && *e ? e : "unknown error");
      nft_ctx_free (ctx);
      return -1;
    }
  nft_ctx_free (ctx);
  return 0;
}

static bool
any_ip (const char *ip)
{
  return ip == NULL || *ip == '\0' || strcmp (ip, "0.0.0.0") == 0;
}

int
pier_fw_apply (const char *table, const pier_fw_net *nets, size_t n_nets, const pier_fw_port *ports,
               size_t n_ports, pier_error **err)
{
  sbuf b = { 0 };
  cleanup_free char *owner = NULL;
  sbuf_printf (&b, "table ip %s\ndelete table ip %s\ntable ip %s {\n", table, table, table);
  /* maps of published ports */
  const char *sep = "";
  sbuf_printf (&b, "  map ports_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;");
  for (size_t i = 0; i < n_ports; i++)
    if (!any_ip (ports[i].host_ip))
      {
        sbuf_printf (&b, "%s %s . %s . %u : %s . %u", *sep ? "," : " elements = {", ports[i].host_ip,
                     ports[i].proto, ports[i].host_port, ports[i].ctr_ip, ports[i].ctr_port);
        sep = ",";
      }
  sbuf_printf (&b, "%s }\n", *sep ? " }" : "");
  sep = "";
  sbuf_printf (&b, "  map ports_any { type inet_proto . inet_service : ipv4_addr . inet_service;");
  for (size_t i = 0; i < n_ports; i++)
    if (any_ip (ports[i].host_ip))
      {
        sbuf_printf (&b, "%s %s . %u : %s . %u", *sep ? "," : " elements = {", ports[i].proto,
                     ports[i].host_port, ports[i].ctr_ip, ports[i].ctr_port);
        sep = ",";
      }
  sbuf_printf (&b, "%s }\n", *sep ? " }" : "");
  /* sets describing the networks */
  static const char *const sets[] = { "nets", "masq_nets", "same_bridge", "internal_br", "bridges" };
  static const char *const types[]
      = { "ipv4_addr; flags interval", "ipv4_addr; flags interval", "ifname . ifname", "ifname", "ifname" };
  for (size_t s = 0; s < 5; s++)
    {
      sep = "";
      sbuf_printf (&b, "  set %s { type %s;", sets[s], types[s]);
      for (size_t i = 0; i < n_nets; i++)
        {
          if ((s == 1 && nets[i].internal) || (s == 3 && !nets[i].internal))
            continue;
          if (s < 2)
            sbuf_printf (&b, "%s %s", *sep ? "," : " elements = {", nets[i].subnet);
          else if (s == 2)
            sbuf_printf (&b, "%s \"%s\" . \"%s\"", *sep ? "," : " elements = {", nets[i].bridge,
                         nets[i].bridge);
          else /* internal_br, bridges */
            sbuf_printf (&b, "%s \"%s\"", *sep ? "," : " elements = {", nets[i].bridge);
          sep = ",";
        }
      sbuf_printf (&b, "%s }\n", *sep ? " }" : "");
    }
  static const char *const dnat
      = "    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map "
        "@ports_ip\n"
        "    fib daddr type local dnat ip to meta l4proto . th dport map @ports_any\n";
  sbuf_printf (&b,
               "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n%s  }\n"
               "  chain output {\n    type nat hook output priority -100; policy accept;\n%s  }\n"
               "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
               "    ip saddr @masq_nets ip daddr != @nets masquerade\n"
               "    ip saddr 127.0.0.0/8 oifname @bridges masquerade\n"
               "    ct status dnat ip saddr @nets ip daddr @nets masquerade\n  }\n"
               "  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
               "    iifname . oifname @same_bridge accept\n"
               "    iifname @internal_br drop\n    oifname @internal_br drop\n"
               "    ct status dnat accept\n"
               "    iifname @bridges oifname @bridges drop\n  }\n}\n",
               dnat, dnat);
  owner = b.s;
  return run (b.s, err);
}

int
pier_fw_remove (const char *table, pier_error **err)
{
  cleanup_free char *script = xasprintf ("table ip %s\ndelete table ip %s\n", table, table);
  return run (script, err);
}
