/* metrics — counters, the Prometheus text format, the HTTP endpoint. */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "keten.pb-c.h"

/* The loop is healthy when it ran within this long. */
#define METRICS_HEALTH_STALE_MS 5000

static const double s_batch_le[METRICS_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32,
                                                        64, 128, 256};
static const double s_commit_le[METRICS_COMMIT_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

/* ---- counting ----------------------------------------------------------- */

void metrics_request(metrics_t *m, int body_case) {
  m->requests[body_case > 0 && body_case < METRICS_BODIES ? body_case
                                                          : METRICS_BODIES]++;
}

void metrics_error(metrics_t *m, int code) {
  m->errors[code >= 0 && code < METRICS_CODES ? code : METRICS_CODES]++;
}

static void s_observe(metrics_histogram_t *h, const double *le, int n,
                      double v) {
  for (int i = 0; i < n; i++)
    if (v <= le[i])
      h->buckets[i]++;
  h->count++;
  h->sum += v;
}

void metrics_batch(metrics_t *m, unsigned requests) {
  if (requests)
    s_observe(&m->batch_size, s_batch_le, METRICS_BATCH_BUCKETS, requests);
}

void metrics_commit(metrics_t *m, double seconds, int ok) {
  s_observe(&m->commit_seconds, s_commit_le, METRICS_COMMIT_BUCKETS, seconds);
  if (!ok)
    m->commits_failed++;
}

void metrics_free(metrics_t *m) {
  free(m->mailboxes);
  m->mailboxes = NULL;
  m->n_mailboxes = 0;
}

/* ---- rendering ---------------------------------------------------------- */

typedef struct {
  char *buf;
  size_t len, cap;
  int failed;
} sbuf_t;

__attribute__((format(printf, 2, 3))) static void s_put(sbuf_t *s,
                                                        const char *fmt, ...) {
  if (s->failed)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      s->failed = 1;
      return;
    }
    if ((size_t)n < s->cap - s->len) {
      s->len += (size_t)n;
      return;
    }
    size_t cap = s->cap * 2 + (size_t)n;
    char *grown = realloc(s->buf, cap);
    if (!grown) {
      s->failed = 1;
      return;
    }
    s->buf = grown;
    s->cap = cap;
  }
}

static void s_head(sbuf_t *s, const char *name, const char *type,
                   const char *help) {
  s_put(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: the exposition format escapes \, " and newline.
 * Participant ids are printable ASCII already (registry). */
static void s_label(sbuf_t *s, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"')
      s_put(s, "\\%c", *v);
    else if (*v == '\n')
      s_put(s, "\\n");
    else
      s_put(s, "%c", *v);
  }
}

static void s_histogram(sbuf_t *s, const char *name, const char *help,
                        const metrics_histogram_t *h, const double *le,
                        int n) {
  s_head(s, name, "histogram", help);
  for (int i = 0; i < n; i++)
    s_put(s, "%s_bucket{le=\"%g\"} %llu\n", name, le[i],
          (unsigned long long)h->buckets[i]);
  s_put(s, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
        (unsigned long long)h->count, name, h->sum, name,
        (unsigned long long)h->count);
}

static void s_counter(sbuf_t *s, const char *name, const char *type,
                      const char *help, uint64_t v) {
  s_head(s, name, type, help);
  s_put(s, "%s %llu\n", name, (unsigned long long)v);
}

static const char *s_body_name(int body_case) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
      &keten__envelope__descriptor, (unsigned)body_case);
  return f ? f->name : NULL;
}

