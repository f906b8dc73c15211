/*
 * The part of libcap's <sys/capability.h> that bubblewrap uses, so the
 * bundled bwrap builds and links without libcap: the capability type, a
 * name-to-number lookup, and the capget/capset system call wrappers that
 * glibc exports but declares in no header. Written for codex-bwrap.
 */
#ifndef CODEX_BWRAP_SYS_CAPABILITY_H
#define CODEX_BWRAP_SYS_CAPABILITY_H

#include <linux/capability.h>

typedef int cap_value_t;

/* Sets *value to the capability called `name` ("CAP_SYS_ADMIN",
 * "cap_sys_admin", "sys_admin" or a decimal number) and returns 0, or
 * returns -1 when there is no such capability. */
int cap_from_name (const char *name, cap_value_t *value);

int capget (cap_user_header_t header, cap_user_data_t data);
int capset (cap_user_header_t header, const cap_user_data_t data);

#endif
