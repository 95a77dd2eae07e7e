/* replay — a fuzz target without libFuzzer: runs every file of the
 * directories (or files) given on the command line through
 * LLVMFuzzerTestOneInput, in name order. ctest runs it over
 * fuzz/corpus/<target>/ and fuzz/regressions/<target>/, so every build
 * (the normal one, the sanitizer one) replays the seeds and every crash
 * reproducer ever found. A directory that does not exist is skipped;
 * files whose name starts with '.' (.gitkeep) are ignored. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int s_run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return -1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf)
      break;
    if (len == cap) {
      uint8_t *grown = realloc(buf, 2 * cap);
      if (!grown) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = grown;
      cap *= 2;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    if (n == 0)
      break;
    len += n;
  }
  fclose(f);
  if (!buf) {
    fprintf(stderr, "replay: out of memory reading %s\n", path);
    return -1;
  }
  /* An exact-size copy, so ASan sees a read past the input. */
  uint8_t *exact = malloc(len ? len : 1);
  if (!exact) {
    free(buf);
    return -1;
  }
  memcpy(exact, buf, len);
  free(buf);
  fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int s_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  size_t ran = 0;
  int failed = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0)
      continue;
    if (!S_ISDIR(st.st_mode)) {
      failed |= s_run_file(argv[i]) != 0;
      ran++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (!d)
      continue;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        char **grown = realloc(names, cap * sizeof *names);
        if (!grown)
          abort();
        names = grown;
      }
      size_t len = strlen(argv[i]) + strlen(e->d_name) + 2;
      names[n] = malloc(len);
      if (!names[n])
        abort();
      snprintf(names[n], len, "%s/%s", argv[i], e->d_name);
      n++;
    }
    closedir(d);
    if (n)
      qsort(names, n, sizeof *names, s_cmp);
    for (size_t j = 0; j < n; j++) {
      if (stat(names[j], &st) == 0 && S_ISREG(st.st_mode)) {
        failed |= s_run_file(names[j]) != 0;
        ran++;
      }
      free(names[j]);
    }
    free(names);
  }
  printf("replay: %zu inputs, none crashed\n", ran);
  return failed ? 1 : 0;
}