char *metrics_render(const metrics_t *m, size_t *len) {
  sbuf_t s = {malloc(8192), 0, 8192, 0};
  if (!s.buf)
    return NULL;
  s.buf[0] = '\0';
  s_counter(&s, "keten_connections_opened_total", "counter",
            "Connections whose first frame was admitted.", m->connections_opened);
  s_counter(&s, "keten_connections_closed_total", "counter",
            "Admitted connections the ROUTER reported closed.",
            m->connections_closed);
  s_counter(&s, "keten_connections_open", "gauge",
            "Admitted connections open now.", m->connections_open);
  s_counter(&s, "keten_handshakes_admitted_total", "counter",
            "CURVE handshakes the ZAP handler admitted.", m->handshakes_admitted);
  s_counter(&s, "keten_handshakes_refused_total", "counter",
            "CURVE handshakes the ZAP handler refused (key not in the registry).",
            m->handshakes_refused);
  s_head(&s, "keten_requests_total", "counter",
         "Request frames received, by envelope body (\"invalid\": not decodable "
         "or no body).");
  for (int i = 1; i <= METRICS_BODIES; i++) {
    if (!m->requests[i])
      continue;
    const char *name = i < METRICS_BODIES ? s_body_name(i) : NULL;
    s_put(&s, "keten_requests_total{body=\"%s\"} %llu\n", name ? name : "invalid",
          (unsigned long long)m->requests[i]);
  }
  s_head(&s, "keten_errors_total", "counter",
         "ERROR replies sent, by error code.");
  for (int i = 0; i <= METRICS_CODES; i++) {
    if (!m->errors[i])
      continue;
    s_put(&s, "keten_errors_total{code=\"%s\"} %llu\n",
          i < METRICS_CODES ? envelope_error_name((Keten__ErrorCode)i) : "other",
          (unsigned long long)m->errors[i]);
  }
  s_head(&s, "keten_budget_refusals_total", "counter",
         "Requests refused by a per-participant budget, by budget.");
  for (int k = 0; k < BUDGET_KINDS; k++)
    s_put(&s, "keten_budget_refusals_total{budget=\"%s\"} %llu\n",
          budget_name((budget_kind_t)k),
          (unsigned long long)m->budget_refusals[k]);
  s_counter(&s, "keten_dropped_frames_total", "counter",
            "Reply or delivery frames the transport did not take.",
            m->dropped_frames);
  s_counter(&s, "keten_deliveries_total", "counter",
            "Mailbox entries delivered to subscribers.", m->deliveries);
  s_histogram(&s, "keten_batch_requests", "Requests handled in one batch (one transaction).",
              &m->batch_size, s_batch_le, METRICS_BATCH_BUCKETS);
  s_histogram(&s, "keten_commit_seconds",
              "Time to commit one batch's transaction (fsync included).",
              &m->commit_seconds, s_commit_le, METRICS_COMMIT_BUCKETS);
  s_counter(&s, "keten_commits_failed_total", "counter",
            "Batch commits that failed (the batch was undone).",
            m->commits_failed);
  if (m->audit_known)
    s_counter(&s, "keten_audit_entries", "gauge",
              "Entries in the audit log.", m->audit_entries);
  s_head(&s, "keten_mailbox_depth", "gauge",
         "Mailbox entries after the participant's acknowledged seq "
         "(recomputed every metrics_interval_ms).");
  for (size_t i = 0; i < m->n_mailboxes; i++) {
    s_put(&s, "keten_mailbox_depth{participant=\"");
    s_label(&s, m->mailboxes[i].id);
    s_put(&s, "\"} %llu\n", (unsigned long long)m->mailboxes[i].depth);
  }
  s_head(&s, "keten_mailbox_oldest_unacked_seconds", "gauge",
         "Age of the oldest unacknowledged mailbox entry (0: none).");
  for (size_t i = 0; i < m->n_mailboxes; i++) {
    s_put(&s, "keten_mailbox_oldest_unacked_seconds{participant=\"");
    s_label(&s, m->mailboxes[i].id);
    s_put(&s, "\"} %.3f\n", m->mailboxes[i].oldest_unacked_s);
  }
  if (s.failed) {
    free(s.buf);
    return NULL;
  }
  *len = s.len;
  return s.buf;
}

/* ---- the HTTP server ---------------------------------------------------- */

struct metrics_server {
  struct MHD_Daemon *daemon;
  pthread_mutex_t lock;
  char *text;          /* the last published page */
  size_t len;
  int64_t loop_ms;     /* when the loop last ran (monotonic) */
  int store_ok;
};

static int64_t s_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result s_reply(struct MHD_Connection *c, unsigned status,
                               const char *type, const char *body, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c,
                                const char *url, const char *method,
                                const char *version, const char *upload,
                                size_t *upload_size, void **con_cls) {
  (void)version;
  (void)upload;
  (void)con_cls;
  metrics_server_t *s = cls;
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9);
  if (*upload_size)
    return MHD_NO; /* a GET has no body */
  if (strcmp(url, "/metrics") == 0) {
    pthread_mutex_lock(&s->lock);
    enum MHD_Result ret =
        s->text ? s_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", s->text,
                          s->len)
                : s_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                          "starting\n", 9);
    pthread_mutex_unlock(&s->lock);
    return ret;
  }
  if (strcmp(url, "/health") == 0) {
    pthread_mutex_lock(&s->lock);
    int64_t age = s_mono_ms() - s->loop_ms;
    int store_ok = s->store_ok, started = s->loop_ms > 0;
    pthread_mutex_unlock(&s->lock);
    if (started && age < METRICS_HEALTH_STALE_MS && store_ok)
      return s_reply(c, MHD_HTTP_OK, "text/plain", "ok\n", 3);
    char body[128];
    int n = snprintf(body, sizeof body, "%s\n",
                     !started ? "starting"
                     : age >= METRICS_HEALTH_STALE_MS
                         ? "the event loop has not run for over 5 s"
                         : "the store did not answer");
    return s_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", body,
                   (size_t)n);
  }
  return s_reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
                 "not found: /metrics or /health\n", 31);
}

