/* bench_measure — clocks, CPU accounting, samples and percentiles of the
 * benchmark drivers; see bench_measure.h. */
#include "bench_measure.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t s_clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bench_now_ns(void) { return s_clock_ns(CLOCK_MONOTONIC); }

int64_t bench_now_us(void) { return s_clock_ns(CLOCK_MONOTONIC) / 1000; }

int64_t bench_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bench_thread_cpu_ns(void) {
  return s_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

void bench_sleep_until(int64_t t_ns) {
  struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000),
                        .tv_nsec = (long)(t_ns % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

void bench_sleep_ms(int ms) {
  bench_sleep_until(bench_now_ns() + (int64_t)ms * 1000000);
}

long long bench_proc_ticks(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long long ut = 0, st = 0;
  /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
   * majflt cmajflt utime stime */
  if (!p || sscanf(p + 1,
                   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                   &ut, &st) != 2)
    return -1;
  return (long long)(ut + st);
}

long long bench_machine_busy_ticks(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f)
    return -1;
  unsigned long long v[8] = {0};
  int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (got < 4)
    return -1;
  /* user nice system idle iowait irq softirq steal: all but idle, iowait */
  return (long long)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
}

void bench_proc_mem(pid_t pid, long *hwm_kib, long *rss_kib) {
  char path[64], line[256];
  *hwm_kib = *rss_kib = -1;
  snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "VmHWM:", 6))
      *hwm_kib = strtol(line + 6, NULL, 10);
    else if (!strncmp(line, "VmRSS:", 6))
      *rss_kib = strtol(line + 6, NULL, 10);
  }
  fclose(f);
}

void bench_cpu_sample(pid_t server, bench_cpu_sample_t *s) {
  s->self_ns = s_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  s->server_ticks = bench_proc_ticks(server);
  s->machine_busy = bench_machine_busy_ticks();
  s->ok = s->server_ticks >= 0 && s->machine_busy >= 0;
}

void bench_window(pid_t server, int64_t warm_end_ns, int64_t measure_end_ns,
                  bench_cpu_sample_t *c0, bench_cpu_sample_t *c1) {
  bench_sleep_until(warm_end_ns);
  bench_cpu_sample(server, c0);
  bench_sleep_until(measure_end_ns);
  bench_cpu_sample(server, c1);
}

int bench_cpu_add(bench_cpu_t *acc, const bench_cpu_sample_t *c0,
                  const bench_cpu_sample_t *c1, int first) {
  long hz = sysconf(_SC_CLK_TCK);
  if (c0->ok && c1->ok && hz > 0 && (first || acc->ok)) {
    acc->server_s +=
        (double)(c1->server_ticks - c0->server_ticks) / (double)hz;
    acc->client_s += (double)(c1->self_ns - c0->self_ns) / 1e9;
    acc->machine_s +=
        (double)(c1->machine_busy - c0->machine_busy) / (double)hz;
    acc->ok = 1;
  } else {
    acc->ok = 0;
  }
  return acc->ok;
}

double bench_cpu_other_load(const bench_cpu_t *acc, double window_s) {
  double other = (acc->machine_s - acc->server_s - acc->client_s) / window_s;
  return other < 0 ? 0 : other;
}

int bench_samples_push(bench_samples_t *s, int64_t x) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 16384;
    int64_t *grown = realloc(s->v, cap * sizeof *grown);
    if (!grown)
      return -1;
    s->v = grown;
    s->cap = cap;
  }
  s->v[s->n++] = x;
  return 0;
}

static int s_cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void bench_sort_i64(int64_t *v, size_t n) {
  if (n > 1)
    qsort(v, n, sizeof *v, s_cmp_i64);
}

double bench_pct(const int64_t *v, size_t n, double p) {
  size_t rank = (size_t)(p * (double)n + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return (double)v[rank - 1];
}

void bench_samples_summary(bench_samples_t *s, double unit,
                           bench_summary_t *out) {
  size_t n = s->n;
  bench_sort_i64(s->v, n);
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += (double)s->v[i];
  out->p50 = bench_pct(s->v, n, 0.50) / unit;
  out->p99 = bench_pct(s->v, n, 0.99) / unit;
  out->mean = sum / (double)n / unit;
  out->max = (double)s->v[n - 1] / unit;
}
