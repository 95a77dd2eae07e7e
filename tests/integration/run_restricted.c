/* run_restricted — runs a program under the seccomp restrictions of a
 * systemd unit file, as systemd would, for tests where systemd is not PID 1
 * (issue 8, item 7: etc/ketend.service must start ketend).
 *
 *   run_restricted --unit FILE [--drop-family AF_X]... [--syscall-filter]
 *                  [--memory-deny-write-execute] -- PROGRAM [ARG...]
 *
 * RestrictAddressFamilies= (always): every such line of FILE is read
 * (systemd's rules: an allow list, or a deny list after "~"; an empty
 * assignment resets), --drop-family removes a family from the allow list
 * (the negative control), and socket() with any other family fails with
 * EAFNOSUPPORT, as under systemd (socketpair() is not restricted, as under
 * systemd).
 *
 * --syscall-filter: the SystemCallFilter= lines (an allow list first, then
 * "~" deny lists), their @groups expanded with `systemd-analyze
 * syscall-filter` of this host's systemd, and SystemCallErrorNumber=: any
 * other system call fails with that errno (EPERM by default here).
 *
 * --memory-deny-write-execute: MemoryDenyWriteExecute=yes as systemd does
 * it: mmap() of memory both writable and executable, and mprotect() /
 * pkey_mprotect() to executable, fail with EPERM.
 *
 * No new privileges (NoNewPrivileges=yes, and a seccomp filter needs it).
 * Prints what it applies on stderr; exits 125 on a usage or filter error,
 * 127 if PROGRAM cannot be run. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef AF_MAX
#define AF_MAX 64
#endif

static const struct {
  const char *name;
  int af;
} s_families[] = {
    {"AF_UNIX", AF_UNIX},       {"AF_LOCAL", AF_LOCAL},
    {"AF_INET", AF_INET},       {"AF_INET6", AF_INET6},
    {"AF_NETLINK", AF_NETLINK}, {"AF_PACKET", AF_PACKET},
    {"AF_BLUETOOTH", AF_BLUETOOTH}, {"AF_ALG", AF_ALG},
    {"AF_VSOCK", AF_VSOCK},     {"AF_CAN", AF_CAN},
    {"AF_KEY", AF_KEY},         {"AF_APPLETALK", AF_APPLETALK},
    {"AF_X25", AF_X25},         {"AF_AX25", AF_AX25},
    {"AF_NETROM", AF_NETROM},   {"AF_BRIDGE", AF_BRIDGE},
    {"AF_IPX", AF_IPX},         {"AF_TIPC", AF_TIPC},
    {"AF_RDS", AF_RDS},         {"AF_XDP", AF_XDP},
};

static int s_family(const char *name) {
  for (size_t i = 0; i < sizeof s_families / sizeof s_families[0]; i++)
    if (strcmp(s_families[i].name, name) == 0)
      return s_families[i].af;
  return -1;
}

#define MAX_NAMES 2048

typedef struct {
  char *names[MAX_NAMES];
  int n;
} names_t;

static int s_has(const names_t *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->names[i], name) == 0)
      return 1;
  return 0;
}

static void s_add(names_t *s, const char *name) {
  if (!s_has(s, name) && s->n < MAX_NAMES)
    s->names[s->n++] = strdup(name);
}

static void s_remove(names_t *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->names[i], name) == 0) {
      free(s->names[i]);
      s->names[i] = s->names[--s->n];
      return;
    }
}

/* The system calls of one name: a @group expanded (recursively) through
 * systemd-analyze, or the name itself. */
static int s_expand(const char *name, names_t *out, int depth) {
  if (name[0] != '@') {
    s_add(out, name);
    return 0;
  }
  if (depth > 8)
    return -1;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "systemd-analyze syscall-filter '%s' 2>/dev/null",
           name);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  char line[256];
  int first = 1, rc = 0, got = 0;
  while (fgets(line, sizeof line, p)) {
    char *s = line;
    while (isspace((unsigned char)*s))
      s++;
    s[strcspn(s, " \t\r\n")] = '\0';
    if (first) { /* the group's own name heads the list */
      first = 0;
      if (strcmp(s, name) == 0)
        continue;
    }
    if (!*s || *s == '#')
      continue;
    got++;
    if (s_expand(s, out, depth + 1) != 0)
      rc = -1;
  }
  if (pclose(p) != 0 || !got)
    rc = -1;
  if (rc)
    fprintf(stderr, "run_restricted: cannot expand %s with systemd-analyze\n",
            name);
  return rc;
}

