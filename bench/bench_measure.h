/* bench_measure — what the benchmark drivers measure with: clocks, CPU
 * accounting from /proc over a measurement window, latency samples and
 * their percentiles. Not part of keten; see bench/README.md. */
#ifndef KETEN_BENCH_MEASURE_H
#define KETEN_BENCH_MEASURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- clocks -------------------------------------------------------------- */

/* Monotonic nanoseconds (CLOCK_MONOTONIC), for deadlines and latencies. */
int64_t bench_now_ns(void);

/* The same clock in microseconds. */
int64_t bench_now_us(void);

/* Wall-clock milliseconds since the epoch (CLOCK_REALTIME), for the
 * validity times of entries and consents. */
int64_t bench_wall_ms(void);

/* CPU nanoseconds the calling thread has used (CLOCK_THREAD_CPUTIME_ID). */
int64_t bench_thread_cpu_ns(void);

/* Sleeps until the monotonic time t_ns, through EINTR. */
void bench_sleep_until(int64_t t_ns);

/* Sleeps ms milliseconds (monotonic), through EINTR. */
void bench_sleep_ms(int ms);

/* ---- /proc --------------------------------------------------------------- */

/* utime + stime of process pid in clock ticks (/proc/PID/stat), or -1
 * when it cannot be read. */
long long bench_proc_ticks(pid_t pid);

/* The machine's busy clock ticks over all CPUs (/proc/stat: all but idle
 * and iowait), or -1 when it cannot be read. */
long long bench_machine_busy_ticks(void);

/* VmHWM and VmRSS of pid in KiB (/proc/PID/status); each -1 when
 * unknown. */
void bench_proc_mem(pid_t pid, long *hwm_kib, long *rss_kib);

/* ---- CPU over a measurement window --------------------------------------- */

/* One reading at a window's edge: the server's ticks, the machine's busy
 * ticks and this process's CPU time; ok when both /proc reads worked. */
typedef struct {
  long long server_ticks;
  long long machine_busy;
  int64_t self_ns;
  int ok;
} bench_cpu_sample_t;

/* Takes a reading for the server process at this moment. */
void bench_cpu_sample(pid_t server, bench_cpu_sample_t *s);

/* Sleeps until warm_end_ns and samples the server into *c0, then until
 * measure_end_ns and samples into *c1: the edges of one window. */
void bench_window(pid_t server, int64_t warm_end_ns, int64_t measure_end_ns,
                  bench_cpu_sample_t *c0, bench_cpu_sample_t *c1);

/* CPU seconds inside the windows of one side, summed over its rounds:
 * the server process, this process (the clients) and the whole machine. */
typedef struct {
  double server_s, client_s, machine_s;
  int ok;
} bench_cpu_t;

/* Adds the window c0..c1 to acc when both readings worked and every
 * earlier window was added (first: this is the side's first window);
 * otherwise marks acc unknown. Returns acc->ok. */
int bench_cpu_add(bench_cpu_t *acc, const bench_cpu_sample_t *c0,
                  const bench_cpu_sample_t *c1, int first);

/* The cores other processes kept busy during acc's windows, which lasted
 * window_s seconds in all; never below 0 (tick granularity). */
double bench_cpu_other_load(const bench_cpu_t *acc, double window_s);

/* ---- samples ------------------------------------------------------------- */

/* A growing array of int64_t samples (e.g. latencies in ns). */
typedef struct {
  int64_t *v;
  size_t n, cap;
} bench_samples_t;

/* Appends x, growing the array. Returns 0, or -1 when out of memory (the
 * samples so far stay). */
int bench_samples_push(bench_samples_t *s, int64_t x);

/* Sorts v[n] ascending. */
void bench_sort_i64(int64_t *v, size_t n);

/* Nearest-rank percentile p (0..1) of the sorted v[n] (n > 0), as a
 * double in v's unit. */
double bench_pct(const int64_t *v, size_t n, double p);

/* Figures of a sample set, each divided by unit (1e3: ns to us). */
typedef struct {
  double p50, p99, mean, max;
} bench_summary_t;

/* Sorts s (n > 0) and fills out with its p50 and p99 (nearest rank), mean
 * and max, each divided by unit. */
void bench_samples_summary(bench_samples_t *s, double unit,
                           bench_summary_t *out);

#endif