int metrics_split_endpoint(const char *endpoint, char *host, size_t host_len,
                           int *port) {
  const char *colon = strrchr(endpoint, ':');
  if (!colon || colon == endpoint)
    return -1;
  const char *h = endpoint;
  size_t n = (size_t)(colon - endpoint);
  if (h[0] == '[') {
    if (n < 3 || h[n - 1] != ']')
      return -1;
    h++;
    n -= 2;
  }
  char *end = NULL;
  long p = strtol(colon + 1, &end, 10);
  if (n == 0 || n >= host_len || !end || *end || p < 1 || p > 65535)
    return -1;
  memcpy(host, h, n);
  host[n] = '\0';
  *port = (int)p;
  return 0;
}

/* Resolves endpoint to a numeric address (no DNS: "localhost" is 127.0.0.1). */
static int s_resolve(const char *endpoint, struct sockaddr_storage *ss,
                     socklen_t *sl) {
  char host[128];
  int port;
  if (metrics_split_endpoint(endpoint, host, sizeof host, &port) != 0)
    return -1;
  if (strcmp(host, "localhost") == 0)
    snprintf(host, sizeof host, "127.0.0.1");
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *sl = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *sl = sizeof *v6;
  } else {
    return -1;
  }
  return 0;
}

metrics_server_t *metrics_server_start(const char *endpoint, char *err,
                                       size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t sl;
  if (s_resolve(endpoint, &ss, &sl) != 0) {
    snprintf(err, errlen, "metrics_endpoint '%s' is not HOST:PORT with a "
                          "numeric address", endpoint);
    return NULL;
  }
  metrics_server_t *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&s->lock, NULL);
  uint16_t port = ss.ss_family == AF_INET
                      ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                      : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
  if (ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  /* Few, short connections: a scraper and a health check. */
  s->daemon = MHD_start_daemon(
      flags, port, NULL, NULL, s_handle, s, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_END);
  if (!s->daemon) {
    snprintf(err, errlen, "cannot serve metrics on %s: %s", endpoint,
             strerror(errno ? errno : EADDRINUSE));
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
  }
  return s;
}

void metrics_server_publish(metrics_server_t *s, char *text, size_t len,
                            int64_t loop_mono_ms, int store_ok) {
  pthread_mutex_lock(&s->lock);
  char *old = s->text;
  s->text = text;
  s->len = len;
  s->loop_ms = loop_mono_ms;
  s->store_ok = store_ok;
  pthread_mutex_unlock(&s->lock);
  free(old);
}

void metrics_server_alive(metrics_server_t *s, int64_t loop_mono_ms,
                          int store_ok) {
  pthread_mutex_lock(&s->lock);
  s->loop_ms = loop_mono_ms;
  s->store_ok = store_ok;
  pthread_mutex_unlock(&s->lock);
}

void metrics_server_stop(metrics_server_t **sp) {
  if (!sp || !*sp)
    return;
  metrics_server_t *s = *sp;
  MHD_stop_daemon(s->daemon); /* joins its thread */
  pthread_mutex_destroy(&s->lock);
  free(s->text);
  free(s);
  *sp = NULL;
}

/* ---- the health check client --------------------------------------------- */

int metrics_health_get(const char *endpoint, int timeout_ms, char *body,
                       size_t body_len, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t sl;
  if (body_len)
    body[0] = '\0';
  if (s_resolve(endpoint, &ss, &sl) != 0) {
    snprintf(err, errlen, "'%s' is not HOST:PORT with a numeric address",
             endpoint);
    return -1;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  int64_t deadline = s_mono_ms() + timeout_ms;
  char resp[4096];
  size_t got = 0;
  int status = -1, sent = 0;
  const char req[] = "GET /health HTTP/1.0\r\nHost: ketend\r\n\r\n";
  if (connect(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
    snprintf(err, errlen, "cannot connect to %s: %s", endpoint, strerror(errno));
    close(fd);
    return -1;
  }
  for (;;) {
    int left = (int)(deadline - s_mono_ms());
    if (left <= 0) {
      snprintf(err, errlen, "no answer from %s within %d ms", endpoint,
               timeout_ms);
      break;
    }
    struct pollfd p = {fd, sent ? POLLIN : POLLOUT, 0};
    if (poll(&p, 1, left) <= 0)
      continue;
    if (!sent) {
      int soerr = 0;
      socklen_t el = sizeof soerr;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el);
      if (soerr) {
        snprintf(err, errlen, "cannot connect to %s: %s", endpoint,
                 strerror(soerr));
        break;
      }
      if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        snprintf(err, errlen, "cannot send to %s: %s", endpoint, strerror(errno));
        break;
      }
      sent = 1;
      continue;
    }
    ssize_t n = recv(fd, resp + got, sizeof resp - 1 - got, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      continue;
    if (n > 0)
      got += (size_t)n;
    if (n <= 0 || got == sizeof resp - 1) {
      resp[got] = '\0';
      int code = 0;
      if (sscanf(resp, "HTTP/%*d.%*d %d", &code) == 1) {
        status = code;
        const char *b = strstr(resp, "\r\n\r\n");
        if (b && body_len)
          snprintf(body, body_len, "%s", b + 4);
      } else {
        snprintf(err, errlen, "%s did not answer in HTTP", endpoint);
      }
      break;
    }
  }
  close(fd);
  return status;
}