typedef struct {
  int af_allow[AF_MAX];  /* 1: allowed */
  int af_deny_mode;      /* "~" list: everything but the listed */
  int af_seen;
  names_t sys_allow, sys_deny;
  int sys_seen, sys_allow_mode, sys_errno;
  int mdwe;
} unit_t;

static int s_parse_families(unit_t *u, char *value) {
  if (!*value) { /* reset */
    memset(u->af_allow, 0, sizeof u->af_allow);
    u->af_seen = 0;
    return 0;
  }
  int deny = 0;
  if (*value == '~') {
    deny = 1;
    value++;
  }
  if (!u->af_seen) {
    u->af_deny_mode = deny;
    for (int i = 0; i < AF_MAX; i++)
      u->af_allow[i] = deny;
    u->af_seen = 1;
  }
  for (char *tok = strtok(value, " \t"); tok; tok = strtok(NULL, " \t")) {
    if (strcmp(tok, "none") == 0)
      continue;
    int af = s_family(tok);
    if (af < 0 || af >= AF_MAX) {
      fprintf(stderr, "run_restricted: unknown address family %s\n", tok);
      return -1;
    }
    /* a later line adds to an allow list, or to a deny list */
    u->af_allow[af] = !deny;
  }
  return 0;
}

static int s_parse_syscalls(unit_t *u, char *value) {
  int deny = 0;
  if (*value == '~') {
    deny = 1;
    value++;
  }
  if (!u->sys_seen) {
    u->sys_seen = 1;
    u->sys_allow_mode = !deny;
  }
  for (char *tok = strtok(value, " \t"); tok; tok = strtok(NULL, " \t")) {
    names_t set = {.n = 0};
    if (s_expand(tok, &set, 0) != 0)
      return -1;
    for (int i = 0; i < set.n; i++) {
      if (u->sys_allow_mode) {
        if (deny)
          s_remove(&u->sys_allow, set.names[i]);
        else
          s_add(&u->sys_allow, set.names[i]);
      } else if (deny) {
        s_add(&u->sys_deny, set.names[i]);
      } else {
        s_remove(&u->sys_deny, set.names[i]);
      }
      free(set.names[i]);
    }
  }
  return 0;
}

static int s_read_unit(unit_t *u, const char *path, int want_syscalls) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "run_restricted: cannot read %s: %s\n", path,
            strerror(errno));
    return -1;
  }
  char line[4096];
  int rc = 0;
  u->sys_errno = EPERM;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '#' || line[0] == ';')
      continue;
    char *eq = strchr(line, '=');
    if (!eq)
      continue;
    *eq = '\0';
    char *value = eq + 1;
    if (strcmp(line, "RestrictAddressFamilies") == 0)
      rc = s_parse_families(u, value);
    else if (want_syscalls && strcmp(line, "SystemCallFilter") == 0)
      rc = s_parse_syscalls(u, value);
    else if (strcmp(line, "SystemCallErrorNumber") == 0) {
      if (strcmp(value, "EPERM") == 0)
        u->sys_errno = EPERM;
      else if (strcmp(value, "ENOSYS") == 0)
        u->sys_errno = ENOSYS;
      else if (strcmp(value, "EACCES") == 0)
        u->sys_errno = EACCES;
      else
        rc = -1;
    } else if (strcmp(line, "MemoryDenyWriteExecute") == 0)
      u->mdwe = strcmp(value, "yes") == 0 || strcmp(value, "true") == 0;
  }
  fclose(f);
  if (rc == 0 && !u->af_seen) {
    fprintf(stderr, "run_restricted: %s has no RestrictAddressFamilies=\n",
            path);
    rc = -1;
  }
  return rc;
}

/* socket() with a family outside the allow list: EAFNOSUPPORT. */
static int s_load_families(const unit_t *u) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx)
    return -1;
  int rc = 0;
  fprintf(stderr, "run_restricted: socket() families allowed:");
  for (int af = 0; af < AF_MAX; af++) {
    if (u->af_allow[af]) {
      fprintf(stderr, " %d", af);
      continue;
    }
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT),
                           SCMP_SYS(socket), 1,
                           SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af));
  }
  fprintf(stderr, "\n");
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket),
                         1, SCMP_A0(SCMP_CMP_GE, (scmp_datum_t)AF_MAX));
  if (rc == 0)
    rc = seccomp_load(ctx);
  seccomp_release(ctx);
  return rc;
}

