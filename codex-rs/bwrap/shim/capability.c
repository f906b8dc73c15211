/*
 * cap_from_name for the bundled bwrap (see sys/capability.h). Written for
 * codex-bwrap; the names are the kernel's, from <linux/capability.h>.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>

#define CAP_NAME(cap) [cap] = #cap

static const char *const capability_names[] = {
  CAP_NAME (CAP_CHOWN),
  CAP_NAME (CAP_DAC_OVERRIDE),
  CAP_NAME (CAP_DAC_READ_SEARCH),
  CAP_NAME (CAP_FOWNER),
  CAP_NAME (CAP_FSETID),
  CAP_NAME (CAP_KILL),
  CAP_NAME (CAP_SETGID),
  CAP_NAME (CAP_SETUID),
  CAP_NAME (CAP_SETPCAP),
  CAP_NAME (CAP_LINUX_IMMUTABLE),
  CAP_NAME (CAP_NET_BIND_SERVICE),
  CAP_NAME (CAP_NET_BROADCAST),
  CAP_NAME (CAP_NET_ADMIN),
  CAP_NAME (CAP_NET_RAW),
  CAP_NAME (CAP_IPC_LOCK),
  CAP_NAME (CAP_IPC_OWNER),
  CAP_NAME (CAP_SYS_MODULE),
  CAP_NAME (CAP_SYS_RAWIO),
  CAP_NAME (CAP_SYS_CHROOT),
  CAP_NAME (CAP_SYS_PTRACE),
  CAP_NAME (CAP_SYS_PACCT),
  CAP_NAME (CAP_SYS_ADMIN),
  CAP_NAME (CAP_SYS_BOOT),
  CAP_NAME (CAP_SYS_NICE),
  CAP_NAME (CAP_SYS_RESOURCE),
  CAP_NAME (CAP_SYS_TIME),
  CAP_NAME (CAP_SYS_TTY_CONFIG),
  CAP_NAME (CAP_MKNOD),
  CAP_NAME (CAP_LEASE),
  CAP_NAME (CAP_AUDIT_WRITE),
  CAP_NAME (CAP_AUDIT_CONTROL),
  CAP_NAME (CAP_SETFCAP),
  CAP_NAME (CAP_MAC_OVERRIDE),
  CAP_NAME (CAP_MAC_ADMIN),
  CAP_NAME (CAP_SYSLOG),
  CAP_NAME (CAP_WAKE_ALARM),
  CAP_NAME (CAP_BLOCK_SUSPEND),
  CAP_NAME (CAP_AUDIT_READ),
#ifdef CAP_PERFMON
  CAP_NAME (CAP_PERFMON),
#endif
#ifdef CAP_BPF
  CAP_NAME (CAP_BPF),
#endif
#ifdef CAP_CHECKPOINT_RESTORE
  CAP_NAME (CAP_CHECKPOINT_RESTORE),
#endif
};

#define CAPABILITY_COUNT ((int) (sizeof capability_names / sizeof capability_names[0]))

int
cap_from_name (const char *name, cap_value_t *value)
{
  if (name == NULL || *name == '\0')
    return -1;

  if (isdigit ((unsigned char) *name))
    {
      char *end;
      long number = strtol (name, &end, 10);
      if (*end != '\0' || number < 0 || number >= CAPABILITY_COUNT)
        return -1;
      *value = (cap_value_t) number;
      return 0;
    }

  if (strncasecmp (name, "cap_", 4) == 0)
    name += 4;
  for (int cap = 0; cap < CAPABILITY_COUNT; cap++)
    {
      const char *known = capability_names[cap];
      if (known != NULL && strcasecmp (known + 4, name) == 0)
        {
          *value = cap;
          return 0;
        }
    }
  return -1;
}