/* MemoryDenyWriteExecute=yes, the rules of systemd's seccomp-util.c. */
static int s_load_mdwe(void) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx)
    return -1;
  const scmp_datum_t wx = PROT_WRITE | PROT_EXEC;
  int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1,
                            SCMP_A2(SCMP_CMP_MASKED_EQ, wx, wx));
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mprotect), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
  rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(pkey_mprotect),
                         1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
  if (rc == 0)
    rc = seccomp_load(ctx);
  seccomp_release(ctx);
  return rc;
}

/* SystemCallFilter=: in allow mode, anything not listed fails with errno;
 * in deny mode, what is listed does. Names this architecture does not have
 * are skipped (as systemd does). */
static int s_load_syscalls(const unit_t *u) {
  int allow = u->sys_allow_mode;
  scmp_filter_ctx ctx = seccomp_init(allow ? SCMP_ACT_ERRNO((uint32_t)u->sys_errno)
                                           : SCMP_ACT_ALLOW);
  if (!ctx)
    return -1;
  const names_t *set = allow ? &u->sys_allow : &u->sys_deny;
  int rc = 0, n = 0;
  for (int i = 0; i < set->n; i++) {
    int nr = seccomp_syscall_resolve_name(set->names[i]);
    if (nr == __NR_SCMP_ERROR || nr < 0)
      continue;
    n++;
    if (seccomp_rule_add(ctx, allow ? SCMP_ACT_ALLOW
                                    : SCMP_ACT_ERRNO((uint32_t)u->sys_errno),
                         nr, 0) != 0)
      rc = -1;
  }
  fprintf(stderr, "run_restricted: system call filter: %d calls %s, errno %d\n",
          n, allow ? "allowed" : "denied", u->sys_errno);
  if (rc == 0)
    rc = seccomp_load(ctx);
  seccomp_release(ctx);
  return rc;
}

static void s_usage(void) {
  fprintf(stderr,
          "usage: run_restricted --unit FILE [--drop-family AF_X]... "
          "[--syscall-filter] [--memory-deny-write-execute] -- PROGRAM "
          "[ARG...]\n");
}

int main(int argc, char **argv) {
  const char *unit_path = NULL;
  const char *drop[8];
  int n_drop = 0, want_syscalls = 0, want_mdwe = 0, i;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (strcmp(argv[i], "--unit") == 0 && i + 1 < argc)
      unit_path = argv[++i];
    else if (strcmp(argv[i], "--drop-family") == 0 && i + 1 < argc &&
             n_drop < 8)
      drop[n_drop++] = argv[++i];
    else if (strcmp(argv[i], "--syscall-filter") == 0)
      want_syscalls = 1;
    else if (strcmp(argv[i], "--memory-deny-write-execute") == 0)
      want_mdwe = 1;
    else {
      s_usage();
      return 125;
    }
  }
  if (!unit_path || i >= argc) {
    s_usage();
    return 125;
  }
  static unit_t u;
  if (s_read_unit(&u, unit_path, want_syscalls) != 0)
    return 125;
  for (int d = 0; d < n_drop; d++) {
    int af = s_family(drop[d]);
    if (af < 0 || af >= AF_MAX) {
      fprintf(stderr, "run_restricted: unknown address family %s\n", drop[d]);
      return 125;
    }
    u.af_allow[af] = 0;
    fprintf(stderr, "run_restricted: %s dropped from the unit's list\n",
            drop[d]);
  }
  if (want_syscalls && !u.sys_seen) {
    fprintf(stderr, "run_restricted: %s has no SystemCallFilter=\n",
            unit_path);
    return 125;
  }
  if (want_mdwe && !u.mdwe) {
    fprintf(stderr, "run_restricted: %s has no MemoryDenyWriteExecute=yes\n",
            unit_path);
    return 125;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || s_load_families(&u) != 0 ||
      (want_mdwe && s_load_mdwe() != 0) ||
      /* last: it may forbid seccomp() itself */
      (want_syscalls && s_load_syscalls(&u) != 0)) {
    fprintf(stderr, "run_restricted: cannot install the seccomp filter\n");
    return 125;
  }
  execv(argv[i], argv + i);
  fprintf(stderr, "run_restricted: cannot run %s: %s\n", argv[i],
          strerror(errno));
  return 127;
}
